"""Kafka helpers: topic creation, watermarks, full scans of small topics, group offsets and members, and a
synchronous produce. Every call carries a timeout."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from miniplat.config import Config

TIMEOUT_S = 10.0


class PublishFailed(Exception):
    """The broker refused the record: nothing was published."""


class PublishAmbiguous(Exception):
    """No answer from the broker in time: the record may or may not have been published."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: Any  # the decoded JSON value, or None when it is not JSON
    headers: Mapping[str, bytes]


_ADMINS: dict[str, AdminClient] = {}


def admin(cfg: Config) -> AdminClient:
    """One admin client per bootstrap and process (kept referenced: a collected client never resolves its
    futures)."""
    if cfg.bootstrap not in _ADMINS:
        _ADMINS[cfg.bootstrap] = AdminClient(cfg.kafka_conf())
    return _ADMINS[cfg.bootstrap]


def probe_consumer(cfg: Config) -> Consumer:
    """A consumer that never joins a group (assign only), for watermarks and scans."""
    return Consumer({**cfg.kafka_conf(), "group.id": f"miniplat-probe-{uuid.uuid4().hex[:12]}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "enable.partition.eof": True})


def ensure_topics(cfg: Config) -> None:
    client = admin(cfg)
    wanted = cfg.topic_specs()
    existing = client.list_topics(timeout=TIMEOUT_S).topics
    missing = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in wanted.items()
               if name not in existing]
    if missing:
        for name, future in client.create_topics(missing, request_timeout=TIMEOUT_S).items():
            try:
                future.result(timeout=TIMEOUT_S)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise RuntimeError(f"cannot create topic {name}: {error}") from None
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        metadata = client.list_topics(timeout=TIMEOUT_S).topics
        wrong = {n: (p, len(metadata[n].partitions) if n in metadata else None) for n, p in wanted.items()
                 if n not in metadata or len(metadata[n].partitions) != p}
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics missing or with other partition counts (want, have): {wrong}")
        time.sleep(0.2)


def partitions(cfg: Config, topic: str) -> list[int]:
    metadata = admin(cfg).list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise RuntimeError(f"topic {topic} not found")
    return sorted(metadata.partitions)


def watermarks(cfg: Config, topic: str, consumer: Consumer | None = None) -> dict[int, tuple[int, int]]:
    own = consumer is None
    consumer = consumer or probe_consumer(cfg)
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S, cached=False)
                for p in partitions(cfg, topic)}
    finally:
        if own:
            consumer.close()


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def scan(cfg: Config, topic: str, timeout_s: float = 30.0) -> Iterator[Record]:
    """Every record of ``topic`` from the low to the high watermark (the topic's size at the call)."""
    consumer = probe_consumer(cfg)
    try:
        marks = watermarks(cfg, topic, consumer)
        todo = {p: (low, high) for p, (low, high) in marks.items() if high > low}
        if not todo:
            return
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in todo.items()])
        deadline = time.monotonic() + timeout_s
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"scan of {topic} did not reach the watermarks {todo} in {timeout_s}s")
            for message in consumer.consume(num_messages=500, timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"scan of {topic}: {error}")
                    continue
                p, offset = message.partition(), message.offset()
                if p not in todo or offset >= todo[p][1]:
                    continue
                yield Record(topic, p, offset, message.key(), _decode(message.value()),
                             dict(message.headers() or []))
                if offset + 1 >= todo[p][1]:
                    del todo[p]
    finally:
        consumer.close()


def read_one(cfg: Config, topic: str, partition: int, offset: int, timeout_s: float = 10.0) -> Record | None:
    consumer = probe_consumer(cfg)
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            if message.offset() == offset:
                return Record(topic, partition, offset, message.key(), _decode(message.value()),
                              dict(message.headers() or []))
        return None
    finally:
        consumer.close()


def committed(cfg: Config, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets, read from the broker."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    futures = admin(cfg).list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                     request_timeout=TIMEOUT_S)
    result = futures[group].result(timeout=TIMEOUT_S)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions or [] if tp.offset >= 0}


def group_members(cfg: Config, group: str) -> list[str]:
    """client ids of the group's live members."""
    futures = admin(cfg).describe_consumer_groups([group], request_timeout=TIMEOUT_S)
    description = futures[group].result(timeout=TIMEOUT_S)
    return [m.client_id for m in description.members or []]


def producer(cfg: Config, timeout_s: float = 5.0) -> Producer:
    return Producer({**cfg.kafka_conf(), "acks": "all", "enable.idempotence": True, "linger.ms": 0,
                     "message.timeout.ms": int(timeout_s * 1000), "request.timeout.ms": int(timeout_s * 1000)})


def produce_sync(prod: Producer, topic: str, key: bytes | None, value: bytes,
                 headers: Mapping[str, bytes] | None = None, timeout_s: float = 5.0) -> tuple[int, int]:
    """Publish one record and wait for its delivery report: (partition, offset)."""
    answer: dict[str, Any] = {}

    def delivered(error: Any, message: Any) -> None:
        answer["error"] = error
        if error is None:
            answer["at"] = (message.partition(), message.offset())

    try:
        prod.produce(topic, value=value, key=key, headers=list((headers or {}).items()), on_delivery=delivered)
    except (BufferError, KafkaException) as error:
        raise PublishFailed(f"produce to {topic} refused: {error}") from None
    deadline = time.monotonic() + timeout_s
    while "error" not in answer and time.monotonic() < deadline:
        prod.flush(max(0.01, min(0.5, deadline - time.monotonic())))
    if "error" not in answer:
        raise PublishAmbiguous(f"no delivery report from {topic} within {timeout_s}s")
    if answer["error"] is not None:
        raise PublishFailed(f"delivery to {topic} failed: {answer['error']}")
    partition, offset = answer["at"]
    return int(partition), int(offset)
