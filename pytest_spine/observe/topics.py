"""The harness reads a platform's topics itself, with confluent-kafka, from every partition, between offsets
it brackets (the watermarks before and after a run, or a range the run's evidence names).

Nothing is committed: each read uses a fresh group id and ``enable.auto.commit=false``, so observing never
moves a platform's consumer group or changes what its consumers read.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pytest_spine.errors import EnvironmentFault

MAX_VALUE_BYTES = 1 << 20
_LOG = logging.getLogger("pytest_spine.observe.kafka")

TopicPartitionKey = tuple[str, int]


class TopicRecord(NamedTuple):
    """One record as read (a NamedTuple: immutable like a frozen dataclass, and built at a third of its cost
    in a loop that runs once per record)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    value: Any  # the JSON value, or None when it is not JSON (then ``value_error`` says why)
    size: int
    timestamp_ms: int | None = None
    value_error: str | None = None


@dataclass(frozen=True, slots=True)
class Watermarks:
    low: int
    high: int


@dataclass(slots=True)
class ReadStats:
    records: int = 0
    bytes: int = 0
    unreadable: int = 0
    partitions: dict[TopicPartitionKey, int] = field(default_factory=dict)


def _decode(raw: bytes | None) -> tuple[Any, str | None]:
    if raw is None:
        return None, "no value"
    if len(raw) > MAX_VALUE_BYTES:
        return None, f"value of {len(raw)} bytes over the {MAX_VALUE_BYTES}-byte cap"
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return None, f"not JSON: {type(error).__name__}"


def _text(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    return raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")


class TopicObserver:
    def __init__(self, bootstrap: str, kafka_config: Mapping[str, str] | None = None, *,
                 timeout_s: float = 10.0) -> None:
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self._config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG, **dict(kafka_config or {})}
        self.timeout_s = timeout_s
        self._admin = AdminClient(dict(self._config))

    # ------------------------------------------------------------------ metadata
    def topics(self) -> dict[str, int]:
        """Topic name -> partition count, as the broker reports it."""
        from confluent_kafka import KafkaException

        try:
            metadata = self._admin.list_topics(timeout=self.timeout_s)
        except KafkaException as error:
            raise EnvironmentFault(f"the broker at {self.bootstrap} did not answer a metadata request within "
                                   f"{self.timeout_s} s: {error}") from None
        return {name: len(t.partitions) for name, t in metadata.topics.items() if not t.error}

    def watermarks(self, topics: Iterable[str]) -> dict[TopicPartitionKey, Watermarks]:
        """Low and high watermarks of every partition of the topics (a missing topic has none)."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        counts = self.topics()
        consumer = Consumer({**self._config, "group.id": f"spine-observer-{uuid.uuid4().hex[:12]}",
                             "enable.auto.commit": False})
        try:
            marks: dict[TopicPartitionKey, Watermarks] = {}
            for topic in topics:
                for partition in range(counts.get(topic, 0)):
                    try:
                        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                   timeout=self.timeout_s, cached=False)
                    except KafkaException as error:
                        raise EnvironmentFault(f"the broker at {self.bootstrap} gave no offsets for {topic}"
                                               f"[{partition}] within {self.timeout_s} s: {error}") from None
                    marks[(topic, partition)] = Watermarks(int(low), int(high))
            return marks
        finally:
            consumer.close()

    # ------------------------------------------------------------------ records
    def read(self, ranges: Mapping[TopicPartitionKey, tuple[int, int]], *, deadline_s: float | None = None,
             batch: int = 2000, stats: ReadStats | None = None) -> Iterator[TopicRecord]:
        """Every record in ``[start, end)`` of each partition, partition by partition in offset order as the
        broker returns them. Raises ``EnvironmentFault`` when the deadline passes before every range is read
        (an incomplete read must never look like a complete one)."""
        from confluent_kafka import Consumer, KafkaError, TopicPartition

        wanted = {tp: (int(s), int(e)) for tp, (s, e) in ranges.items() if int(e) > int(s)}
        if not wanted:
            return
        consumer = Consumer({**self._config, "group.id": f"spine-observer-{uuid.uuid4().hex[:12]}",
                             "enable.auto.commit": False, "enable.partition.eof": True,
                             "auto.offset.reset": "earliest", "fetch.min.bytes": 1})
        deadline = time.monotonic() + (deadline_s if deadline_s is not None else max(30.0, self.timeout_s * 6))
        pending = dict(wanted)
        to_come = sum(e - s for s, e in wanted.values())  # the records left, when the ranges have no gaps
        try:
            consumer.assign([TopicPartition(t, p, s) for (t, p), (s, _) in pending.items()])
            while pending:
                if time.monotonic() > deadline:
                    left = ", ".join(f"{t}[{p}] at {s}..{e}" for (t, p), (s, e) in sorted(pending.items())[:5])
                    raise EnvironmentFault(f"reading the topics from {self.bootstrap} did not finish in time; "
                                           f"still to read: {left}")
                # consume() returns once it has num_messages or the timeout passed: asking for no more than are
                # left ends a read when its last record arrives, not half a second later.
                messages = consumer.consume(num_messages=min(batch, max(1, to_come)), timeout=0.5)
                for message in messages:
                    error = message.error()
                    topic, partition = message.topic(), message.partition()
                    tp = (str(topic), int(partition or 0))
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            end = pending.get(tp)
                            if end is not None and int(message.offset() or 0) >= end[1]:
                                pending.pop(tp, None)
                            continue
                        raise EnvironmentFault(f"reading {topic}[{partition}] from {self.bootstrap}: {error}")
                    offset = int(message.offset() or 0)
                    span = pending.get(tp)
                    if span is None or offset >= span[1]:
                        if span is not None:
                            pending.pop(tp, None)
                        continue
                    raw = message.value()
                    value, value_error = _decode(raw)
                    headers = {str(pair[0]): _text(pair[1]) or "" for pair in (message.headers() or [])}
                    timestamp = message.timestamp()
                    record = TopicRecord(tp[0], tp[1], offset, _text(message.key()), headers, value,
                                         len(raw or b""), timestamp[1] if timestamp[0] else None, value_error)
                    if stats is not None:
                        stats.records += 1
                        stats.bytes += record.size
                        stats.unreadable += value_error is not None
                        stats.partitions[tp] = stats.partitions.get(tp, 0) + 1
                    to_come -= 1
                    yield record
                    if offset + 1 >= span[1]:
                        pending.pop(tp, None)
        finally:
            consumer.close()

    def read_all(self, topics: Iterable[str], *, deadline_s: float | None = None) -> Iterator[TopicRecord]:
        """Every record currently retained on the topics (low to high watermark)."""
        marks = self.watermarks(topics)
        yield from self.read({tp: (m.low, m.high) for tp, m in marks.items()}, deadline_s=deadline_s)

    def close(self) -> None:
        return  # the admin client has no close; consumers are closed by each read
