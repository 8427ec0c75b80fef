"""The ``fault_point`` kind: arm a named fault point of the target's store and bus adapters (and its
components) with an error or a delay for N hits, and disarm it on rollback.

On the reference target the points are ``reference_impl.faultpoints.KNOWN_POINTS`` (for example
``bus.produce.after_append``: the broker appended but the acknowledgement never came back, which is how
publish ambiguity is injected). Faults are injected there, never by patching the checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pytest_spine.faults.base import register_fault_kind
from pytest_spine.scenarios.driver import ChaosDriver

_POINT = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
# Error names every driver is asked to map to its own exception types.
ERRORS = frozenset({"publish_timeout", "timeout", "connection_error", "crash", "state_write_error",
                    "access_denied"})
_KEYS = frozenset({"point", "error", "delay_s", "times", "match"})


class FaultPointKind:
    name = "fault_point"
    rollbacks = frozenset({"disarm"})
    needs = frozenset({"fault_points"})

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for key in sorted(set(params) - _KEYS):
            problems.append((key, f"unknown parameter {key!r}; fault_point takes {', '.join(sorted(_KEYS))}"))
        point = params.get("point")
        if not isinstance(point, str) or not _POINT.match(point):
            problems.append(("point", f"must name a fault point like 'bus.produce.after_append', given: {point!r}"))
        error, delay = params.get("error"), params.get("delay_s")
        if (error is None) == (delay is None):
            problems.append(("error", "give exactly one of 'error' (an error name) or 'delay_s' (seconds)"))
        if error is not None and error not in ERRORS:
            problems.append(("error", f"unknown error {error!r}; choose one of {', '.join(sorted(ERRORS))}"))
        if delay is not None and (not isinstance(delay, int | float) or isinstance(delay, bool) or delay <= 0):
            problems.append(("delay_s", f"must be a positive number of seconds, given: {delay!r}"))
        times = params.get("times", 1)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            problems.append(("times", f"must be a positive count or null (until rolled back), given: {times!r}"))
        match = params.get("match")
        if match is not None and not isinstance(match, Mapping):
            problems.append(("match", f"must map context fields to values, given: {match!r}"))
        return problems

    def describe(self, params: Mapping[str, Any]) -> str:
        what = f"raise {params['error']}" if params.get("error") else f"delay {params.get('delay_s')}s"
        times = params.get("times", 1)
        count = "until rolled back" if times is None else f"for {times} hit(s)"
        match = f" when {dict(params['match'])}" if params.get("match") else ""
        return f"fault point {params.get('point')}: {what} {count}{match}"

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None:
        driver.arm(str(params["point"]), error=params.get("error"), delay_s=params.get("delay_s"),
                   times=params.get("times", 1), match=params.get("match"))

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None:
        driver.disarm(str(params["point"]))


register_fault_kind(FaultPointKind())
