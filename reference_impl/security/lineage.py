"""UUIDv7 lineage ids (RFC 9562), monotonic within a millisecond (seed 000 §6: "maintain last_ts & seq; if same
ms increment seq + WARN on clock regress").

Layout: 48-bit Unix milliseconds, version 7, a 12-bit sequence in ``rand_a`` (0 at each new millisecond,
incremented within one; on overflow the timestamp borrows the next millisecond), variant 0b10 and 62 seeded
random bits. When the clock goes back, the last timestamp is kept (so ids stay ordered) and ``on_regress`` is
called once per regress episode with (last_ms, now_ms) (not again until the clock has caught up, so a caller may
mint ids for its warning while the clock is still behind).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Protocol


class _Clock(Protocol):
    def now(self) -> float: ...


class LineageIds:
    def __init__(self, clock: _Clock, seed: int = 0, on_regress: Callable[[int, int], None] | None = None,
                 *, version7: bool = True) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._on_regress = on_regress
        self._last_ms = -1   # timestamp of the last id (may run ahead of the clock after an overflow)
        self._clock_ms = -1  # highest clock reading seen
        self._seq = 0
        self._v7 = version7  # False only for the mutant lineage_not_v7
        self._regressing = False
        self.regressions = 0

    def new(self) -> str:
        if not self._v7:
            return str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        now_ms = int(self._clock.now() * 1000)
        # A regress is the clock going back, not an id running ahead of the clock after a sequence overflow.
        if now_ms < self._clock_ms:
            if not self._regressing:
                self._regressing = True
                self.regressions += 1
                if self._on_regress is not None:
                    self._on_regress(self._clock_ms, now_ms)
        else:
            self._clock_ms = now_ms
            self._regressing = False
        if now_ms > self._last_ms:
            self._last_ms, self._seq = now_ms, 0
        else:
            self._seq += 1
            if self._seq > 0xFFF:
                self._last_ms, self._seq = self._last_ms + 1, 0
        value = (self._last_ms & (2**48 - 1)) << 80
        value |= 0x7 << 76
        value |= self._seq << 64
        value |= 0b10 << 62
        value |= self._random.getrandbits(62)
        return str(uuid.UUID(int=value))


def is_uuid7(text: object) -> bool:
    """A canonical (lowercase, hyphenated) RFC 9562 UUID of version 7."""
    if not isinstance(text, str) or len(text) != 36:
        return False
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return False
    return str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def uuid7_millis(text: str) -> int:
    return uuid.UUID(text).int >> 80
