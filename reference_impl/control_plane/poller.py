"""The command channel: a chat API with long-poll ``getUpdates`` and the poller that drains it.

The poller commits its offset only after the updates are handled, so a poller that dies in between
re-reads them (at-least-once delivery): update idempotency in the control plane makes that safe.
A poll timeout is retried with capped exponential backoff and jitter, never in a tight loop.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Protocol

from reference_impl.control_plane.plane import ControlPlane, Recorder
from reference_impl.control_plane.policy import RetryPolicy


class SleepClock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class PollTimeout(Exception):
    """The long poll returned nothing before its timeout (network stall, API hiccup)."""


class UpdateSource:
    """An in-memory chat API. Fault point: ``timeouts_armed`` polls time out before any update returns."""

    def __init__(self) -> None:
        self._updates: list[Mapping[str, Any]] = []
        self.timeouts_armed = 0

    def push(self, update: Mapping[str, Any]) -> None:
        self._updates.append(update)

    def get_updates(self, offset: int, limit: int = 100) -> list[Mapping[str, Any]]:
        if self.timeouts_armed > 0:
            self.timeouts_armed -= 1
            raise PollTimeout(f"getUpdates(offset={offset}) timed out")
        pending = [u for u in self._updates if isinstance(u.get("update_id"), int) and u["update_id"] >= offset]
        return pending[:limit]


class Poller:
    def __init__(self, source: UpdateSource, plane: ControlPlane, clock: SleepClock, recorder: Recorder,
                 *, seed: int = 0, retry: RetryPolicy | None = None, poll_timeout: float = 30.0,
                 mutant: str | None = None) -> None:
        self.source = source
        self.plane = plane
        self.clock = clock
        self.recorder = recorder
        self.offset = 0
        self.poll_timeout = poll_timeout
        self.retry = retry or RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=30.0, jitter=0.5)
        self._rng = random.Random(f"poller:{seed}")
        self.consecutive_timeouts = 0
        self.mutant = mutant
        self.gave_up = False

    def poll_once(self, *, crash_before_commit: bool = False) -> int:
        """One long poll; returns the number of updates handled, or -1 after a timeout."""
        if self.gave_up:
            return 0
        self.recorder.record("poller", "invoke", "cp_poll", at=self.clock.now(), offset=self.offset)
        try:
            updates = self.source.get_updates(self.offset)
        except PollTimeout as timeout:
            self.clock.sleep(self.poll_timeout)  # the long poll waited this long before giving up
            self.consecutive_timeouts += 1
            delay = self.retry.delay(min(self.consecutive_timeouts, 16), self._rng)
            self.recorder.record("poller", "info", "cp_poll", at=self.clock.now(), offset=self.offset,
                                 error=str(timeout), consecutive=self.consecutive_timeouts, backoff=delay)
            self.plane.store.append_log({"ts": self.clock.now(), "level": "warning", "event": "poll_timeout",
                                         "trace_id": None, "offset": self.offset, "backoff": delay,
                                         "consecutive": self.consecutive_timeouts})
            self.clock.sleep(delay)
            self.gave_up = self.mutant == "poll_gives_up"
            return -1
        self.consecutive_timeouts = 0
        for update in updates:
            self.plane.handle_update(update)
        new_offset = max((int(u["update_id"]) + 1 for u in updates), default=self.offset)
        self.recorder.record("poller", "ok", "cp_poll", at=self.clock.now(), offset=self.offset, count=len(updates),
                             next_offset=self.offset if crash_before_commit else new_offset)
        if not crash_before_commit:
            self.offset = new_offset
        return len(updates)

    def drain(self, max_polls: int = 64) -> int:
        """Poll until a poll returns nothing (timeouts are retried); returns the updates handled."""
        handled = 0
        for _ in range(max_polls):
            count = self.poll_once()
            if count == 0:
                break
            handled += max(count, 0)
        return handled
