"""Background service processes: start detached with a log file, recognise them again later by pid *and*
start time (so a recycled pid is never killed), stop them politely then firmly, and read their log tail."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import EnvironmentFault

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _reap_exited_children() -> None:
    """Collect the exit status of children stopped by another path (``spine stack down`` in another process, a
    kill by command line): otherwise Python reports each at exit as "subprocess N is still running". Services
    still running are left alone: they are meant to outlive this process."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A process the stack started: enough to find it again from another `spine` invocation."""

    name: str
    pid: int
    start_ticks: int  # /proc/<pid>/stat field 22: distinguishes our process from a later one on the same pid
    log_path: str
    argv: tuple[str, ...]


def _start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after the last ')' are fixed.
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    """True when the recorded process (same pid, same start time) is alive and not a zombie."""
    ticks = _start_ticks(record.pid)
    if ticks is None or ticks != record.start_ticks:
        return False
    try:
        state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def spawn(name: str, argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> ProcessRecord:
    """Start ``argv`` in its own session (it outlives the `spine` command), output appended to the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log_path.open("ab") as log:
        try:
            proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=cwd, env=full_env, start_new_session=True)
        except OSError as error:
            raise EnvironmentFault(f"cannot start {name} ({argv[0]}): {error}") from None
    ticks = _start_ticks(proc.pid)
    # Keep the Popen object: dropping it while the child runs raises a ResourceWarning, and it reaps cleanly.
    _CHILDREN[proc.pid] = proc
    return ProcessRecord(name, proc.pid, ticks if ticks is not None else -1, str(log_path), tuple(argv))


def stop(record: ProcessRecord, *, grace_s: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after ``grace_s``; returns False when it was not running (idempotent)."""
    if not is_running(record):
        _reap(record.pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_running(record):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    for _ in range(50):
        _reap(record.pid)
        if not is_running(record):
            break
        time.sleep(0.1)
    return True


def kill(record: ProcessRecord) -> bool:
    """SIGKILL at once (a crash, for chaos); returns False when it was not running."""
    if not is_running(record):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    for _ in range(50):
        _reap(record.pid)
        if not is_running(record):
            break
        time.sleep(0.05)
    return True


def sigkill(record: ProcessRecord, *, timeout_s: float = 10.0) -> int | None:
    """SIGKILL a process this interpreter started and wait for it: its exit status as the OS reports it
    (``-9``: killed by SIGKILL), or None when it was not running or is not our child."""
    child = _CHILDREN.get(record.pid)
    if child is None or not is_running(record):
        kill(record)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    try:
        code = child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    _CHILDREN.pop(record.pid, None)
    return code


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for processes started by another `spine` call this is a no-op.
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def exit_code(record: ProcessRecord) -> int | None:
    """The exit code of a process this interpreter started, once it has exited (else None)."""
    child = _CHILDREN.get(record.pid)
    if child is None:
        return None
    code = child.poll()
    if code is not None:
        del _CHILDREN[record.pid]
    return code


def log_tail(path: str | Path, lines: int = 30) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(ready: Callable[[], bool], *, record: ProcessRecord, what: str, timeout_s: float,
               interval_s: float = 0.25) -> float:
    """Poll ``ready`` until true; fail with the log tail if the process dies or the timeout passes.

    Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout_s
    last_error = ""
    while True:
        try:
            if ready():
                return time.monotonic() - started
        except Exception as error:  # readiness probes raise while the service boots; keep the last reason
            last_error = f"{type(error).__name__}: {error}"
        if not is_running(record):
            _reap(record.pid)
            raise EnvironmentFault(
                f"{record.name} (pid {record.pid}) exited before {what}; last probe error: {last_error or '-'}; "
                f"log {record.log_path} ends:\n{log_tail(record.log_path)}")
        if time.monotonic() >= deadline:
            raise EnvironmentFault(
                f"{record.name} (pid {record.pid}) was not ready ({what}) within {timeout_s:.0f}s; "
                f"last probe error: {last_error or '-'}; log {record.log_path} ends:\n{log_tail(record.log_path)}")
        time.sleep(interval_s)
