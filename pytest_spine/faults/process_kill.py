"""The ``process_kill`` kind: SIGKILL a consumer process of the target at a named place in its code.

Parameters: ``process`` (``rtdl`` or ``decision_lane``), ``point`` (a fault point the process hits, e.g.
``rtdl.before_state_write``), ``at_hit`` (the N-th matching hit of the point, default 1), ``match`` (context
fields the hit must carry, e.g. ``{kind: decision_input}``) and ``times`` (how many processes in a row are
killed there, default 1). The driver starts the process with a pause knob at that point; when the process
announces it stopped there it is SIGKILLed (no shutdown hook, no commit) and the workload sees the consumer
crash and restarts it. Each kill is a ``process_kill`` operation with the pid, the signal and the exit status.

Rollback (``disarm_and_stop``): the kills not yet done are disarmed and any process of that kind still
running (possibly paused at the point) is stopped and recorded, so nothing is left running; the next
consume starts a clean one. Only a driver with the ``process_faults`` capability (local_parity's, whose
consumers are real processes) can run these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, cast

from pytest_spine.faults.base import register_fault_kind
from pytest_spine.scenarios.driver import ChaosDriver

CAPABILITY = "process_faults"
PROCESSES = ("rtdl", "decision_lane")
_POINT = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
_KEYS = frozenset({"process", "point", "at_hit", "times", "match"})


class ProcessDriver(Protocol):
    """What a driver with ``process_faults`` offers."""

    def arm_process_kill(self, process: str, point: str, *, at_hit: int, times: int,
                         match: Mapping[str, Any]) -> None: ...

    def disarm_process_kill(self, process: str) -> None: ...


def _count(params: Mapping[str, Any], key: str) -> tuple[str, str] | None:
    value = params.get(key, 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return key, f"must be a positive count, given: {value!r}"
    return None


class ProcessKillKind:
    name = "process_kill"
    rollbacks = frozenset({"disarm_and_stop"})
    needs = frozenset({CAPABILITY})

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for key in sorted(set(params) - _KEYS):
            problems.append((key, f"unknown parameter {key!r}; process_kill takes {', '.join(sorted(_KEYS))}"))
        if params.get("process") not in PROCESSES:
            problems.append(("process", f"must name a consumer process ({', '.join(PROCESSES)}), given: "
                                        f"{params.get('process')!r}"))
        point = params.get("point")
        if not isinstance(point, str) or not _POINT.match(point):
            problems.append(("point", f"must name a fault point like 'rtdl.before_state_write', given: {point!r}"))
        problems.extend(problem for key in ("at_hit", "times") if (problem := _count(params, key)) is not None)
        match = params.get("match")
        if match is not None and not isinstance(match, Mapping):
            problems.append(("match", f"must map context fields to values, given: {match!r}"))
        return problems

    def describe(self, params: Mapping[str, Any]) -> str:
        match = f" matching {dict(params['match'])}" if params.get("match") else ""
        times = int(params.get("times", 1))
        return (f"SIGKILL the {params.get('process')} process when it reaches {params.get('point')} for the "
                f"{_ordinal(int(params.get('at_hit', 1)))} time{match}; {times} process(es) in a row")

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None:
        cast(ProcessDriver, driver).arm_process_kill(
            str(params["process"]), str(params["point"]), at_hit=int(params.get("at_hit", 1)),
            times=int(params.get("times", 1)), match=dict(params.get("match") or {}))

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None:
        cast(ProcessDriver, driver).disarm_process_kill(str(params["process"]))


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


register_fault_kind(ProcessKillKind())
