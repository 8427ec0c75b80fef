"""An in-memory bus with Kafka semantics: partitioned topics, stable key hashing, per-partition offsets,
consumer-group positions and commits (a commit is the next offset to read)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from reference_impl.faultpoints import FaultPoints
from reference_impl.ports import BusRecord


class UnknownTopic(KeyError):
    def __init__(self, topic: str, known: list[str]) -> None:
        super().__init__(f"topic {topic!r} does not exist; known topics: {known}; create it first")

    def __str__(self) -> str:
        return str(self.args[0])


def partition_for(key: str, partitions: int) -> int:
    # sha256, not hash(): Python's string hash is salted per process and would move keys between runs.
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % partitions


class InMemoryBus:
    def __init__(self, faults: FaultPoints | None = None) -> None:
        self.faults = faults or FaultPoints()
        self._logs: dict[str, list[list[BusRecord]]] = {}
        self._positions: dict[tuple[str, str, int], int] = {}
        self._commits: dict[tuple[str, str, int], int] = {}
        self._lock = threading.RLock()

    def _partitions(self, topic: str) -> list[list[BusRecord]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise UnknownTopic(topic, sorted(self._logs)) from None

    def create_topic(self, topic: str, partitions: int) -> None:
        if partitions < 1:
            raise ValueError(f"topic {topic!r}: partitions must be >= 1, given: {partitions}")
        with self._lock:
            existing = self._logs.get(topic)
            if existing is not None and len(existing) != partitions:
                raise ValueError(f"topic {topic!r} exists with {len(existing)} partitions, asked {partitions}")
            self._logs.setdefault(topic, [[] for _ in range(partitions)])

    def delete_topic(self, topic: str) -> None:
        with self._lock:
            self._logs.pop(topic, None)

    def topics(self) -> Mapping[str, int]:
        with self._lock:
            return {name: len(parts) for name, parts in self._logs.items()}

    def produce(self, topic: str, key: str, value: Mapping[str, Any],
                headers: Mapping[str, str] | None = None) -> tuple[int, int]:
        with self._lock:
            parts = self._partitions(topic)
            partition = partition_for(key, len(parts))
        self.faults.hit("bus.produce.before_append", topic=topic, key=key, partition=partition)
        with self._lock:
            log = parts[partition]
            offset = len(log)
            log.append(BusRecord(topic, partition, offset, key, dict(value), dict(headers or {})))
        self.faults.hit("bus.produce.after_append", topic=topic, key=key, partition=partition, offset=offset)
        return partition, offset

    def end_offsets(self, topic: str) -> Mapping[int, int]:
        with self._lock:
            return {p: len(log) for p, log in enumerate(self._partitions(topic))}

    def start_offsets(self, topic: str) -> Mapping[int, int]:
        with self._lock:
            return dict.fromkeys(range(len(self._partitions(topic))), 0)

    def read(self, topic: str, partition: int, offset: int) -> BusRecord | None:
        """Read one record by position (what a fresh consumer assigned to it would see)."""
        with self._lock:
            log = self._partitions(topic)[partition]
            return log[offset] if 0 <= offset < len(log) else None

    def poll(self, group: str, topic: str, max_records: int = 500) -> list[BusRecord]:
        out: list[BusRecord] = []
        with self._lock:
            for partition, log in enumerate(self._partitions(topic)):
                slot = (group, topic, partition)
                position = self._positions.get(slot, self._commits.get(slot, 0))
                take = log[position:position + max(0, max_records - len(out))]
                out.extend(take)
                self._positions[slot] = position + len(take)
                if len(out) >= max_records:
                    break
        return out

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        self.faults.hit("bus.commit.before", group=group, topic=topic, partition=partition, offset=offset)
        with self._lock:
            self._partitions(topic)
            self._commits[(group, topic, partition)] = offset

    def committed(self, group: str, topic: str) -> Mapping[int, int]:
        with self._lock:
            return {p: self._commits[(group, topic, p)] for p in range(len(self._partitions(topic)))
                    if (group, topic, p) in self._commits}

    def seek(self, group: str, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            self._partitions(topic)
            self._positions[(group, topic, partition)] = offset

    def reset_positions(self, group: str) -> None:
        """Forget a group's in-memory positions: a restarted consumer resumes from its commits."""
        with self._lock:
            for slot in [s for s in self._positions if s[0] == group]:
                del self._positions[slot]
