"""The platform's daemons as detached processes: spawn, record in ``pids.json``, check, stop.

A pid is only ever signalled when its command line still names this platform's config (a recycled pid
belongs to someone else)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from miniplat.config import Config

PACKAGE_DIR = Path(__file__).resolve().parent
PIDS = "pids.json"
STOPPED = "pids.stopped.json"


def daemon_argv(cfg: Config, *args: str) -> list[str]:
    return [sys.executable, str(PACKAGE_DIR), *args, "--config", str(cfg.path)]


def spawn(cfg: Config, name: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    logs = cfg.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, close_fds=True, cwd=str(cfg.state_dir))
    return {"pid": proc.pid, "argv": argv, "log": str(log_path), "started_at": time.time()}


def read_pids(cfg: Config, name: str = PIDS) -> dict[str, Any]:
    path = cfg.state_dir / name
    if not path.exists():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def write_pids(cfg: Config, document: dict[str, Any]) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = cfg.state_dir / f".{PIDS}.tmp"
    tmp.write_text(json.dumps(document, indent=1))
    os.replace(tmp, cfg.state_dir / PIDS)


def ours(pid: int, config_path: str) -> bool:
    """The process is alive and is one of this config's daemons."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    if state == b"Z":
        return False
    # Between fork and exec a child's cmdline is still its parent's (or empty): not yet ours, but not gone.
    return config_path.encode() in cmdline or not any(cmdline)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, config_path: str, timeout_s: float = 15.0) -> bool:
    """SIGTERM the daemon's process group, SIGKILL it after ``timeout_s``; True when it is gone."""
    if not ours(pid, config_path):
        return True
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap(pid)
        if not ours(pid, config_path):
            return True
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        reap(pid)
        if not ours(pid, config_path):
            return True
        time.sleep(0.1)
    return not ours(pid, config_path)
