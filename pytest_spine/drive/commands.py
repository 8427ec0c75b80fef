"""Declared platform commands (the registry's ``platform.commands``): run without a shell, with a timeout,
their exit status and the tail of their output recorded in the History (the bundle redacts secrets)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_spine.errors import EnvironmentFault

OUTPUT_TAIL = 8192


class Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class CommandResult:
    name: str
    argv: tuple[str, ...]
    exit_status: int | None  # None: killed at the timeout
    seconds: float
    output_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def expand(argv: Sequence[str], values: Mapping[str, str]) -> tuple[str, ...]:
    """Fill ``{platform_run_id}``-style placeholders; an unknown placeholder is a clear error."""
    out = []
    for arg in argv:
        try:
            out.append(arg.format(**values))
        except (KeyError, IndexError, ValueError) as error:
            raise EnvironmentFault(f"the platform command argument {arg!r} has a placeholder that is not one of "
                                   f"{', '.join('{' + k + '}' for k in sorted(values))}: {error}") from None
    return tuple(out)


def run_command(name: str, argv: Sequence[str], *, timeout_s: float, recorder: Recorder | None,
                env: Mapping[str, str] | None = None, cwd: str | None = None) -> CommandResult:
    """Run one declared command to its end (or its timeout, then its whole process group is killed)."""
    argv = tuple(argv)
    if recorder is not None:
        recorder.record("harness-commands", "invoke", "platform_command", name=name, argv=list(argv))
    started = time.monotonic()
    try:
        process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    except OSError as error:
        if recorder is not None:
            recorder.record("harness-commands", "fail", "platform_command", name=name, error=str(error))
        raise EnvironmentFault(f"the platform command {name!r} ({argv[0]}) could not be started: {error.strerror}; "
                               "fix platform.commands in the registry") from None
    try:
        output, _ = process.communicate(timeout=timeout_s)
        status: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        status = None
    except BaseException:
        _kill_group(process)  # an interrupt must not leave the platform's command running on its own
        process.wait()
        raise
    tail = (output or b"")[-OUTPUT_TAIL:].decode("utf-8", errors="replace")
    result = CommandResult(name, argv, status, time.monotonic() - started, tail)
    if recorder is not None:
        recorder.record("harness-commands", "ok" if result.ok else ("info" if status is None else "fail"),
                        "platform_command", name=name, exit_status=status, seconds=round(result.seconds, 3),
                        output_tail=tail[-2000:])
    return result


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
