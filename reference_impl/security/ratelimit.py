"""Token buckets per node (seed 002: burst 100, sustain 10 commands/s, configurable).

Tokens are counted in integer nano-tokens and time in integer microseconds, so the number a flood admits is
exact and reproducible on an injected clock (no float drift at the boundary of a refill).
"""

from __future__ import annotations

from dataclasses import dataclass

_NANO = 1_000_000_000
_MAX_NODES = 65_536


@dataclass(slots=True)
class _Bucket:
    nano_tokens: int
    last_us: int


class TokenBuckets:
    def __init__(self, burst: int = 100, sustain_per_s: float = 10.0, *, refills: bool = True,
                 max_nodes: int = _MAX_NODES) -> None:
        self._capacity = burst * _NANO
        self._milli_rate = round(sustain_per_s * 1000)  # nano-tokens per microsecond = milli-tokens per second
        self._buckets: dict[str, _Bucket] = {}
        self._refills = refills  # False only for the mutant bucket_never_refills
        self._max_nodes = max_nodes
        self.evicted = 0

    def take(self, node: str, now: float) -> bool:
        now_us = round(now * 1_000_000)
        bucket = self._buckets.get(node)
        if bucket is None:
            if len(self._buckets) >= self._max_nodes:
                self._make_room(now_us)
            bucket = self._buckets[node] = _Bucket(self._capacity, now_us)
        elif self._refills and now_us > bucket.last_us:
            refill = (now_us - bucket.last_us) * self._milli_rate
            bucket.nano_tokens = min(self._capacity, bucket.nano_tokens + refill)
            bucket.last_us = now_us
        elif not self._refills:
            bucket.last_us = max(bucket.last_us, now_us)
        if bucket.nano_tokens >= _NANO:
            bucket.nano_tokens -= _NANO
            return True
        return False

    def _make_room(self, now_us: int) -> None:
        # A bucket that would be full again is indistinguishable from a new one: forgetting those changes no
        # decision. If a flood of fresh node ids leaves none to forget, the oldest-created bucket goes (that node
        # starts over with a full bucket): memory stays bounded at max_nodes buckets either way.
        full_after_us = self._capacity // max(1, self._milli_rate)
        for node in [n for n, b in self._buckets.items() if now_us - b.last_us >= full_after_us]:
            del self._buckets[node]
        while len(self._buckets) >= self._max_nodes:
            del self._buckets[next(iter(self._buckets))]
            self.evicted += 1

    def __len__(self) -> int:
        return len(self._buckets)

    def tokens(self, node: str) -> float:
        bucket = self._buckets.get(node)
        return self._capacity / _NANO if bucket is None else bucket.nano_tokens / _NANO
