"""The reporter as a one-shot process on the real stack: two started together for one run, exactly one
takes the lock and writes the closure, the other fails closed naming the holder. Without the lock
discipline (reporter_without_lock) no lock names the closer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_spine.stack.consumers import ReporterRun, start_consumer, start_reporter, stop_consumer, wait_reporter
from pytest_spine.stack.processes import wait_until

if TYPE_CHECKING:
    from conftest import StackRun

pytestmark = pytest.mark.services

RTDL_TOPIC_KEYS = ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                   "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")
HOLDERS = ("reporter-a", "reporter-b")
FLOWS = 6


def race(stack_run: StackRun, base_dir: Path, mutations: list[str]) -> list[ReporterRun]:
    records = [start_reporter(stack_run.stack.state, stack_run.registry, platform_run_id=stack_run.run_id,
                              holder=holder, base_dir=base_dir, mutations=mutations) for holder in HOLDERS]
    return [wait_reporter(record, holder) for record, holder in zip(records, HOLDERS, strict=True)]


def test_two_concurrent_reporters_one_closes_the_other_fails_closed(stack_run: StackRun, tmp_path: Path) -> None:
    admitted = stack_run.send_flows(FLOWS, tmp_path / "gate")
    state, registry, run_id = stack_run.stack.state, stack_run.registry, stack_run.run_id
    for service, group, keys in (("rtdl", "RTDL_CORE_CONSUMER_GROUP_ID", RTDL_TOPIC_KEYS),
                                 ("decision_lane", "DECISION_LANE_CONSUMER_GROUP_ID", ("FP_BUS_RTDL_V1",))):
        handle = start_consumer(service, state, registry, platform_run_id=run_id, base_dir=tmp_path / service)
        try:
            wait_until(lambda g=group, k=keys: stack_run.caught_up(g, stack_run.topics(*k)),
                       record=handle.process, what=f"{service} committed every record", timeout_s=60.0)
        finally:
            stop_consumer(handle)
    runs = race(stack_run, tmp_path / "reporters", [])
    assert sorted(run.exit_code for run in runs) == [0, 4]
    winner = next(run for run in runs if run.exit_code == 0)
    loser = next(run for run in runs if run.exit_code == 4)
    assert f"held by {winner.holder!r}; {loser.holder!r} may not close the run" in loser.log
    assert "fail closed" in loser.log
    evidence = stack_run.evidence()
    assert sorted(evidence) == ["obs/reporter.lock", "run_completed.json", "run_report.json"]
    assert evidence["obs/reporter.lock"]["holder"] == winner.holder
    report = evidence["run_report.json"]
    assert (report["status"], report["holder"], report["platform_run_id"]) == ("GREEN", winner.holder, run_id)
    assert report["counts"] == {"rtdl_decision_inputs": len(admitted), "rtdl_skips": 0, "decisions": len(admitted),
                                "audit_records": len(admitted), "actions": len(admitted), "rtdl_lag": 0,
                                "decision_lane_lag": 0}
    completed = evidence["run_completed.json"]
    assert (completed["status"], completed["lock"]["holder"]) == ("COMPLETED", winner.holder)
    # Later, the same: the run has one closer, and even its own holder cannot write the closure twice.
    late = {run.holder: run for run in race(stack_run, tmp_path / "late", [])}
    assert (late[winner.holder].exit_code, late[loser.holder].exit_code) == (5, 4)
    assert "run_report.json already written (write-once)" in late[winner.holder].log
    assert stack_run.evidence() == evidence


@pytest.mark.parametrize("mutant", [None, "reporter_without_lock"])
def test_the_single_writer_lock_names_the_one_closer(stack_run: StackRun, tmp_path: Path, mutant: str | None) -> None:
    runs = race(stack_run, tmp_path, [mutant] if mutant else [])
    codes = sorted(run.exit_code for run in runs)
    winner = next(run.holder for run in runs if run.exit_code == 0)
    evidence = stack_run.evidence()
    lock_holder = evidence.get("obs/reporter.lock", {}).get("holder")
    closer = evidence["run_completed.json"]["lock"]["holder"]
    # Nothing empty counts as complete: no consumer ran, yet every count is a figure read from the stack.
    assert evidence["run_report.json"]["counts"]["rtdl_decision_inputs"] == 0
    if mutant is None:
        assert (codes, lock_holder, closer) == ([0, 4], winner, winner)
    else:
        # Write-once closure files still stop the second writer, but no lock says who closes the run.
        assert (codes, lock_holder, closer) == ([0, 5], None, None)
    single_writer = (codes, lock_holder, closer) == ([0, 4], winner, winner)
    assert single_writer is (mutant is None)


def test_a_reporter_without_its_run_scope_fails_closed(stack_run: StackRun, tmp_path: Path) -> None:
    record = start_reporter(stack_run.stack.state, stack_run.registry, platform_run_id=stack_run.run_id,
                            holder="reporter-x", base_dir=tmp_path, required_platform_run_id="platform_other")
    run = wait_reporter(record, "reporter-x")
    assert run.exit_code == 3
    assert f"REQUIRED_PLATFORM_RUN_ID is 'platform_other' but the run is '{stack_run.run_id}'" in run.log
    assert stack_run.evidence() == {}
