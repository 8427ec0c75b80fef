"""The consumer processes of a local_parity scenario, without a stack: their history lines are merged whole
and in order, a process paused at its kill point is really SIGKILLed (pid, signal and exit status recorded)
and the crash is raised, a rollback stops what is still running, and close() leaves nothing alive."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.handles import load_registry
from pytest_spine.history import History
from pytest_spine.scenarios.reference_driver import ConsumerCrash
from pytest_spine.stack.consumers import ConsumerHandle
from pytest_spine.stack.processes import ProcessRecord, is_running, spawn, stop
from pytest_spine.stack.state import StackState
from pytest_spine.targets.local_parity_consumers import ConsumerProcesses, KillPlan, prune_process_runs

REGISTRY = Path(__file__).resolve().parents[3] / "pytest_spine" / "data" / "handles" / "local_parity.yaml"


class _Store:
    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def list(self, bucket: str, prefix: str) -> list[str]:
        assert bucket == "fraud-platform-local-parity-archive"
        return [key for key in self.keys if key.startswith(prefix)]


def _processes(tmp_path: Path, store: Any = None) -> ConsumerProcesses:
    return ConsumerProcesses(state=StackState(str(tmp_path), "native", "t", str(REGISTRY), {}),
                             registry=load_registry(REGISTRY), platform_run_id="platform_t",
                             history=History(ManualClock()), truth_bus=None, truth_store=store, base_dir=tmp_path)


def _handle(tmp_path: Path, service: str, record: ProcessRecord | None = None,
            pause: bool = False) -> ConsumerHandle:
    record = record or ProcessRecord(service, 2**22 + 1, -1, str(tmp_path / f"{service}.log"), ())
    return ConsumerHandle(service, "", str(tmp_path / f"{service}.history.jsonl"), "",
                          str(tmp_path / f"{service}-1.paused.json") if pause else None, record)


def _line(who: str, f: str, **value: Any) -> str:
    return json.dumps({"time": 1.0, "process": who, "type": "ok", "f": f, "value": value}) + "\n"


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[ProcessRecord]:
    record = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"], tmp_path / "sleeper.log")
    yield record
    stop(record, grace_s=1.0)


def test_history_lines_are_merged_whole_upstream_first_and_once(tmp_path: Path) -> None:
    processes = _processes(tmp_path)
    processes.started = [_handle(tmp_path, "decision_lane"), _handle(tmp_path, "rtdl")]
    (tmp_path / "decision_lane.history.jsonl").write_text(_line("decision_lane", "consume", offset=0))
    (tmp_path / "rtdl.history.jsonl").write_text(
        _line("rtdl_core", "consume", offset=0) + _line("rtdl_core", "state_write", offset=0, process="x")
        + '{"time": 2.0, "process": "rtdl_core", "type": "ok", "f": "offset_')  # a line being written
    assert processes.merge() == 2
    ops = processes.history.operations()
    assert [(op.process, op.f) for op in ops] == [("rtdl_core", "consume"), ("rtdl_core", "state_write"),
                                                  ("decision_lane", "consume")]
    assert dict(ops[1].value) == {"offset": 0}  # a value key clashing with the operation's fields is dropped
    with (tmp_path / "rtdl.history.jsonl").open("a") as tail:
        tail.write('commit", "value": {"offset": 1}}\n')
    assert processes.merge() == 0
    assert [(op.f, dict(op.value)) for op in processes.history.operations()[3:]] == [("offset_commit", {"offset": 1})]
    assert processes.merge() == 0 and len(processes.history) == 4


def test_a_process_paused_at_its_point_is_sigkilled_and_the_crash_is_raised(tmp_path: Path,
                                                                         sleeper: ProcessRecord) -> None:
    processes = _processes(tmp_path)
    handle = _handle(tmp_path, "rtdl", sleeper, pause=True)
    processes.started, processes.running = [handle], {"rtdl": handle}
    processes.kills["rtdl"] = KillPlan("rtdl", "rtdl.before_state_write", 2, {"kind": "decision_input"}, 2)
    processes._kill_paused()  # not paused yet: nothing happens
    assert is_running(sleeper)
    context = {"kind": "decision_input", "key": "flow-1-tx", "topic": "fp.bus.traffic.fraud.v1", "partition": 0,
               "offset": 1}
    Path(str(handle.pause_path)).write_text(json.dumps({"point": "rtdl.before_state_write", "hit": 2,
                                                        "pid": sleeper.pid, "context": context}))
    with pytest.raises(ConsumerCrash, match=rf"rtdl process \(pid {sleeper.pid}\) SIGKILLed at "
                                            r"rtdl.before_state_write \(hit 2, fp.bus.traffic.fraud.v1\[0\] "
                                            r"offset 1\); exit status -9"):
        processes._kill_paused()
    assert not is_running(sleeper)
    kill = next(op for op in processes.history.operations() if op.f == "process_kill")
    assert (kill.process, kill.type) == ("nemesis", "ok")
    assert dict(kill.value) == {"service": "rtdl", "pid": sleeper.pid, "signal": "SIGKILL", "returncode": -9,
                                "point": "rtdl.before_state_write", "hit": 2, "context": context}
    assert (processes.kills["rtdl"].remaining, processes.kills["rtdl"].done) == (1, 1)
    assert processes.killed == ["rtdl"] and processes.running == {}


def test_rollback_stops_a_process_still_running_and_close_leaves_nothing_alive(tmp_path: Path,
                                                                               sleeper: ProcessRecord) -> None:
    processes = _processes(tmp_path)
    handle = _handle(tmp_path, "rtdl", sleeper, pause=True)
    processes.started, processes.running = [handle], {"rtdl": handle}
    processes.arm("rtdl", "rtdl.before_state_write", at_hit=2, times=1, match={})
    assert processes.armed() == ["process_kill:rtdl", f"process:rtdl pid {sleeper.pid}"]
    processes.disarm("rtdl")
    assert processes.armed() == [] and not is_running(sleeper)
    disarmed = [dict(op.value) for op in processes.history.operations() if op.f == "process_kill_disarmed"]
    assert disarmed == [{"service": "rtdl", "kills_done": 0, "kills_left": 1, "stopped_pid": sleeper.pid}]
    assert processes.close() == [] and processes.still_running() == []


def test_close_stops_every_process_it_started(tmp_path: Path, sleeper: ProcessRecord) -> None:
    processes = _processes(tmp_path)
    processes.started = [_handle(tmp_path, "decision_lane", sleeper)]  # started, no longer tracked as running
    assert processes.still_running() == [f"decision_lane pid {sleeper.pid}"]
    assert processes.close() == []
    assert not is_running(sleeper)


def test_an_unknown_process_cannot_be_armed(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="names 'gate', but this scenario runs the consumer processes rtdl, "
                                        "decision_lane"):
        _processes(tmp_path).arm("gate", "ig.before_publish", at_hit=1, times=1, match={})


def test_downstream_reads_the_archive_and_counts_executions(tmp_path: Path) -> None:
    prefix = "archive/platform_t/rtdl_core/decision_input/"
    store = _Store([prefix + "flow-1-tx.json", prefix + "flow%2F2-tx.json", "archive/platform_t/rtdl_core/x/y.json",
                    "archive/platform_other/rtdl_core/decision_input/flow-9-tx.json"])
    processes = _processes(tmp_path, store)
    assert processes.decision_inputs() == frozenset({"flow-1-tx", "flow/2-tx"})
    assert processes.max_executions_per_action() == 0
    for key in ("a", "b", "a"):
        processes.history.record("decision_lane", "ok", "action_execute", action_key=key)
    processes.history.record("decision_lane", "ok", "action_duplicate_prevented", action_key="b")
    assert processes.max_executions_per_action() == 2


def test_prune_process_runs_keeps_the_newest_runs_and_removes_the_rest(tmp_path: Path) -> None:
    import os

    for age, name in enumerate(["run-e", "run-d", "run-c", "run-b", "run-a"]):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "rtdl-1.log").write_text("log\n")
        os.utime(folder, (1_000_000 - age * 10, 1_000_000 - age * 10))  # run-e newest, run-a oldest
    (tmp_path / "stray-file.txt").write_text("not a run folder\n")

    removed = prune_process_runs(tmp_path, keep=2)

    assert sorted(p.name for p in removed) == ["run-a", "run-b", "run-c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-d", "run-e", "stray-file.txt"]
    assert prune_process_runs(tmp_path / "absent") == []
