"""Per-author u64 nonce high-water marks with an out-of-order window (seed 002: "persist high-water mark per
author; reject stale values").

The rule, per author, with ``hwm`` the highest nonce admitted so far and ``W`` the window:

* ``nonce > hwm``: fresh; the mark moves up to ``nonce``;
* ``hwm - W < nonce <= hwm``: out of order; admitted once (a bit per position remembers it), then duplicate;
* ``nonce <= hwm - W``: stale, rejected;
* **wraparound is never accepted.** Nonces are plain unsigned 64-bit integers compared as numbers, not modulo
  2**64: after ``2**64 - 1`` an author's nonce space is spent and every further message is stale or duplicate;
  the author must be given a new key/author id. A small nonce arriving after a mark near the top is stale,
  however "wrapped" it may look.

The state is tiny (two integers per author) and survives a restart through ``snapshot``/``restore``: that is
what rejects a replay after a restart, when the in-memory replay window is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reference_impl.security.canonical import MAX_U64

_WRAP_ZONE = 2**32


@dataclass(slots=True)
class _Mark:
    hwm: int
    seen: int  # bit i set: nonce hwm - i was admitted


class NonceTracker:
    def __init__(self, window: int = 1024, *, check_seen: bool = True, accept_wraparound: bool = False) -> None:
        self._window = window
        self._marks: dict[str, _Mark] = {}
        # The two switches exist only for the mutants no_replay_window and nonce_wraparound_accepts_stale.
        self._check_seen = check_seen
        self._accept_wraparound = accept_wraparound

    def check(self, author: str, nonce: int) -> str:
        """``fresh``, ``out_of_order`` (both admitted and remembered) or ``duplicate`` / ``stale`` (rejected)."""
        mark = self._marks.get(author)
        if mark is None:
            self._marks[author] = _Mark(nonce, 1)
            return "fresh"
        if nonce > mark.hwm:
            shift = nonce - mark.hwm
            mark.seen = ((mark.seen << shift) | 1) & ((1 << self._window) - 1) if shift < self._window else 1
            mark.hwm = nonce
            return "fresh"
        if (self._accept_wraparound and mark.hwm > MAX_U64 - _WRAP_ZONE and nonce < _WRAP_ZONE):
            self._marks[author] = _Mark(nonce, 1)
            return "fresh"
        offset = mark.hwm - nonce
        if offset >= self._window:
            return "stale"
        bit = 1 << offset
        if mark.seen & bit and self._check_seen:
            return "duplicate"
        mark.seen |= bit
        return "out_of_order"

    def high_water_mark(self, author: str) -> int | None:
        mark = self._marks.get(author)
        return None if mark is None else mark.hwm

    def snapshot(self) -> dict[str, list[int]]:
        return {author: [mark.hwm, mark.seen] for author, mark in self._marks.items()}

    def restore(self, state: Mapping[str, list[int]]) -> None:
        for author, pair in state.items():
            hwm, seen = int(pair[0]), int(pair[1])
            self._marks[str(author)] = _Mark(hwm, seen & ((1 << self._window) - 1))

    def authors(self) -> int:
        return len(self._marks)
