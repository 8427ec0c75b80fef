"""Per-run state of a ``pytest --spine-env=...`` session: the target, the evidence bundle, the history,
the phase runner and the verdicts. Lives in ``config.stash``; the ``spine`` fixture hands it to tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import Clock, SystemClock
from pytest_spine.errors import EnvironmentFault
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.gates.kpis import OperatorKpis
from pytest_spine.gates.runner import PhaseRunner
from pytest_spine.history import History
from pytest_spine.targets import create_target
from pytest_spine.targets.base import GREEN_PHASES, RunSpec, Target
from pytest_spine.verdicts import Status, Verdict


class TargetStartFailed(EnvironmentFault):
    """The run's target failed to start earlier in this session; the first failure says why."""

HISTORY_PATH = "history/run.jsonl.gz"


@dataclass(frozen=True, slots=True)
class SpineSettings:
    env: str
    evidence_dir: Path
    platform_run_id: str
    seed: int
    mutant: str | None = None
    scenarios: tuple[str, ...] = ()
    dry_run: bool = False
    profile: str = "default"
    soak_seconds: float | None = None
    handles: Path | None = None
    allow_destructive: bool = False
    stack: str = "native"
    worker_id: str | None = None  # set on an xdist worker
    kpis: OperatorKpis | None = None  # --spine-kpis: written to the bundle as operate/kpis.json
    target_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_worker(self) -> bool:
        return self.worker_id is not None


def target_options(settings: SpineSettings) -> dict[str, Any]:
    return {"profile": settings.profile, "handles": str(settings.handles or ""), "stack": settings.stack,
            **settings.target_options}


def preflight(settings: SpineSettings) -> None:
    """The target's checks that need no service (a running stack, a registry that loads), run before anything
    is written, so a missing piece is one clear error instead of a failure per test."""
    check = getattr(create_target(settings.env, **target_options(settings)), "preflight", None)
    if callable(check):
        check()


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The run's release decision (docs/ci.md): Go only when every recorded check passed (or was not applicable),
    no test item failed, the rubric's automatic No-Go conditions did not fire and the run finished. The process
    exit status is non-zero exactly when this is No-Go."""

    go: bool
    reasons: tuple[str, ...]
    rubric_decision: str | None = None

    @property
    def label(self) -> str:
        return "Go" if self.go else "No-Go"

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.label, "reasons": list(self.reasons), "rubric_decision": self.rubric_decision}


def decide_gate(verdicts: Sequence[Verdict], *, failed_items: int, run_problem: str | None,
                rubric_decision: str | None, rubric_no_go: Sequence[str]) -> GateDecision:
    """No-Go when any recorded check is FAIL/BLOCKED/UNKNOWN, a test item failed (a check that crashed before its
    verdict is missing evidence), the rubric fired an automatic No-Go, the run did not finish, or nothing was
    checked at all. NOT_APPLICABLE never blocks: it is reported with its reason."""
    reasons: list[str] = []
    if run_problem:
        reasons.append(run_problem)
    # Failures in their own logic first, then UNKNOWN and BLOCKED knock-ons: the first reasons say what broke.
    failing = sorted((v for v in verdicts if v.status.is_failure), key=lambda v: (-v.status.severity, v.check_id))
    if failing:
        reasons.append(f"{len(failing)} check(s) did not pass: "
                       + "; ".join(f"{v.check_id} {v.status.value}" for v in failing[:12])
                       + (f" (and {len(failing) - 12} more)" if len(failing) > 12 else ""))
    if failed_items:
        reasons.append(f"{failed_items} test item(s) failed or errored")
    reasons.extend(f"rubric automatic No-Go: {condition}" for condition in rubric_no_go)
    passed = sum(v.status is Status.PASS for v in verdicts)
    if not verdicts and not reasons:
        reasons.append("no check recorded a verdict: nothing was verified (missing evidence is FAIL)")
    elif not passed and not reasons:
        reasons.append(f"all {len(verdicts)} checks were not applicable: nothing was judged, so nothing is Go")
    if reasons:
        return GateDecision(False, tuple(reasons), rubric_decision)
    return GateDecision(True, (f"all {passed} checks that ran passed ({len(verdicts) - passed} not applicable)",),
                        rubric_decision)


class SpineSession:
    def __init__(self, settings: SpineSettings, bundle: EvidenceBundle, clock: Clock | None = None) -> None:
        self.settings = settings
        self.bundle = bundle
        self.clock = clock or SystemClock()
        self.seed = settings.seed
        self.run = RunSpec(
            platform_run_id=settings.platform_run_id, seed=settings.seed, mutant=settings.mutant,
            allow_destructive=settings.allow_destructive,
            workload_scale=0.1 if settings.profile == "pr" else 1.0,
            options=target_options(settings),
        )
        self.history = History(self.clock)
        self.verdicts: dict[str, Verdict] = {}
        self.figures: dict[str, Any] = {}
        self.histories: list[dict[str, Any]] = []
        self._target: Target | None = None
        self._target_failure: str | None = None
        self._targets: list[Target] = []
        self._lock = threading.RLock()
        self.runner = PhaseRunner(lambda: self.target, bundle.get, bundle.list, self.history,
                                  settings.platform_run_id)
        self.finished = False
        self.decision: GateDecision | None = None  # set by the controller at session end

    # -- the target --------------------------------------------------------------------------------
    @property
    def target(self) -> Target:
        """The run's main target, started on first use (a dry run never touches it). A target that failed to
        start is not started again by every later test (each would wait out the same timeouts): they get
        TargetStartFailed, naming the first failure."""
        with self._lock:
            if self._target_failure is not None:
                raise TargetStartFailed(f"the {self.settings.env} target did not start, so this was not checked "
                                        f"(not retried): {self._target_failure}")
            if self._target is None:
                try:
                    self._target = self.new_target(self.bundle, self.history)
                except Exception as error:
                    self._target_failure = f"{type(error).__name__}: {error}"
                    raise
            return self._target

    def new_target(self, evidence: Any, recorder: Any, run: RunSpec | None = None) -> Target:
        """A further, independent target (scenarios get a fresh platform each); stopped at session end."""
        target = create_target(self.settings.env, **dict(self.run.options))
        target.start(run or self.run, evidence, recorder)
        self._targets.append(target)
        return target

    def ensure_phases(self, upto: str = "P12") -> None:
        self.runner.ensure(upto)

    def gate_verdict(self, check_id: str) -> Verdict:
        return self.runner.verdict(check_id)

    # -- verdicts ----------------------------------------------------------------------------------
    def record(self, verdict: Verdict) -> Verdict:
        with self._lock:
            self.verdicts[verdict.check_id] = verdict
        return verdict

    def report(self, verdict: Verdict) -> None:
        """Record a verdict and make it the test's outcome: N/A skips with its reason, failures fail."""
        self.record(verdict)
        if verdict.status is Status.PASS:
            return
        if verdict.status is Status.NOT_APPLICABLE:
            pytest.skip(f"NOT_APPLICABLE: {verdict.reason}")
        lines = [f"{verdict.status.value}: {verdict.check_id}: {verdict.reason}"]
        if verdict.evidence:
            lines.append("evidence: " + ", ".join(verdict.evidence))
        for op in verdict.counterexample[:5]:
            lines.append(f"  counterexample: {dict(op)}")
        lines.append(f"replay with: --spine-seed={self.seed}"
                     + (f" --spine-mutant={self.settings.mutant}" if self.settings.mutant else ""))
        pytest.fail("\n".join(lines), pytrace=False)

    def add_figures(self, **figures: Any) -> None:
        with self._lock:
            self.figures.update(figures)

    def store_history(self, relpath: str, history: History) -> dict[str, Any]:
        stored = self.bundle.put_history(relpath, history.operations())
        with self._lock:
            self.histories.append(stored)
        return stored

    # -- closing -----------------------------------------------------------------------------------
    def finish(self, *, interrupted: bool, exit_status: int | None, on_error: Callable[[str], None],
               status_extra: Mapping[str, Any] | None = None) -> None:
        """Write what the run knows, then (controller only) seal. Every step is attempted even if one fails."""
        if self.finished:
            return
        self.finished = True
        for target in reversed(self._targets):
            _attempt(target.stop, "stopping the target", on_error)
        prefix = f"parts/{self.settings.worker_id}/" if self.settings.is_worker else ""
        _attempt(lambda: self.store_history(f"{prefix}{HISTORY_PATH}", self.history), "storing the history",
                 on_error)
        verdicts = [v.to_json() for v in self.verdicts.values()]
        summary: dict[str, int] = {}
        for v in self.verdicts.values():
            summary[v.status.value] = summary.get(v.status.value, 0) + 1
        _attempt(lambda: self.bundle.put(f"{prefix}verdicts.json", {"verdicts": verdicts, "summary": summary}),
                 "writing verdicts.json", on_error)
        _attempt(lambda: self.bundle.put(f"{prefix}figures.json", {"figures": self.figures}),
                 "writing figures.json", on_error)
        if self.histories:
            _attempt(lambda: self.bundle.put(f"{prefix}histories.json", {"histories": self.histories}),
                     "writing histories.json", on_error)
        if self.settings.is_worker:
            return
        status = "incomplete" if interrupted else "complete"
        reason = "the run was interrupted before it finished" if interrupted else "the run finished"
        _attempt(lambda: self.bundle.seal(status, reason, {
            "exit_status": exit_status, "target": self.settings.env, "verdict_counts": summary,
            "spine_green": self.spine_green(), **(status_extra or {}),
        }), "sealing the bundle", on_error)

    def spine_green(self) -> bool:
        return not self.not_green_because()

    def not_green_because(self) -> str:
        """Why this run is not Spine Green v0 (seed 003: P0..P11 PASS, then P12 teardown PASS); "" when it is.
        A phase with no verdict (deselected, or never reached) is missing evidence, never a pass."""
        gates = {**self.runner.verdicts, **self.verdicts}
        failed = sorted({v.check_id for v in gates.values() if v.kind == "gate" and v.status.is_failure})
        if failed:
            return f"failed: {', '.join(failed[:5])}" + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        missing = [p for p in GREEN_PHASES if not any(c.startswith(f"{p}-") for c, v in gates.items()
                                                      if v.kind == "gate")]
        if missing:
            return f"no verdict for {', '.join(missing)} (not run in this selection: missing evidence is not green)"
        return ""


def _attempt(step: Callable[[], Any], what: str, on_error: Callable[[str], None]) -> None:
    try:
        step()
    except Exception as error:  # keep going: the remaining evidence must still be written
        on_error(f"spine: {what} failed: {type(error).__name__}: {error}")
