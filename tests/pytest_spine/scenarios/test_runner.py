from __future__ import annotations

import random
from collections.abc import Generator, Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.scenarios.driver import ChaosDriver
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.model import Fault, Scenario, Schedule, SteadyState, Workload
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.scenarios.workloads import Param, unregister_workload, workload
from pytest_spine.verdicts import Status


class FakeDriver:
    """Just enough of a target to watch the runner: every event is admitted, faults are a set."""

    name = "fake"
    capabilities = frozenset({"ingest", "fault_points"})
    platform_run_id = "run-fake"

    def __init__(self, refuse_disarm: bool = False) -> None:
        self.history = History(ManualClock())
        self.active: set[str] = set()
        self.refuse_disarm = refuse_disarm

    def envelope(self, event_id: str, **kw: Any) -> dict[str, Any]:
        return {"platform_run_id": self.platform_run_id, "event_class": "tx", "event_id": event_id}

    def ingest(self, envelope: Mapping[str, Any], process: str = "client-1") -> str | None:
        key = {k: envelope[k] for k in ("platform_run_id", "event_class", "event_id")}
        self.history.record(process, "invoke", "ingest", **key)
        self.history.record("ig", "invoke", "publish", topic="t", **key)
        self.history.record("ig", "ok", "publish", topic="t", partition=0, offset=len(self.history), **key)
        self.history.record(process, "ok", "ingest", outcome="ADMIT", **key)
        return "ADMIT"

    def arm(self, point: str, **kw: Any) -> None:
        self.active.add(point)

    def disarm(self, point: str) -> None:
        if self.refuse_disarm:
            raise RuntimeError(f"cannot disarm {point}")
        self.active.discard(point)

    def armed(self) -> list[str]:
        return sorted(self.active)

    def gate(self, criterion_id: str) -> tuple[str, str]:
        return "UNKNOWN", "fake"


def _scenario(generator: str, **kw: Any) -> Scenario:
    fault = Fault("f1", "fault_point", {"point": "bus.produce.after_append", "error": "timeout"},
                  Schedule(0.2, 0.8), "disarm")
    defaults: dict[str, Any] = dict(id="CH-PUBLISH-AMBIGUITY", description="test", path="test.yaml",
                                    workload=Workload(generator, {}), faults=(fault,),
                                    invariants=("INV-DEDUPE-IDENTITY",), steady_state=SteadyState(2, ()))
    defaults.update(kw)
    return Scenario(**defaults)


@pytest.fixture
def steps() -> Iterator[str]:
    seen: list[float] = []

    @workload("test_steps", params={"fail_at": Param(float, 2.0, 0.0, 2.0),
                                    "interrupt_at": Param(float, 2.0, 0.0, 2.0)}, figures=("steps",))
    def stepping_workload(driver: ChaosDriver, params: Mapping[str, Any],
                   rng: random.Random) -> Generator[float, None, dict[str, Any]]:
        for step in range(10):
            progress = step / 10
            if progress >= params["fail_at"]:
                raise RuntimeError("the workload broke")
            if progress >= params["interrupt_at"]:
                raise KeyboardInterrupt
            driver.ingest(driver.envelope(f"s{step}"))
            seen.append(progress)
            yield progress
        return {"steps": len(seen)}

    yield "test_steps"
    unregister_workload("test_steps")


def test_faults_follow_the_schedule_and_are_rolled_back(steps: str) -> None:
    driver = FakeDriver()
    result = run_scenario(_scenario(steps), 1, driver)
    assert result.verdict.status is Status.PASS
    assert [(e.action, e.progress) for e in result.timeline] == [("inject", 0.2), ("rollback", 0.8)]
    assert driver.armed() == []
    faults = [(op.type, op.value["action"]) for op in driver.history if op.f == "fault"]
    assert faults == [("invoke", "inject"), ("ok", "inject"), ("invoke", "rollback"), ("ok", "rollback")]
    assert result.steady_state.status is Status.PASS
    assert result.steady_state.check_id == "CH-PUBLISH-AMBIGUITY/steady-state-after"


def test_rollback_runs_when_the_workload_fails(steps: str) -> None:
    driver = FakeDriver()
    scenario = _scenario(steps, workload=Workload(steps, {"fail_at": 0.5}))
    result = run_scenario(scenario, 1, driver)
    assert result.verdict.status is Status.FAIL
    assert driver.armed() == []
    assert [e.action for e in result.timeline] == ["inject", "rollback"]
    assert any(p.check_id.endswith("/workload") and "the workload broke" in p.reason for p in result.parts)
    rollback = next(p for p in result.parts if p.check_id.endswith("/rollback"))
    assert rollback.status is Status.PASS


def test_rollback_runs_on_interrupt_and_the_interrupt_propagates(steps: str) -> None:
    driver = FakeDriver()
    scenario = _scenario(steps, workload=Workload(steps, {"interrupt_at": 0.5}))
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario, 1, driver)
    assert driver.armed() == []
    assert [op.value["action"] for op in driver.history if op.f == "fault" and op.type == "ok"] == \
        ["inject", "rollback"]


def test_a_failed_rollback_is_a_failed_scenario(steps: str) -> None:
    driver = FakeDriver(refuse_disarm=True)
    result = run_scenario(_scenario(steps), 1, driver)
    rollback = next(p for p in result.parts if p.check_id.endswith("/rollback"))
    assert rollback.status is Status.FAIL
    assert "cannot disarm" in rollback.reason
    assert result.verdict.status is Status.FAIL


def test_a_threshold_that_does_not_hold_fails(steps: str) -> None:
    from pytest_spine.scenarios.model import Threshold

    scenario = _scenario(steps, thresholds=(Threshold.parse("steps >= 11"),))
    result = run_scenario(scenario, 1, FakeDriver())
    assert result.verdict.status is Status.FAIL
    assert "steps >= 11 is violated: measured 10" in result.verdict.reason


def test_a_target_without_the_capability_is_not_applicable(steps: str) -> None:
    driver = FakeDriver()
    driver.capabilities = frozenset({"ingest"})  # type: ignore[misc]
    result = run_scenario(_scenario(steps), 1, driver)
    assert result.verdict.status is Status.NOT_APPLICABLE
    assert "lacks fault_points" in result.verdict.reason


def _packaged(scenario_id: str) -> Scenario:
    return next(s for s in load_dir(packaged_dir()).scenarios if s.id == scenario_id)


@pytest.mark.parametrize("scenario_id", ["CH-PUBLISH-AMBIGUITY", "CH-CONSUMER-CRASH-BEFORE-COMMIT",
                                         "CH-LATE-CONTEXT", "CH-CONCURRENT-REPORTERS"])
def test_packaged_scenarios_pass_on_the_reference(scenario_id: str) -> None:
    driver = ReferenceDriver.standalone(f"t-{scenario_id}", 3)
    result = run_scenario(_packaged(scenario_id), 3, driver, scale=0.25)
    assert result.verdict.status is Status.PASS, result.verdict.reason
    assert all(e.ok for e in result.timeline)
    assert driver.armed() == []


def test_replay_flood_small_pass_and_figures() -> None:
    scenario = _packaged("CH-REPLAY-FLOOD")
    scenario = replace(scenario, workload=Workload("replay_flood", {"events": 50, "replays": 2000,
                                                                    "payload_mutation_ratio": 0.01}))
    result = run_scenario(scenario, 3, ReferenceDriver.standalone("t-flood", 3))
    assert result.verdict.status is Status.PASS, result.verdict.reason
    assert result.figures["replay_rejection_ratio"] == 1.0
    assert result.figures["double_admits"] == 0
    assert result.figures["replays"] == 2000


@pytest.mark.parametrize(("scenario_id", "mutant", "failing"), [
    ("CH-PUBLISH-AMBIGUITY", "hide_publish_ambiguity", "INV-NO-PUBLISH-AMBIGUITY"),
    ("CH-CONSUMER-CRASH-BEFORE-COMMIT", "ack_before_write", "INV-COMMIT-AFTER-WRITE"),
    ("CH-CONSUMER-CRASH-BEFORE-COMMIT", "double_action", "INV-IDEMPOTENT-ACTIONS"),
    ("CH-LATE-CONTEXT", "silent_degrade", "INV-EXPLICIT-DEGRADE"),
    ("CH-CONCURRENT-REPORTERS", "reporter_without_lock", "INV-SINGLE-WRITER"),
])
def test_packaged_scenarios_fail_on_their_mutants(scenario_id: str, mutant: str, failing: str) -> None:
    driver = ReferenceDriver.standalone(f"t-{scenario_id}", 3, mutant)
    result = run_scenario(_packaged(scenario_id), 3, driver, scale=0.25)
    assert result.verdict.status is Status.FAIL
    failed = {p.check_id for p in result.parts if p.status is Status.FAIL}
    assert failing in failed
    assert result.verdict.counterexample  # the operations that show it


def test_replay_flood_fails_on_payload_overwrite() -> None:
    scenario = replace(_packaged("CH-REPLAY-FLOOD"),
                       workload=Workload("replay_flood", {"events": 50, "replays": 1000,
                                                          "payload_mutation_ratio": 0.05}))
    result = run_scenario(scenario, 3, ReferenceDriver.standalone("t-flood-m", 3, "payload_overwrite"))
    assert result.verdict.status is Status.FAIL
    assert result.figures["double_admits"] > 0
    failed = {p.check_id for p in result.parts if p.status is Status.FAIL}
    assert {"INV-DEDUPE-IDENTITY", "INV-PAYLOAD-ANOMALY", "CH-REPLAY-FLOOD/double_admits"} <= failed


@pytest.mark.slow
def test_full_replay_flood_on_the_reference() -> None:
    """The packaged flood as the default profile runs it: at least 100,000 replays, none admitted twice."""
    from pytest_spine.history import dump_compressed
    from pytest_spine.scenarios.execute import HISTORY_LIMIT_BYTES

    driver = ReferenceDriver.standalone("t-flood-full", 3)
    result = run_scenario(_packaged("CH-REPLAY-FLOOD"), 3, driver)
    assert result.verdict.status is Status.PASS, result.verdict.reason
    assert result.figures["replays"] >= 100_000
    assert result.figures["replay_rejection_ratio"] >= 0.999
    assert result.figures["double_admits"] == 0
    _, kept, truncated = dump_compressed(list(result.operations), HISTORY_LIMIT_BYTES)
    assert not truncated and kept == len(result.operations)


def test_publish_ambiguity_counts_double_admits_on_a_gate_without_dedupe() -> None:
    """FakeDriver answers ADMIT to everything: the resend makes every event a double admit."""
    scenario = _packaged("CH-PUBLISH-AMBIGUITY")
    result = run_scenario(replace(scenario, gates={}, faults=()), 3, FakeDriver(), scale=0.25)
    assert result.figures["double_admits"] == result.figures["admitted"] == 10
    assert result.verdict.status is Status.FAIL
    failed = {p.check_id for p in result.parts if p.status is Status.FAIL}
    assert "CH-PUBLISH-AMBIGUITY/double_admits" in failed
