"""Runs one scenario instance: steady state, workload with the fault schedule, guaranteed rollback, steady
state again, then the invariants over the scenario's history, the thresholds and the expected gates.

Rollback is in a ``finally``: it runs when the workload raises, when a check fails and on Ctrl-C
(KeyboardInterrupt is re-raised after the rollback is done and recorded). Each injection and rollback is
an operation of the history (``f: fault``, process ``nemesis``) and a line of the timeline.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from pytest_spine.clock import seeded_random
from pytest_spine.faults.base import FaultKind, fault_kinds
from pytest_spine.history import Operation
from pytest_spine.invariants.registry import CheckContext, get, run_checks
from pytest_spine.scenarios.driver import BudgetedDriver, ChaosDriver, ObservingDriver, SubstrateDriver
from pytest_spine.scenarios.model import Fault, Scenario
from pytest_spine.scenarios.workloads import Figures, workloads
from pytest_spine.verdicts import Status, Verdict, merge

KIND = "scenario"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    progress: float
    fault: str
    action: str  # inject | rollback
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"progress": round(self.progress, 4), "fault": self.fault, "action": self.action, "ok": self.ok,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    scenario: Scenario
    seed: int
    verdict: Verdict  # the scenario's own verdict (the test outcome)
    parts: tuple[Verdict, ...]  # invariants, thresholds, gates, rollback, steady state
    steady_state: Verdict
    figures: Mapping[str, Any]
    timeline: tuple[TimelineEntry, ...]
    operations: tuple[Operation, ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.id, "instance": self.scenario.instance_id(self.seed), "seed": self.seed,
                "status": self.verdict.status.value, "reason": self.verdict.reason,
                "figures": dict(self.figures), "checks": [p.to_json() for p in self.parts],
                "steady_state": self.steady_state.to_json()}


class _Faults:
    """The faults of one run and their state; ``rollback_all`` is idempotent."""

    def __init__(self, scenario: Scenario, driver: ChaosDriver) -> None:
        self.driver = driver
        self.kinds: dict[str, FaultKind] = dict(fault_kinds())
        self.pending = list(scenario.faults)
        self.active: list[Fault] = []
        self.timeline: list[TimelineEntry] = []
        self.rollback_failures: list[str] = []

    def advance(self, progress: float) -> None:
        for fault in list(self.active):
            if progress >= fault.schedule.stop:
                self.rollback(fault, progress)
        for fault in list(self.pending):
            if progress >= fault.schedule.start and progress < fault.schedule.stop:
                self.pending.remove(fault)
                self.inject(fault, progress)

    def inject(self, fault: Fault, progress: float) -> None:
        kind = self.kinds[fault.kind]
        self.driver.history.record("nemesis", "invoke", "fault", name=fault.name, action="inject")
        self.active.append(fault)  # before injecting: a half-done injection is still rolled back
        try:
            kind.inject(self.driver, fault.params)
        except Exception as error:
            self.driver.history.record("nemesis", "info", "fault", name=fault.name, action="inject",
                                       error=f"{type(error).__name__}: {error}")
            self.timeline.append(TimelineEntry(progress, fault.name, "inject", False, str(error)))
            raise
        self.driver.history.record("nemesis", "ok", "fault", name=fault.name, action="inject")
        self.timeline.append(TimelineEntry(progress, fault.name, "inject", True, kind.describe(fault.params)))

    def rollback(self, fault: Fault, progress: float) -> None:
        if fault not in self.active:
            return
        self.active.remove(fault)
        self.driver.history.record("nemesis", "invoke", "fault", name=fault.name, action="rollback")
        try:
            self.kinds[fault.kind].rollback(self.driver, fault.params, fault.rollback)
        except Exception as error:  # recorded, and the rest are still rolled back
            detail = f"{type(error).__name__}: {error}"
            self.rollback_failures.append(f"{fault.name}: {detail}")
            self.driver.history.record("nemesis", "fail", "fault", name=fault.name, action="rollback",
                                       error=detail)
            self.timeline.append(TimelineEntry(progress, fault.name, "rollback", False, detail))
            return
        self.driver.history.record("nemesis", "ok", "fault", name=fault.name, action="rollback",
                                   strategy=fault.rollback)
        self.timeline.append(TimelineEntry(progress, fault.name, "rollback", True, fault.rollback))

    def rollback_all(self, progress: float) -> None:
        for fault in list(self.active):
            self.rollback(fault, progress)
        self.pending.clear()


def lacks(scenario: Scenario, capabilities: frozenset[str]) -> list[str]:
    """The driver capabilities ``scenario`` needs and ``capabilities`` does not offer: its workload's (with the
    parameters it is given), its fault kinds', and ``gates`` when it expects gate outcomes."""
    spec = workloads()[scenario.workload.generator]
    missing = set(spec.needs_for(scenario.workload.params)) - capabilities
    kinds = fault_kinds()
    for fault in scenario.faults:
        missing |= kinds[fault.kind].needs - capabilities
    if scenario.gates and "gates" not in capabilities:
        missing.add("gates")
    return sorted(missing)


def lacks_reason(scenario: Scenario, driver_name: str, capabilities: frozenset[str]) -> str | None:
    """Why a driver cannot run ``scenario`` (None when it can): the reason of its NOT_APPLICABLE verdict."""
    missing = lacks(scenario, capabilities)
    if not missing:
        return None
    return f"target {driver_name!r} cannot run {scenario.id}: it lacks {', '.join(missing)}"


def _invariants(driver: ChaosDriver, check_ids: tuple[str, ...], ops: list[Operation] | tuple[Operation, ...],
                ctx: CheckContext, when: str) -> list[Verdict]:
    """The laws over the scenario so far. A driver with ``observed_laws`` (a black box) judges them from what it
    observed: the history checkers read platform operations such a platform never records, so they would pass on
    silence there."""
    if "observed_laws" in driver.capabilities and isinstance(driver, ObservingDriver):
        return driver.judge(check_ids, tuple(ops), when)
    return run_checks(ops, ctx, [get(check_id) for check_id in check_ids])


def run_scenario(scenario: Scenario, seed: int, driver: ChaosDriver, *, scale: float = 1.0,
                 context: CheckContext | None = None) -> ScenarioResult:
    """Run ``scenario`` on ``driver`` (already started); the caller closes the driver."""
    spec = workloads()[scenario.workload.generator]
    rng = seeded_random(seed, scenario.id, "workload")
    instance = scenario.instance_id(seed)
    parts: list[Verdict] = []
    reason = lacks_reason(scenario, driver.name, driver.capabilities)
    if reason is not None:
        na = Verdict(scenario.id, KIND, Status.NOT_APPLICABLE, reason, figures={"seed": seed})
        return ScenarioResult(scenario, seed, na, (), na, {}, ())

    evidence_probes = "object_evidence" in spec.needs
    before = _steady_state(scenario, driver, "before", rng, evidence_probes)
    if isinstance(driver, BudgetedDriver):  # after the probes: a budget may fit the workload to measured throughput
        scale = driver.plan_budget(spec, scenario.workload.params, scale)
    params = spec.resolved(scenario.workload.params, scale)
    faults = _Faults(scenario, driver)
    figures: Figures = {}
    workload_error: BaseException | None = None
    progress = 0.0
    try:
        faults.advance(0.0)
        generator = spec.run(driver, params, rng)
        figures = dict(_drive(generator, faults.advance))
        progress = 1.0
    except KeyboardInterrupt:
        faults.rollback_all(progress)
        raise
    except Exception as error:  # a crashed workload is this scenario's FAIL, not the session's
        workload_error = error
    finally:
        faults.rollback_all(progress)
    leftover = driver.armed() if "fault_points" in driver.capabilities else []
    rollback_ok = not faults.rollback_failures and not leftover
    parts.append(Verdict(
        f"{scenario.id}/rollback", KIND, Status.PASS if rollback_ok else Status.FAIL,
        "every fault was rolled back" if rollback_ok else
        f"rollback incomplete: {'; '.join(faults.rollback_failures) or ''} still armed: {leftover}",
        figures={"faults": len(scenario.faults)}))
    after = _steady_state(scenario, driver, "after", rng, evidence_probes)
    parts.append(after)

    if isinstance(driver, BudgetedDriver):
        budget, overrun = driver.budget_report()
        figures = {**figures, **budget}
        if overrun is not None:  # the platform did nothing wrong, but the scenario was not run whole
            parts.append(Verdict(f"{scenario.id}/budget", KIND, Status.UNKNOWN, overrun, figures=dict(budget)))
    ops = tuple(driver.history.operations())
    ctx = context or CheckContext(platform_run_id=driver.platform_run_id)
    parts.extend(_invariants(driver, scenario.invariants, ops, ctx, "after"))
    if workload_error is not None:
        parts.append(Verdict(f"{scenario.id}/workload", KIND, Status.FAIL,
                             f"the workload {spec.name!r} raised {type(workload_error).__name__}: {workload_error}"))
    else:
        for threshold in scenario.thresholds:
            measured = figures.get(threshold.figure)
            holds = threshold.holds(measured)
            parts.append(Verdict(f"{scenario.id}/{threshold.figure}", KIND,
                                 Status.PASS if holds else Status.FAIL,
                                 f"{threshold} {'holds' if holds else 'is violated'}: measured {measured!r}",
                                 figures={threshold.figure: measured}))
    for gate_id, expected in scenario.gates.items():
        outcome, why = driver.gate(gate_id)
        status = Status.PASS if outcome == expected else (Status.UNKNOWN if outcome == "UNKNOWN" else Status.FAIL)
        parts.append(Verdict(f"{scenario.id}/{gate_id}", KIND, status,
                             f"gate {gate_id} must {expected} on this scenario and came out {outcome}: {why}"))

    failing = [p for p in parts if p.status.is_failure] + ([before] if before.status.is_failure else [])
    status = merge([p.status for p in parts] + [before.status])
    if failing:
        # Lead with a failure that carries the operations showing it (an invariant's counterexample).
        first = next((p for p in failing if p.counterexample), failing[0])
        reason = f"{len(failing)} of {len(parts) + 1} checks failed; first: {first.check_id}: {first.reason}"
        counterexample = first.counterexample
    else:
        reason = (f"{len(parts) + 1} checks hold under {len(scenario.faults)} fault(s): "
                  + ", ".join(f"{k}={v}" for k, v in figures.items()))
        counterexample = ()
    verdict = Verdict(scenario.id, KIND, status, reason, counterexample=counterexample,
                      evidence=(f"scenarios/{instance}/result.json", f"scenarios/{instance}/timeline.json",
                                f"scenarios/{instance}/history.jsonl.gz"),
                      figures={**figures, "seed": seed})
    return ScenarioResult(scenario, seed, verdict, (before, *parts), after, figures, tuple(faults.timeline), ops)


def _drive(generator: Iterator[float], on_progress: Callable[[float], None]) -> Figures:
    while True:
        try:
            progress = next(generator)
        except StopIteration as done:
            on_progress(1.0)
            return dict(done.value or {})
        on_progress(float(progress))


def _steady_state(scenario: Scenario, driver: ChaosDriver, when: str, rng: random.Random,
                  evidence_probes: bool = False) -> Verdict:
    """Fresh events must be admitted and the steady-state invariants must hold over the history so far; for
    a workload on evidence objects, fresh evidence documents must also be written and read back whole."""
    check_id = f"{scenario.id}/steady-state-{when}"
    admitted = 0
    probes = scenario.steady_state.probe_events if "ingest" in driver.capabilities else 0
    for number in range(probes):
        outcome = driver.ingest(driver.envelope(f"steady-{when}-{number}-{rng.randrange(1 << 30)}"), "steady")
        admitted += outcome == "ADMIT"
    problems = []
    if admitted != probes:
        problems.append(f"{admitted} of {probes} fresh probe events were admitted")
    figures: dict[str, Any] = {"probe_events": probes, "admitted": admitted}
    if evidence_probes and "object_evidence" in driver.capabilities:
        written = _evidence_probes(cast(SubstrateDriver, driver), when, scenario.steady_state.probe_events, rng)
        figures.update(probe_documents=scenario.steady_state.probe_events, documents_whole=written)
        if written != scenario.steady_state.probe_events:
            problems.append(f"{written} of {scenario.steady_state.probe_events} probe evidence documents were "
                            "written and read back whole")
    if scenario.steady_state.invariants:
        verdicts = _invariants(driver, scenario.steady_state.invariants, driver.history.operations(),
                               CheckContext(platform_run_id=driver.platform_run_id), f"steady-{when}")
        problems.extend(f"{v.check_id}: {v.reason}" for v in verdicts if v.status.is_failure)
    status = Status.FAIL if problems else Status.PASS
    documents = (f", {figures['documents_whole']}/{figures['probe_documents']} probe evidence documents whole"
                 if "probe_documents" in figures else "")
    reason = "; ".join(problems) if problems else (
        f"steady {when} the faults: {admitted}/{probes} probe events admitted{documents}, "
        f"{len(scenario.steady_state.invariants)} steady-state invariants hold")
    return Verdict(check_id, KIND, status, reason, figures=figures)


def _evidence_probes(driver: SubstrateDriver, when: str, count: int, rng: random.Random) -> int:
    """Write ``count`` small evidence documents; how many the writer confirmed and the store holds whole."""
    import json

    sent = {}
    for number in range(count):
        relpath = f"steady/{when}-{number}-{rng.randrange(1 << 30)}.json"
        document = {"probe": relpath}
        if driver.write_evidence(relpath, document):
            sent[driver.evidence_key(relpath)] = document
    held = driver.evidence_objects()
    whole = 0
    for key, document in sent.items():
        try:
            whole += key in held and json.loads(held[key]) == document
        except ValueError:
            continue
    return whole
