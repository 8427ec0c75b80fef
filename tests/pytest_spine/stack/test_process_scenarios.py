"""The process-killing chaos scenarios through the packaged suite on local_parity, with real SIGKILLs.

CH-CONSUMER-CRASH-BEFORE-COMMIT runs the RTDL and decision-lane consumers as processes on the stack and
SIGKILLs the RTDL one just before its 2nd decision-input write, twice: it passes on the correct reference and
fails with ``--spine-mutant=ack_before_write`` (committed past a record it never wrote: lost) and
``double_action`` (the redelivered decision input's action runs again). The
control-plane scenarios run on the stack's PostgreSQL: CH-RESTART-DURING-RUNNING SIGKILLs a real worker
process mid-execution and passes, and fails with ``lease_never_expires`` (the job is never reclaimed); a
stack without PostgreSQL fails naming the fix. No consumer process is left running afterwards.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.stack.consumers import running_services
from pytest_spine.stack.fixture import STACK_DIR_ENV, SessionStack
from pytest_spine.stack.state import read_state

pytestmark = [pytest.mark.services, pytest.mark.slow]
pytest_plugins = ["pytester"]

CRASH = "CH-CONSUMER-CRASH-BEFORE-COMMIT"
RESTART = "CH-RESTART-DURING-RUNNING"


@pytest.fixture
def on_stack(local_stack: SessionStack, monkeypatch: pytest.MonkeyPatch) -> SessionStack:
    assert "postgres" in local_stack.state.services, "local_parity's control plane needs the stack's PostgreSQL"
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    return local_stack


def _suite(pytester: pytest.Pytester, scenario: str, mutant: str | None) -> tuple[Any, Path]:
    args = ["--spine-env=local_parity", "-k", "test_scenario", f"--spine-scenario={scenario}", "-p", "no:cacheprovider"]
    result = pytester.runpytest_subprocess(*args, *([f"--spine-mutant={mutant}"] if mutant else []))
    bundle = next((pytester.path / "reports" / "evidence" / "runs").iterdir())
    return result, bundle


def _verdicts(bundle: Path) -> dict[str, str]:
    return {v["id"]: v["status"] for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}


def _history(bundle: Path, instance: str) -> list[dict[str, Any]]:
    with gzip.open(bundle / "scenarios" / instance / "history.jsonl.gz", "rt") as lines:
        return [json.loads(line) for line in lines]


@pytest.mark.parametrize(("mutant", "lost", "failing"), [
    pytest.param(None, 0, set(), id="correct"),
    # Committed past the record it was killed before writing: each kill loses it.
    pytest.param("ack_before_write", 2, {"INV-COMMIT-AFTER-WRITE", f"{CRASH}/lost_events"}, id="ack_before_write"),
    # The RTDL redelivery after a kill re-publishes a decision input; the lane executes its action again.
    pytest.param("double_action", 0, {"INV-IDEMPOTENT-ACTIONS", f"{CRASH}/max_executions_per_action"},
                 id="double_action"),
])
def test_consumer_crash_sigkills_the_rtdl_process_passes_and_its_mutants_fail(
        on_stack: SessionStack, pytester: pytest.Pytester, mutant: str | None, lost: int, failing: set[str]) -> None:
    result, bundle = _suite(pytester, CRASH, mutant)
    instance = f"{CRASH}-seed=3"
    outcome = json.loads((bundle / "scenarios" / instance / "result.json").read_text())
    checks = {c["id"]: c["status"] for c in outcome["checks"]}
    ops = _history(bundle, instance)
    kills = [op["value"] for op in ops if op["f"] == "process_kill"]
    # Two real processes died by SIGKILL, each stopped just before the durable write of a decision input.
    assert [(k["service"], k["signal"], k["returncode"], k["point"], k["hit"], k["context"]["kind"])
            for k in kills] == [("rtdl", "SIGKILL", -9, "rtdl.before_state_write", 2, "decision_input")] * 2
    starts = [op["value"] for op in ops if op["f"] == "process_start"]
    assert {k["pid"] for k in kills} <= {s["pid"] for s in starts}
    assert len({s["pid"] for s in starts}) == len(starts)  # every start is a new process
    # The processes' own lines were merged into the scenario's history and judged there.
    assert {(op["process"], op["f"]) for op in ops} >= {("rtdl", "consume"), ("rtdl", "state_write"),
                                                         ("rtdl", "offset_commit"),
                                                         ("decision_lane", "action_execute")}
    timeline = json.loads((bundle / "scenarios" / instance / "timeline.json").read_text())
    assert [(e["fault"], e["action"], e["ok"]) for e in timeline["events"]] == [
        ("sigkill-before-write", "inject", True), ("sigkill-before-write", "rollback", True)]
    assert checks[f"{CRASH}/rollback"] == "PASS"
    assert outcome["figures"]["consumer_crashes"] == 2
    assert running_services(bundle.name) == []  # nothing this run started is left running
    # The session's mutant reached every consumer process (and the platform: its ingest admitted the flows).
    configs = sorted((Path(on_stack.state.stack_dir) / "scenario-processes" / f"{bundle.name}-{instance}")
                     .glob("*.config.json"))
    assert [c.name for c in configs] == ["decision_lane-1.config.json", "decision_lane-2.config.json",
                                         "decision_lane-3.config.json", "decision_lane-4.config.json",
                                         "rtdl-1.config.json", "rtdl-2.config.json", "rtdl-3.config.json",
                                         "rtdl-4.config.json"]
    assert {tuple(json.loads(c.read_text())["mutations"]) for c in configs} == {(mutant,) if mutant else ()}
    assert outcome["figures"]["lost_events"] == lost
    if mutant is None:
        result.assert_outcomes(passed=1)
        assert _verdicts(bundle)[CRASH] == "PASS"
        assert outcome["figures"]["max_executions_per_action"] == 1
        assert all(status == "PASS" for status in checks.values()), checks
    else:
        result.assert_outcomes(failed=1)
        assert _verdicts(bundle)[CRASH] == "FAIL"
        assert {check for check, status in checks.items() if status == "FAIL"} >= failing


@pytest.mark.parametrize("mutant", [None, "lease_never_expires"])
def test_restart_during_running_sigkills_a_real_worker_process_on_the_stack_postgres(
        on_stack: SessionStack, pytester: pytest.Pytester, mutant: str | None) -> None:
    result, bundle = _suite(pytester, RESTART, mutant)
    instance = f"{RESTART}-seed=3"
    ops = _history(bundle, instance)
    kills = [op for op in ops if op["f"] == "process_kill"]
    assert len(kills) == 1
    kill = kills[0]["value"]
    assert (kills[0]["type"], kill["signal"], kill["returncode"], kill["during_execution"]) == ("ok", "SIGKILL", -9,
                                                                                              True)
    assert isinstance(kill["pid"], int) and kill["pid"] > 1
    # The killed worker's own records (claim, heavy start) came from the process, over PostgreSQL.
    assert any(op["f"] == "heavy_start" and op["value"].get("worker") == kill["worker"] for op in ops)
    checks = {c["id"]: c["status"]
              for c in json.loads((bundle / "scenarios" / instance / "result.json").read_text())["checks"]}
    if mutant is None:
        result.assert_outcomes(passed=1)
        assert _verdicts(bundle)[RESTART] == "PASS"
    else:
        result.assert_outcomes(failed=1)
        assert _verdicts(bundle)[RESTART] == "FAIL"
        assert {check for check, status in checks.items() if status == "FAIL"} >= {
            "CP-LEASE-RECOVERY", f"{RESTART}/stale_running"}


def test_the_control_plane_items_run_on_the_stack_postgres(on_stack: SessionStack, pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=local_parity", "-k", "test_control_plane", "-p",
                                           "no:cacheprovider")
    result.assert_outcomes(passed=15)
    bundle = next((pytester.path / "reports" / "evidence" / "runs").iterdir())
    summary = json.loads((bundle / "control_plane" / RESTART / "summary.json").read_text())
    assert summary["store"] == "postgres"
    with gzip.open(bundle / "control_plane" / RESTART / "history.jsonl.gz", "rt") as lines:
        kills = [json.loads(line)["value"] for line in lines if '"process_kill"' in line]
    assert [(k["signal"], k["returncode"]) for k in kills] == [("SIGKILL", -9)]


def test_a_stack_without_postgres_fails_the_control_plane_scenario_naming_the_fix(
        on_stack: SessionStack, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The same running services, recorded without PostgreSQL: what 'spine stack up --services kafka,s3,...' leaves.
    state = read_state(Path(on_stack.state.stack_dir))
    assert state is not None
    fake = tmp_path / "stack-without-postgres"
    fake.mkdir()
    shutil.copy(state.registry_path, fake / Path(state.registry_path).name)
    document = state.to_json()
    del document["services"]["postgres"]
    document["stack_dir"] = str(fake)
    (fake / "state.json").write_text(json.dumps(document))
    monkeypatch.setenv(STACK_DIR_ENV, str(fake))
    result, bundle = _suite(pytester, RESTART, None)
    result.assert_outcomes(failed=1)
    outcome = json.loads((bundle / "scenarios" / f"{RESTART}-seed=3" / "result.json").read_text())
    workload = next(c for c in outcome["checks"] if c["id"] == f"{RESTART}/workload")
    assert workload["status"] == "FAIL"
    assert f"the local stack in {fake} runs no PostgreSQL" in workload["reason"]
    assert f"'spine stack up --dir {fake}'" in workload["reason"]
