"""The process_kill fault kind: validated when the scenario file is loaded, delegated to a driver with
process_faults, and NOT_APPLICABLE (with the reason) on a driver whose consumers are not processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.faults.base import fault_kinds
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.verdicts import Status

PARAMS = {"process": "rtdl", "point": "rtdl.before_state_write", "at_hit": 2, "times": 2,
          "match": {"kind": "decision_input"}}


def test_process_kill_is_registered_and_validates() -> None:
    kind = fault_kinds()["process_kill"]
    assert kind.needs == frozenset({"process_faults"})
    assert kind.rollbacks == frozenset({"disarm_and_stop"})
    assert kind.validate(PARAMS) == []
    assert kind.validate({"process": "decision_lane", "point": "decision_lane.before_action"}) == []
    problems = dict(kind.validate({"process": "gate", "point": "Nope", "at_hit": 0, "times": True, "match": [1],
                                   "signal": "TERM"}))
    assert set(problems) == {"process", "point", "at_hit", "times", "match", "signal"}
    assert problems["at_hit"] == "must be a positive count, given: 0"
    assert kind.describe(PARAMS) == ("SIGKILL the rtdl process when it reaches rtdl.before_state_write for the 2nd "
                                     "time matching {'kind': 'decision_input'}; 2 process(es) in a row")


class _Driver:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def arm_process_kill(self, process: str, point: str, *, at_hit: int, times: int,
                         match: Mapping[str, Any]) -> None:
        self.calls.append(("arm", process, point, at_hit, times, dict(match)))

    def disarm_process_kill(self, process: str) -> None:
        self.calls.append(("disarm", process))


def test_inject_arms_the_driver_and_rollback_disarms_it() -> None:
    kind = fault_kinds()["process_kill"]
    driver = _Driver()
    kind.inject(driver, PARAMS)  # type: ignore[arg-type]
    kind.rollback(driver, PARAMS, "disarm_and_stop")  # type: ignore[arg-type]
    kind.inject(driver, {"process": "decision_lane", "point": "decision_lane.before_action"})  # type: ignore[arg-type]
    assert driver.calls == [("arm", "rtdl", "rtdl.before_state_write", 2, 2, {"kind": "decision_input"}),
                            ("disarm", "rtdl"),
                            ("arm", "decision_lane", "decision_lane.before_action", 1, 1, {})]


def test_the_local_parity_variant_is_not_applicable_on_an_in_process_driver() -> None:
    scenario = {s.id: s for s in load_dir(packaged_dir()).scenarios}["CH-CONSUMER-CRASH-BEFORE-COMMIT"]
    driver = ReferenceDriver.standalone("t-process-kill", 3)
    result = run_scenario(scenario.for_env("local_parity"), 3, driver, scale=0.1)
    assert result.verdict.status is Status.NOT_APPLICABLE
    assert result.verdict.reason == ("target 'reference' cannot run CH-CONSUMER-CRASH-BEFORE-COMMIT: it lacks "
                                     "process_faults")
