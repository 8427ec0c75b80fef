"""Named fault-injection points. Components call ``faults.hit(point, **context)`` at the places where a
real system can fail; a test or chaos engine arms a point with an action for N hits and disarms it
(rollback). An unarmed hit costs one dict lookup."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.errors import UnknownFaultPoint

KNOWN_POINTS: frozenset[str] = frozenset({
    "bus.produce.before_append",
    # Raising PublishTimeout here = the broker appended but the client never heard: publish ambiguity.
    "bus.produce.after_append",
    "bus.commit.before",
    "store.put.before",
    "store.delete.before",
    "ig.before_publish",
    "rtdl.before_state_write",
    "rtdl.after_state_write",
    "rtdl.before_commit",
    "decision_lane.before_action",
    "decision_lane.before_commit",
    "reporter.before_closure",
    "wsp.before_send",
})

FaultAction = BaseException | type[BaseException] | Callable[[Mapping[str, Any]], None]


@dataclass(slots=True)
class ArmedFault:
    point: str
    action: FaultAction
    remaining: int | None  # None = until disarmed
    when: Callable[[Mapping[str, Any]], bool] | None = None
    fired: int = 0


class FaultPoints:
    def __init__(self) -> None:
        self._armed: dict[str, list[ArmedFault]] = {}
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def arm(self, point: str, action: FaultAction, *, times: int | None = 1,
            when: Callable[[Mapping[str, Any]], bool] | None = None) -> ArmedFault:
        """Arm ``point``: for the next ``times`` matching hits (None: until disarmed) run ``action``:
        raise it when it is an exception (instance or class), else call it with the hit's context."""
        if point not in KNOWN_POINTS:
            raise UnknownFaultPoint(point, KNOWN_POINTS)
        if times is not None and times < 1:
            raise ValueError(f"fault point {point!r}: times must be >= 1 or None, given: {times}")
        armed = ArmedFault(point, action, times, when)
        with self._lock:
            self._armed.setdefault(point, []).append(armed)
        return armed

    def disarm(self, point: str | None = None) -> None:
        """Roll back: disarm one point, or every point when ``point`` is None."""
        with self._lock:
            if point is None:
                self._armed.clear()
            else:
                self._armed.pop(point, None)

    def armed(self) -> list[str]:
        with self._lock:
            return sorted(p for p, faults in self._armed.items() if faults)

    def hits(self, point: str) -> int:
        return self._hits[point]

    def hit(self, point: str, **context: Any) -> None:
        self._hits[point] += 1
        if point not in self._armed:
            return
        with self._lock:
            chosen: ArmedFault | None = None
            for armed in self._armed.get(point, []):
                if armed.when is None or armed.when(context):
                    chosen = armed
                    break
            if chosen is None:
                return
            chosen.fired += 1
            if chosen.remaining is not None:
                chosen.remaining -= 1
                if chosen.remaining <= 0:
                    self._armed[point].remove(chosen)
                    if not self._armed[point]:
                        del self._armed[point]
        action = chosen.action
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, type):
            raise action(f"fault injected at {point}")
        action(context)
