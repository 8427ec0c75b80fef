from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.processes import free_port, is_running, kill, log_tail, port_open, spawn, stop, wait_until


def test_spawned_process_is_recognised_stopped_and_stopping_again_is_a_no_op(tmp_path: Path) -> None:
    record = spawn("sleeper", [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                   tmp_path / "sleeper.log")
    assert is_running(record) is True
    assert stop(record, grace_s=5.0) is True
    assert is_running(record) is False
    assert stop(record) is False


def test_a_recycled_pid_is_never_taken_for_ours(tmp_path: Path) -> None:
    record = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    impostor = replace(record, start_ticks=record.start_ticks + 1)
    try:
        assert is_running(impostor) is False
        assert stop(impostor) is False  # and it was not signalled:
        assert is_running(record) is True
    finally:
        assert kill(record) is True
    assert is_running(record) is False


def test_wait_until_fails_with_the_log_tail_when_the_service_dies(tmp_path: Path) -> None:
    record = spawn("crasher", [sys.executable, "-c", "print('bad config: listeners'); raise SystemExit(3)"],
                   tmp_path / "crasher.log")
    with pytest.raises(EnvironmentFault) as caught:
        wait_until(lambda: False, record=record, what="it answers", timeout_s=30.0, interval_s=0.05)
    message = str(caught.value)
    assert f"crasher (pid {record.pid}) exited before it answers" in message
    assert "bad config: listeners" in message


def test_wait_until_times_out_with_the_last_probe_error(tmp_path: Path) -> None:
    record = spawn("mute", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "mute.log")

    def probe() -> bool:
        raise ConnectionRefusedError("nothing on 127.0.0.1:1")

    try:
        with pytest.raises(EnvironmentFault, match=r"was not ready \(port open\) within 0s; last probe error: "
                                                   r"ConnectionRefusedError: nothing on 127.0.0.1:1"):
            wait_until(probe, record=record, what="port open", timeout_s=0.2, interval_s=0.05)
    finally:
        stop(record)


def test_free_port_is_free_and_log_tail_of_a_missing_file_says_so(tmp_path: Path) -> None:
    assert port_open(free_port()) is False
    assert log_tail(tmp_path / "none.log") == f"(no log at {tmp_path / 'none.log'})"


def test_a_child_stopped_by_another_path_is_reaped_at_exit(tmp_path: Path) -> None:
    import signal as _signal

    from pytest_spine.stack import processes

    record = processes.spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s.log")
    os.kill(record.pid, _signal.SIGKILL)  # as `spine stack down` in another process would
    child = processes._CHILDREN[record.pid]
    for _ in range(100):
        if Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert child.returncode is None  # a zombie nobody has waited for: Python would warn at exit

    processes._reap_exited_children()

    assert child.returncode == -9 and record.pid not in processes._CHILDREN
