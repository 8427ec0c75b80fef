"""Injectable time, randomness and ids, so every failing run replays from the seed it prints."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """A clock that only moves when told: sleeps advance it instantly."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a ManualClock cannot go back in time, given: {seconds}")
        self._now += seconds
        self._mono += seconds


def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 UTC with microseconds and a Z, the form every evidence file uses."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_platform_run_id(clock: Clock, seed: int) -> str:
    """A UTC-timestamped run id with a seeded suffix: sortable, and reproducible from (clock, seed)."""
    stamp = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = hashlib.sha256(f"{stamp}:{seed}".encode()).hexdigest()[:8]
    return f"platform_{stamp}_{suffix}"


def seeded_random(seed: int, *scope: str) -> random.Random:
    """An independent random stream per scope, all derived from one seed."""
    material = ":".join((str(seed), *scope)).encode()
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))
