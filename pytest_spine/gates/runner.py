"""Runs the phase machine in canonical order and decides every criterion's verdict.

A phase executes only when every earlier phase is green; otherwise each of its criteria is BLOCKED with
the upstream reason (never silently passed). Criteria the target declares meaningless are
NOT_APPLICABLE with the target's reason. A probe the target cannot run makes the criterion UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytest_spine.gates.catalogue import (
    PHASE_NAMES,
    Criterion,
    EvidenceMissing,
    GateContext,
    criteria_of,
    target_not_applicable,
)
from pytest_spine.history import History
from pytest_spine.targets.base import PHASE_IDS, DrillNotRun, NotObserved, PhaseOutcome, ProbeNotSupported, Target
from pytest_spine.verdicts import Status, Verdict, merge


class PhaseRunner:
    def __init__(
        self,
        target_fn: Callable[[], Target],
        read: Callable[[str], Mapping[str, Any] | None],
        files: Callable[[], list[str]],
        history: History,
        platform_run_id: str,
    ) -> None:
        self._target_fn = target_fn
        self._read = read
        self._files = files
        self._history = history
        self.platform_run_id = platform_run_id
        self.outcomes: dict[str, PhaseOutcome] = {}
        self.verdicts: dict[str, Verdict] = {}
        self.phase_status: dict[str, Status] = {}
        self._probe_cache: dict[str, Mapping[str, Any]] = {}

    def ensure(self, phase_id: str) -> None:
        """Execute (once) every phase up to and including ``phase_id``."""
        if phase_id not in PHASE_IDS:
            raise ValueError(f"unknown phase {phase_id!r}; phases are {', '.join(PHASE_IDS)}")
        for phase in PHASE_IDS[: PHASE_IDS.index(phase_id) + 1]:
            if phase not in self.phase_status:
                self._run(phase)

    def ensure_all(self) -> None:
        self.ensure(PHASE_IDS[-1])

    def verdict(self, check_id: str) -> Verdict:
        phase = check_id.rsplit("-", 1)[0] if check_id.startswith("P(-1)") else check_id.split("-", 1)[0]
        self.ensure(phase)
        return self.verdicts[check_id]

    def first_failure(self, phase: str) -> Verdict | None:
        for criterion in criteria_of(phase):
            verdict = self.verdicts.get(criterion.check_id)
            if verdict is not None and verdict.status.is_failure:
                return verdict
        return None

    # ------------------------------------------------------------------------------------------
    def _blocker(self, phase: str) -> str | None:
        for earlier in PHASE_IDS[: PHASE_IDS.index(phase)]:
            if self.phase_status.get(earlier, Status.PASS).is_failure:
                return earlier
        return None

    def _run(self, phase: str) -> None:
        criteria = criteria_of(phase)
        blocker = self._blocker(phase)
        if blocker is not None:
            upstream = self.first_failure(blocker)
            why = f"{upstream.check_id}: {upstream.reason}" if upstream else "phase did not complete"
            outcome = PhaseOutcome(phase, completed=False, error=f"blocked by {blocker}")
            self.outcomes[phase] = outcome
            for crit in criteria:
                self.verdicts[crit.check_id] = crit.verdict(
                    Status.BLOCKED, f"upstream phase {blocker} {PHASE_NAMES[blocker]} failed ({why})", evidence=())
            self.phase_status[phase] = Status.BLOCKED
            return

        try:
            target = self._target_fn()
        except Exception as error:  # an environment that is not there blocks the phase; it is not its verdict
            reason = f"the target did not start: {type(error).__name__}: {error}"
            self.outcomes[phase] = PhaseOutcome(phase, completed=False, error=reason)
            for crit in criteria:
                self.verdicts[crit.check_id] = crit.verdict(Status.BLOCKED, reason, evidence=())
            self.phase_status[phase] = Status.BLOCKED
            return
        self._history.record("harness", "invoke", "phase", phase_id=phase)
        try:
            outcome = target.run_phase(phase)
        except Exception as error:  # the phase failing is a verdict, not a crash of the harness
            outcome = PhaseOutcome(phase, completed=False, error=f"{type(error).__name__}: {error}")
        self._history.record("harness", "ok" if outcome.completed else "fail", "phase", phase_id=phase,
                             error=outcome.error)
        self.outcomes[phase] = outcome
        not_applicable = target_not_applicable(target)
        ctx = GateContext(
            phase=outcome, outcomes=self.outcomes, read=self._read, files=self._files,
            probe_fn=lambda name: self._probe(target, name), platform_run_id=self.platform_run_id,
            history=self._history.operations, observed_fn=lambda: _observations(target),
        )
        for crit in criteria:
            self.verdicts[crit.check_id] = self._decide(crit, ctx, outcome, not_applicable)
        self.phase_status[phase] = merge(self.verdicts[c.check_id].status for c in criteria)

    def _probe(self, target: Target, name: str) -> Mapping[str, Any]:
        # A drill runs once per run: several criteria may read the same observation.
        if name not in self._probe_cache:
            self._history.record("harness", "invoke", "probe", name=name)
            result = dict(target.probe(name))
            self._history.record("harness", "ok", "probe", name=name, result=result)
            self._probe_cache[name] = result
        return self._probe_cache[name]

    def _decide(self, crit: Criterion, ctx: GateContext, outcome: PhaseOutcome,
                not_applicable: Mapping[str, str]) -> Verdict:
        if crit.check_id in not_applicable:
            return crit.verdict(Status.NOT_APPLICABLE, not_applicable[crit.check_id], evidence=())
        ctx.drills_not_run.clear()
        try:
            result = crit.check(ctx)
        except DrillNotRun as skipped:
            return crit.verdict(Status.NOT_APPLICABLE, f"the drill this check needs was {skipped.reason}",
                                evidence=())
        except NotObserved:
            return crit.verdict(Status.NOT_APPLICABLE, "this target exposes no substrate the harness can read "
                                "itself (the in-process reference); the check runs against a platform's topics, "
                                "groups and buckets (local_parity with a platform registry, dev_min)", evidence=())
        except EvidenceMissing as missing:
            return crit.verdict(Status.FAIL, f"{missing} (missing evidence is a failure)")
        except ProbeNotSupported as unsupported:
            return crit.verdict(Status.UNKNOWN, f"the target could not run the drill this check needs: "
                                                f"{unsupported.reason}")
        except Exception as error:
            return crit.verdict(Status.FAIL, f"the check raised {type(error).__name__}: {error} "
                                             "(treated as a failure)")
        if result.ok and not outcome.completed:
            return crit.verdict(Status.FAIL, f"phase {outcome.phase_id} did not complete: {outcome.error}",
                                evidence=result.evidence or crit.evidence)
        reason = result.reason
        basis = result.basis or crit.basis
        if ctx.drills_not_run:
            reason += "; drills " + "; ".join(ctx.drills_not_run)
            basis = result.basis or "attested"
        return crit.verdict(
            Status.PASS if result.ok else Status.FAIL, reason,
            evidence=result.evidence or crit.evidence, counterexample=result.counterexample,
            figures=dict(result.figures or {}), basis=basis,
        )


def _observations(target: Target) -> Any:
    observe = getattr(target, "observations", None)
    return observe() if callable(observe) else None
