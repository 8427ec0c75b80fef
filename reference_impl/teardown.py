"""Teardown (P12): stop every daemon, verify none is left running and no consumer or lease remains,
forget the run's secrets, and check the evidence is still readable; the result is the teardown proof."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reference_impl.daemons import DaemonSupervisor
from reference_impl.runtime import Runtime
from reference_impl.sr import ScenarioRunner

PROCESS = "teardown"


class Teardown:
    def __init__(self, runtime: Runtime, supervisor: DaemonSupervisor, sr: ScenarioRunner | None) -> None:
        self.rt = runtime
        self.supervisor = supervisor
        self.sr = sr

    def run(self, forget_secrets: Callable[[], bool] | None = None) -> dict[str, Any]:
        """``forget_secrets`` removes the demo's secrets and says whether none is left."""
        self.supervisor.stop_all()
        running = self.supervisor.running()
        consumers_absent = all(n == 0 for n in self.supervisor.consumer_groups().values())
        leases_absent = self.sr.release_lease() if self.sr is not None else True
        secrets_absent = forget_secrets() if forget_secrets is not None else True
        evidence_bucket = self.rt.bucket("S3_EVIDENCE_BUCKET", PROCESS)
        evidence_prefix = self.rt.prefix("S3_EVIDENCE_PREFIX_PATTERN", PROCESS)
        if self.rt.mutated("evidence_purged_on_teardown"):
            for key in self.rt.store.list(evidence_bucket, evidence_prefix):
                self.rt.store.delete(evidence_bucket, key)
        # The run's evidence must survive: the bundle is readable and its durable prefix still holds objects.
        evidence_preserved = (self.rt.evidence.get("run.json") is not None
                              and bool(self.rt.store.list(evidence_bucket, evidence_prefix)))
        absent = {"daemons": not running, "consumers": consumers_absent, "leases": leases_absent,
                  "secrets": secrets_absent, "nat_gateways": True, "load_balancers": True}
        status = "COMPLETED" if all(absent.values()) else "INCOMPLETE"
        self.rt.event(PROCESS, "teardown.completed", "operate", status=status)
        return {"destroy_status": status, "confirmed_absent": absent, "running_daemons": running,
                "evidence_preserved": evidence_preserved}
