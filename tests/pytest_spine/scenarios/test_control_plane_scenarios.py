"""The five CP chaos-lite scenario files: they load in the scenario schema, pass on the reference (each with its
expected outcome), and each is failed by a control-plane mutant."""

from __future__ import annotations

from pathlib import Path

import pytest

import pytest_spine.scenarios.control_plane
from pytest_spine.clock import ManualClock
from pytest_spine.errors import ScenarioError
from pytest_spine.history import History
from pytest_spine.scenarios.execute import _DRIVERS
from pytest_spine.scenarios.loader import load_file, load_text
from pytest_spine.scenarios.runner import ScenarioResult, run_scenario
from pytest_spine.verdicts import Status

FOLDER = Path(pytest_spine.scenarios.control_plane.__file__).resolve().parent.parent / "data" / "scenarios"
CP_SCENARIOS = ("CH-POLL-TIMEOUT-BURST", "CH-DUPLICATE-COMMAND-REPLAY", "CH-RESTART-DURING-RUNNING",
                "CH-SUCCESS-THEN-REPORTING-FAILURE", "CH-DUPLICATE-RESUME")


def run(name: str, mutant: str | None = None, text: str | None = None) -> ScenarioResult:
    path = FOLDER / f"{name}.yaml"
    scenario = load_file(path) if text is None else load_text(text, str(path))
    driver = _DRIVERS["reference"](f"run-{name}", 3, mutant, History(ManualClock()))
    try:
        return run_scenario(scenario, 3, driver)
    finally:
        driver.close()


@pytest.mark.parametrize("name", CP_SCENARIOS)
def test_each_scenario_passes_on_the_reference(name: str) -> None:
    result = run(name)
    assert result.verdict.status is Status.PASS, result.verdict.reason
    assert result.figures["jobs_lost"] == 0 and result.figures["duplicate_heavy_executions"] == 0
    faults = [op for op in result.operations if op.f == "fault" and op.process == "nemesis"]
    assert faults, "the workload injected its armed faults"


@pytest.mark.parametrize(("name", "mutant", "check"), [
    ("CH-POLL-TIMEOUT-BURST", "poll_gives_up", "poll_timeout_recovery_rate >= 0.95"),
    ("CH-DUPLICATE-COMMAND-REPLAY", "replayed_update_new_job", "CP-UPDATE-IDEMPOTENT"),
    ("CH-RESTART-DURING-RUNNING", "lease_never_expires", "CP-LEASE-RECOVERY"),
    ("CH-SUCCESS-THEN-REPORTING-FAILURE", "dispatch_key_ignored", "CP-DISPATCH-IDEMPOTENT"),
    ("CH-DUPLICATE-RESUME", "double_dispatch_on_resume", "CP-RESUME-IDEMPOTENT"),
])
def test_each_scenario_is_failed_by_a_mutant(name: str, mutant: str, check: str) -> None:
    result = run(name, mutant)
    assert result.verdict.status is Status.FAIL
    assert check in " ".join(f"{v.check_id} {v.reason}" for v in result.parts if v.status is Status.FAIL)


def test_a_fault_that_is_not_armed_is_not_injected() -> None:
    text = (FOLDER / "CH-SUCCESS-THEN-REPORTING-FAILURE.yaml").read_text()
    result = run("CH-SUCCESS-THEN-REPORTING-FAILURE",
                 text=text.replace("{fault: report_failure}", "{fault: poll_timeout_burst}"))
    assert [op for op in result.operations if op.f == "cp_complete"] == []  # no report failed
    assert result.figures["mttr_minutes"] is None  # so no incident, and the mttr threshold cannot be met
    assert result.verdict.status is Status.FAIL


def test_an_unknown_control_plane_fault_is_refused_with_its_place() -> None:
    text = (FOLDER / "CH-DUPLICATE-RESUME.yaml").read_text().replace("{fault: duplicate_resume}",
                                                                       "{fault: meteor_strike}")
    with pytest.raises(ScenarioError, match=r"must name a control-plane fault .* given: 'meteor_strike'"):
        load_text(text, "CH-DUPLICATE-RESUME.yaml")
