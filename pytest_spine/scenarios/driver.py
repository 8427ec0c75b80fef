"""The chaos driver: what a workload and a fault may ask of a target during a scenario.

A Target only promises phases and probes; chaos needs finer handles (send one event, run a consumer,
restart it, arm a fault point). Each target that supports scenarios provides a driver; a target without
one makes every scenario NOT_APPLICABLE with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pytest_spine.history import History
from pytest_spine.invariants.registry import EvidenceReader

# Names a driver may list in ``capabilities``; workloads and fault kinds say which they need.
# ``read_topic`` and ``object_evidence`` read the substrate's truth (what is on a topic, what objects the store
# holds); ``network_faults`` is a Toxiproxy in front of the services (pytest_spine.faults.toxics);
# ``process_faults`` means the consumers are real processes that can be SIGKILLed (pytest_spine.faults.process_kill).
CAPABILITIES = frozenset({"ingest", "consume", "restart_consumer", "decide", "close_run", "fault_points", "gates",
                          "read_topic", "object_evidence", "network_faults", "process_faults"})


class ChaosDriver(Protocol):
    name: str
    capabilities: frozenset[str]
    history: History
    platform_run_id: str

    def envelope(self, event_id: str, *, platform_run_id: str | None = None, event_class: str = "traffic",
                 flow_id: str | None = None, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A well-formed event; ``event_class`` is ``traffic`` or a context kind (``context:<n>``)."""
        ...

    def ingest(self, envelope: Mapping[str, Any], process: str = "client-1") -> str | None:
        """Send one event through the writer boundary, recorded; returns the outcome (None = unknown/refused)."""
        ...

    def consume(self) -> int:
        """Run the downstream consumers over everything available; returns records processed.

        A crash injected in a consumer propagates (the caller restarts it)."""
        ...

    def restart_consumer(self) -> None:
        """Restart the consumers: in-memory positions are lost, they resume from their commits."""
        ...

    def close_run(self, holders: int) -> Mapping[str, Any]:
        """Let ``holders`` reporters race to close the run; returns who wrote and who was refused."""
        ...

    def arm(self, point: str, *, error: str | None = None, delay_s: float | None = None, times: int | None = None,
            match: Mapping[str, Any] | None = None) -> None:
        """Arm a named fault point with an error (by name) or a delay."""
        ...

    def disarm(self, point: str) -> None: ...

    def armed(self) -> list[str]: ...

    def fault_errors(self) -> frozenset[str]:
        """The error names ``arm`` understands."""
        ...

    def gate(self, criterion_id: str) -> tuple[str, str]:
        """Evaluate one gate criterion on the scenario's own run: (PASS | FAIL | UNKNOWN, reason)."""
        ...

    def downstream(self) -> Mapping[str, Any]:
        """What the consumers made durable: ``decision_inputs`` (event ids) and
        ``max_executions_per_action``."""
        ...

    def evidence(self) -> EvidenceReader: ...

    def close(self) -> None: ...


class SubstrateDriver(Protocol):
    """The reads and writes of a driver with ``read_topic`` and ``object_evidence``."""

    def published_event_ids(self, event_class: str = "traffic") -> frozenset[str]: ...

    def write_evidence(self, relpath: str, document: Mapping[str, Any]) -> bool: ...

    def evidence_key(self, relpath: str) -> str: ...

    def evidence_status(self) -> Mapping[str, Any]: ...

    def evidence_objects(self) -> Mapping[str, bytes]: ...
