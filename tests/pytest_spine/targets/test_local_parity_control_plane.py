"""On local_parity the control plane runs on the stack's PostgreSQL. A stack without one fails the
control-plane scenarios and suite items with the fix named; nothing falls back to the in-memory store."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.stack.state import StackState, write_state
from pytest_spine.targets.local_parity import LocalParityTarget, _with_control_plane
from pytest_spine.verdicts import Status

CP_SCENARIOS = ("CH-RESTART-DURING-RUNNING", "CH-POLL-TIMEOUT-BURST", "CH-DUPLICATE-COMMAND-REPLAY",
                "CH-SUCCESS-THEN-REPORTING-FAILURE", "CH-DUPLICATE-RESUME")


def _no_postgres(tmp_path: Path) -> StackState:
    return StackState(str(tmp_path), "native", "t", str(tmp_path / "handles.yaml"), {})


def test_the_control_plane_scenarios_are_declared_for_local_parity() -> None:
    scenarios = {s.id: s for s in load_dir(packaged_dir()).scenarios}
    assert {name: scenarios[name].envs for name in CP_SCENARIOS} == {
        name: ("reference", "local_parity") for name in CP_SCENARIOS}


def test_a_control_plane_scenario_on_a_stack_without_postgres_fails_naming_the_fix(tmp_path: Path) -> None:
    scenario = {s.id: s for s in load_dir(packaged_dir()).scenarios}["CH-RESTART-DURING-RUNNING"]
    driver = _with_control_plane(ReferenceDriver.standalone("t-no-pg", 3), None, _no_postgres(tmp_path))
    assert "control_plane" in driver.capabilities
    result = run_scenario(scenario.for_env("local_parity"), 3, driver)
    assert result.verdict.status is Status.FAIL
    workload = next(p for p in result.parts if p.check_id == "CH-RESTART-DURING-RUNNING/workload")
    assert workload.reason.startswith("the workload 'control_plane' raised EnvironmentFault: the local stack in "
                                      f"{tmp_path} runs no PostgreSQL")
    assert f"'spine stack up --dir {tmp_path}'" in workload.reason
    # Fail closed: no control-plane operation was recorded from another store.
    assert not [op for op in driver.history.operations() if op.f.startswith("cp_")]


def test_the_target_pins_the_stack_postgres_or_names_the_fix(tmp_path: Path) -> None:
    target = LocalParityTarget(stack_dir=tmp_path)
    with pytest.raises(EnvironmentFault, match=r"no running local stack in .* for the control plane's PostgreSQL; "
                                               r"start it with 'spine stack up --dir "):
        target.control_plane_store()
    write_state(_no_postgres(tmp_path))  # a stack record whose services (none) all run
    with pytest.raises(EnvironmentFault, match="runs no PostgreSQL"):
        target.control_plane_store()
