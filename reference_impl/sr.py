"""Scenario Runner (P5): gates on the oracle checker PASS and stream_view manifests, derives the
deterministic scenario_run_id, takes a write-once lease keyed by the equivalence key, and publishes READY
on the control topic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.canonical import canonical_json, sha256_hex
from reference_impl.errors import LeaseConflict, OracleNotReady
from reference_impl.ports import PreconditionFailed
from reference_impl.runtime import Runtime

PROCESS = "sr"
SCENARIO_ID = "spine_green_v0"


def equivalence_key(config_seed: int, traffic_events: int, outputs: tuple[str, ...]) -> str:
    """What makes two scenario runs 'the same run': canonical JSON, so it hashes identically everywhere."""
    return canonical_json({"scenario_id": SCENARIO_ID, "seed": config_seed, "traffic_events": traffic_events,
                           "outputs": list(outputs)})


def scenario_run_id_for(key: str) -> str:
    return sha256_hex(key)


@dataclass(frozen=True, slots=True)
class SrResult:
    status: str
    scenario_run_id: str
    equivalence_key: str
    gates: Mapping[str, bool]
    lease: Mapping[str, Any]
    ready: Mapping[str, Any]


class ScenarioRunner:
    def __init__(self, runtime: Runtime, *, holder: str | None = None) -> None:
        self.rt = runtime
        self.holder = holder or self.default_holder(runtime.run_id)
        self.oracle_bucket = runtime.bucket("S3_ORACLE_BUCKET", PROCESS)
        self.lease_bucket = runtime.bucket("S3_EVIDENCE_BUCKET", PROCESS)
        cfg = runtime.config
        self.equivalence_key = equivalence_key(cfg.seed, cfg.traffic_events,
                                               runtime.handles.oracle_required_output_ids)
        self.scenario_run_id = scenario_run_id_for(self.equivalence_key)
        if runtime.mutated("scenario_id_from_run"):
            # The drift: the run id leaks into the id, so equivalent runs no longer share it.
            self.scenario_run_id = scenario_run_id_for(f"{self.equivalence_key}|{runtime.run_id}")

    @staticmethod
    def default_holder(platform_run_id: str) -> str:
        """The lease holder SR names for a run (what its teardown may release)."""
        return f"sr:{platform_run_id}"

    def lease_key(self) -> str:
        return self.rt.prefix("SR_LEASE_KEY_PATTERN", PROCESS, lease_id=self.scenario_run_id)

    def acquire_lease(self) -> dict[str, Any]:
        key = self.lease_key()
        body = canonical_json({"holder": self.holder, "equivalence_key": self.equivalence_key,
                               "acquired_at_utc": self.rt.now_iso()}).encode()
        try:
            self.rt.store.put(self.lease_bucket, key, body, if_none_match=True)
        except PreconditionFailed:
            current = json.loads(self.rt.store.get(self.lease_bucket, key))
            if current["holder"] != self.holder:
                if not self.rt.mutated("sr_ignores_lease"):
                    raise LeaseConflict(key, current["holder"], self.holder) from None
                self.rt.store.put(self.lease_bucket, key, body)  # the drift: steal the lease
        return {"key": key, "holder": self.holder, "acquired": True}

    def release_lease(self) -> bool:
        key = self.lease_key()
        if self.rt.store.exists(self.lease_bucket, key):
            current = json.loads(self.rt.store.get(self.lease_bucket, key))
            if current["holder"] == self.holder:
                self.rt.store.delete(self.lease_bucket, key)
        return not self.rt.store.exists(self.lease_bucket, key)

    def gates(self) -> dict[str, bool]:
        checker_key = self.rt.prefix("ORACLE_CHECKER_RESULT_PATTERN", PROCESS)
        checker_pass = False
        if self.rt.mutated("sr_ignores_gates"):
            pass  # the drift: the checker is never consulted, so its PASS is not established
        elif self.rt.store.exists(self.oracle_bucket, checker_key):
            checker_pass = json.loads(self.rt.store.get(self.oracle_bucket, checker_key))["status"] == "PASS"
        manifests = all(
            self.rt.store.exists(self.oracle_bucket, self.manifest_key(o))
            for o in self.rt.handles.oracle_required_output_ids)
        return {"checker_pass": checker_pass, "stream_view_manifests_present": manifests}

    def manifest_key(self, output_id: str) -> str:
        return self.rt.prefix("S3_STREAM_VIEW_MANIFEST_PATTERN", PROCESS, output_id=output_id)

    def run(self) -> SrResult:
        gates = self.gates()
        if not all(gates.values()) and not self.rt.mutated("sr_ignores_gates"):
            raise OracleNotReady(f"SR for run {self.rt.run_id!r}: oracle gates not met {gates}; "
                                 "rerun P3 (or the failed output) until the checker reports PASS")
        lease = self.acquire_lease()
        gates["lease_acquired"] = True
        topic = self.rt.topic("FP_BUS_CONTROL_V1", PROCESS)
        pointers = {} if self.rt.mutated("ready_without_pointers") else {
            o: self.manifest_key(o) for o in self.rt.handles.oracle_required_output_ids}
        published_at = self.rt.now_iso()
        # The ready_wrong_run_id drift stamps READY with the equivalence key instead of the run's id.
        ready_run_id = self.equivalence_key if self.rt.mutated("ready_wrong_run_id") else self.rt.run_id
        # message_type is the platform contract's name for the kind; "type" stays for readers of older runs.
        message = {"message_type": "READY", "type": "READY", "platform_run_id": ready_run_id,
                   "scenario_run_id": self.scenario_run_id,
                   "equivalence_key": self.equivalence_key, "oracle_bucket": self.oracle_bucket,
                   "manifests": pointers, "published_at_utc": published_at}
        partition, offset = self.rt.bus.produce(topic.name, self.rt.run_id, message)
        self.rt.record(PROCESS, "ok", "ready_publish", platform_run_id=ready_run_id,
                       scenario_run_id=self.scenario_run_id, topic=topic.name, partition=partition, offset=offset)
        self.rt.event(PROCESS, "sr.ready_published", "control", scenario_run_id=self.scenario_run_id)
        ready = {"topic": topic.name, "partition": partition, "offset": offset,
                 "scenario_run_id": self.scenario_run_id, "published_at_utc": published_at,
                 "pointers": pointers}
        return SrResult("PASS", self.scenario_run_id, self.equivalence_key, gates, lease, ready)
