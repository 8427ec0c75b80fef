"""The quarantine trigger (seed 000 §1.1: default more than 3 sig_fail/s per node) with timed release and counter
decay (seed 000 §2 "Quarantine Auto-Reset").

Failures are kept per node in a sliding window; entries older than the window decay away. A node is quarantined
when more than ``threshold`` failures fall inside one window, and released ``release_s`` later, its counter
reset. Each state change is returned once, for the gate to emit as a ``security.quarantine`` event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StateChange:
    node: str
    state: str  # quarantined | released
    at: float
    failures_in_window: int


class Quarantine:
    def __init__(self, threshold: int = 3, window_s: float = 1.0, release_s: float = 30.0, *,
                 triggers: bool = True, releases: bool = True, max_nodes: int = 65_536) -> None:
        self._threshold = threshold
        self._window = window_s
        self._release = release_s
        self._failures: dict[str, deque[float]] = {}
        self._since: dict[str, float] = {}
        self._triggers = triggers  # False only for the mutant quarantine_never_triggers
        self._releases = releases  # False only for the mutant quarantine_never_releases
        self._max_nodes = max_nodes

    def failure(self, node: str, now: float) -> StateChange | None:
        if node in self._since:
            return None
        if node not in self._failures and len(self._failures) >= self._max_nodes:
            self._make_room(now)
        window = self._failures.setdefault(node, deque())
        window.append(now)
        while window and window[0] <= now - self._window:
            window.popleft()
        if self._triggers and len(window) > self._threshold:
            self._since[node] = now
            return StateChange(node, "quarantined", now, len(window))
        if not window:
            del self._failures[node]
        return None

    def _make_room(self, now: float) -> None:
        # Counters whose failures have all decayed mean nothing; if a flood of node ids leaves none, the
        # oldest-created counter goes. Quarantined nodes are kept in ``_since`` whatever happens here.
        for stale in [n for n, w in self._failures.items() if not w or w[-1] <= now - self._window]:
            del self._failures[stale]
        while len(self._failures) >= self._max_nodes:
            del self._failures[next(iter(self._failures))]

    def tracked(self) -> int:
        return len(self._failures)

    def status(self, node: str, now: float) -> tuple[bool, StateChange | None]:
        """(quarantined now?, the release if it happens at this call)."""
        since = self._since.get(node)
        if since is None:
            return False, None
        if self._releases and now - since >= self._release:
            del self._since[node]
            count = len(self._failures.pop(node, ()))
            return False, StateChange(node, "released", now, count)
        return True, None

    def quarantined(self) -> list[str]:
        return sorted(self._since)
