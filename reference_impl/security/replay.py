"""The replay window: every (author, nonce) seen within the skew window, sharded and time-bucketed so memory
stays bounded under a flood (seed 000 §5 risk "replay window memory growth": shard + time-bucket prune + cap).

* shard = hash(author, nonce) mod shards (the ``phash2(src, n)`` of seed 000 §6);
* bucket = message ``ts_ms`` // bucket width; a bucket older than ``now - skew`` is pruned as a whole, because
  any message of that age is already refused by the skew check, so remembering it buys nothing;
* hard cap: a shard holds at most ``cap // shards`` entries; inserting into a full shard first drops its oldest
  bucket (counted as ``evicted``). Entries lost that way are still covered by the per-author nonce high-water
  mark, which is why the cap is safe.

Memory bound: at most ``cap`` entries (``shards * (cap // shards)``), whatever the flood.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Shard:
    index: dict[int, int] = field(default_factory=dict)          # key -> bucket id
    buckets: dict[int, list[int]] = field(default_factory=dict)  # bucket id -> keys
    order: list[int] = field(default_factory=list)               # bucket ids, ascending


class ReplayWindow:
    def __init__(self, skew_s: float = 30.0, bucket_s: float = 1.0, shards: int = 16, cap: int = 262_144,
                 *, bounded: bool = True) -> None:
        self._skew_ms = int(skew_s * 1000)
        self._bucket_ms = max(1, int(bucket_s * 1000))
        self._shards = [_Shard() for _ in range(shards)]
        self._per_shard = max(1, cap // shards)
        self._bounded = bounded  # False only for the mutant unbounded_replay_memory
        self.evicted = 0
        self.pruned = 0

    @property
    def bound(self) -> int:
        """The most entries the window can ever hold."""
        return self._per_shard * len(self._shards)

    @staticmethod
    def key(author: str, nonce: int) -> int:
        digest = hashlib.blake2b(f"{author}\x00{nonce}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    def seen_or_add(self, author: str, nonce: int, ts_ms: int, now: float) -> bool:
        """True when (author, nonce) is already in the window (a replay); otherwise remember it."""
        key = self.key(author, nonce)
        shard = self._shards[key % len(self._shards)]
        if self._bounded:
            self._prune(shard, int(now * 1000) - self._skew_ms)
        if key in shard.index:
            return True
        if self._bounded and len(shard.index) >= self._per_shard:
            self.evicted += self._drop_bucket(shard, shard.order[0])
        bucket = ts_ms // self._bucket_ms
        keys = shard.buckets.get(bucket)
        if keys is None:
            keys = shard.buckets[bucket] = []
            bisect.insort(shard.order, bucket)
        keys.append(key)
        shard.index[key] = bucket
        return False

    def _prune(self, shard: _Shard, cutoff_ms: int) -> None:
        limit = cutoff_ms // self._bucket_ms
        while shard.order and shard.order[0] < limit:
            self.pruned += self._drop_bucket(shard, shard.order[0])

    @staticmethod
    def _drop_bucket(shard: _Shard, bucket: int) -> int:
        keys = shard.buckets.pop(bucket, [])
        shard.order.remove(bucket)
        for key in keys:
            if shard.index.get(key) == bucket:
                del shard.index[key]
        return len(keys)

    def __len__(self) -> int:
        return sum(len(shard.index) for shard in self._shards)
