"""The Target protocol: the only thing that knows how a system is reached.

Gates, invariants and scenarios speak to a Target and read a History and the evidence bundle; they never
import ``reference_impl``. That is what lets one test run in-process, on the local stack and on dev_min.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

PHASE_IDS: tuple[str, ...] = (
    "P(-1)", "P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12",
)
GREEN_PHASES = PHASE_IDS[1:]  # seed 003's Spine Green v0: P0..P11 PASS, then P12 teardown PASS


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a target needs to start one run; nothing secret."""

    platform_run_id: str
    seed: int
    mutant: str | None = None
    allow_destructive: bool = False
    workload_scale: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PhaseOutcome:
    """What a target reports after executing (or, read-only, observing) one phase."""

    phase_id: str
    completed: bool
    error: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    evidence_paths: tuple[str, ...] = ()


@runtime_checkable
class EvidenceSink(Protocol):
    """Where a platform writes its run evidence (write-once). Paths are relative to the run root."""

    def put(self, relpath: str, document: Mapping[str, Any]) -> None: ...

    def get(self, relpath: str) -> Mapping[str, Any] | None: ...

    def list(self) -> list[str]: ...


@runtime_checkable
class Recorder(Protocol):
    """Where a platform appends operations (the History implements it)."""

    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


class Target(Protocol):
    """A system under verification."""

    name: str

    def start(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        """Prepare the run (connect, create the in-process platform, ...). Must not write evidence."""
        ...

    def run_phase(self, phase_id: str) -> PhaseOutcome:
        """Execute (or observe) one phase of the Spine Green v0 phase machine, in canonical order."""
        ...

    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        """Run a named drill (unauthenticated request, second reporter, ...) and return what it observed.

        Raises ``ProbeNotSupported`` when the target cannot run it (the check then reports
        NOT_APPLICABLE with the reason).
        """
        ...

    def not_applicable(self) -> Mapping[str, str]:
        """Criterion ids (``P0-no_forbidden_infra``) that mean nothing on this target, with the reason."""
        ...

    def describe(self) -> Mapping[str, Any]:
        """Non-secret facts about the target for run.json and reports."""
        ...

    def stop(self) -> None:
        """Release everything; must be safe to call twice and after a failed start."""
        ...


class ProbeNotSupported(Exception):
    def __init__(self, target: str, probe: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"target {target!r} cannot run probe {probe!r}: {reason}")


class DrillNotRun(ProbeNotSupported):
    """A drill the target did not run, with the reason (a read-only run, or internals a black box does not
    expose): a check judges without it, or is NOT_APPLICABLE when the drill was all it had."""

    def __init__(self, reason: str) -> None:  # the reason is the whole message, without a target or probe name
        self.reason = reason
        Exception.__init__(self, reason)


class NotObserved(Exception):
    """The target exposes no substrate the harness can read itself (the in-process reference)."""
