"""The chaos driver: what a workload and a fault may ask of a target during a scenario.

A Target only promises phases and probes; chaos needs finer handles (send one event, run a consumer,
restart it, arm a fault point). Each target that supports scenarios provides a driver; a target without
one makes every scenario NOT_APPLICABLE with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pytest_spine.history import History, Operation
from pytest_spine.invariants.registry import EvidenceReader
from pytest_spine.verdicts import Verdict

if TYPE_CHECKING:
    from pytest_spine.scenarios.workloads import WorkloadSpec

# Names a driver may list in ``capabilities``; workloads and fault kinds say which they need.
# ``read_topic`` and ``object_evidence`` read the substrate's truth (what is on a topic, what objects the store
# holds); ``network_faults`` is a Toxiproxy in front of the services (pytest_spine.faults.toxics);
# ``process_faults`` means the consumers are real processes that can be SIGKILLed (pytest_spine.faults.process_kill).
# A driver over a platform the harness did not write (``black_box_driver``) offers what an HTTP client of the gate
# can do: ``gate_client`` (raw bodies, no key, a wrong key), ``concurrent_ingest`` (the same send raced over several
# connections: pytest_spine.faults.send_race), and ``observed_laws`` (it judges the scenario's invariants from its
# own observation of the substrate, since the platform records nothing into the harness's history).
CAPABILITIES = frozenset({"ingest", "consume", "restart_consumer", "decide", "close_run", "fault_points", "gates",
                          "read_topic", "object_evidence", "network_faults", "process_faults", "control_plane",
                          "gate_client", "concurrent_ingest", "observed_laws"})


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


KeyChoice = Literal["own", "none", "wrong"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the gate answered one send: ``kind`` ok (an outcome), fail (certainly not admitted) or info (unknown)."""

    kind: str
    status_code: int | None
    outcome: str | None = None


class GateClientDriver(Protocol):
    """A driver with ``gate_client``: it reaches the gate as an HTTP client and can send what a client can."""

    def send(self, document: Mapping[str, Any] | bytes, *, key: KeyChoice = "own", process: str = "client-1",
             drill: str | None = None) -> SendResult:
        """POST one envelope (or raw bytes), with the harness's key, none, or a wrong one; recorded."""
        ...

    def health(self) -> bool:
        """The gate's health check, recorded (``gate_health``)."""
        ...


class RacingDriver(Protocol):
    """A driver with ``concurrent_ingest``: while ``copies`` > 1 every send leaves as that many concurrent copies."""

    def set_race(self, copies: int) -> None: ...


@runtime_checkable
class ObservingDriver(Protocol):
    """A driver with ``observed_laws`` judges invariants itself, from what it sent, what the gate answered and what
    it then observed on the topics and in the buckets (``pytest_spine.invariants.observed``)."""

    def judge(self, check_ids: Sequence[str], ops: Sequence[Operation], when: str) -> list[Verdict]: ...


@runtime_checkable
class BudgetedDriver(Protocol):
    """A driver whose target bounds what a scenario may send (a black box: ``platform.chaos_budgets``)."""

    def plan_budget(self, spec: WorkloadSpec, params: Mapping[str, Any], scale: float) -> float:
        """The workload scale to run with (at most ``scale``), so the workload fits the budget."""
        ...

    def budget_report(self) -> tuple[Mapping[str, Any], str | None]:
        """The budget applied, as figures, and why the scenario did not fit it (None when it did)."""
        ...
