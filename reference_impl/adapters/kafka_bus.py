"""The Bus port over a real Kafka broker with confluent-kafka.

Semantics match ``InMemoryBus``: keys go to the partition ``partition_for(key, n)`` (sha256, so a key lands
on the same partition in-process and on Kafka), ``produce`` waits for the broker's acknowledgement (acks=all,
idempotent producer) and raises ``PublishTimeout`` when none came back in time (the outcome is unknown),
consumer-group positions are held per adapter and commits go to the group coordinator (a commit is the
next offset to read). Every network call carries a timeout, so an unreachable broker is an error, not a hang.

A long-running consumer ``join``s its group: a subscribed member the broker (and an operator, or a harness
describing the group) sees, whose commits carry the group's generation and whose ``poll`` reads only the
partitions the group assigned it. It leaves the group when the adapter is closed. Without ``join`` the group
id is only where commits live (a one-shot job, a reader).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reference_impl.errors import PlatformError
from reference_impl.faultpoints import FaultPoints
from reference_impl.memory_bus import UnknownTopic, partition_for
from reference_impl.ports import BusRecord, PublishTimeout

T = TypeVar("T")


_LOG = logging.getLogger("reference_impl.kafka")


class BusUnavailable(PlatformError):
    """The broker did not answer within the timeout, or refused the request."""


class KafkaBus:
    def __init__(self, bootstrap: str, *, client_id: str = "reference-impl", timeout_s: float = 10.0,
                 extra_config: Mapping[str, Any] | None = None, faults: FaultPoints | None = None) -> None:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.faults = faults or FaultPoints()
        # Security settings (SASL/SSL for a managed Kafka) come in extra_config and are never logged.
        # librdkafka's own log goes to the logging module, not stderr: an unreachable broker is one clear
        # BusUnavailable, not a screen of "Connection refused" lines every 50 ms.
        self._base: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": client_id,
                                      "socket.timeout.ms": int(timeout_s * 1000), "log_level": 3,
                                      "logger": _LOG, **dict(extra_config or {})}
        self._admin = AdminClient(dict(self._base))
        self._producer = Producer({**self._base, "acks": "all", "enable.idempotence": True,
                                   "linger.ms": 0, "message.timeout.ms": int(timeout_s * 1000)})
        self._partitions: dict[str, int] = {}
        self._positions: dict[tuple[str, str, int], int] = {}
        self._consumers: dict[str, Any] = {}
        self._members: dict[str, Any] = {}  # group -> the subscribed consumer that is this adapter's member
        self._assigned: dict[str, set[tuple[str, int]]] = {}  # group -> partitions the group gave the member
        self._known: set[tuple[int, str]] = set()  # (consumer, topic) whose metadata the consumer holds
        self._lock = threading.RLock()

    # -- topics ---------------------------------------------------------------------------------------
    def _metadata_topics(self) -> dict[str, int]:
        try:
            metadata = self._admin.list_topics(timeout=self.timeout_s)
        except Exception as error:
            raise BusUnavailable(f"Kafka at {self.bootstrap} did not return metadata within {self.timeout_s}s: "
                                 f"{error}; check the broker is up and the bootstrap address") from None
        return {name: len(meta.partitions) for name, meta in metadata.topics.items()
                if not name.startswith("__") and meta.error is None}

    def topics(self) -> Mapping[str, int]:
        found = self._metadata_topics()
        with self._lock:
            self._partitions.update(found)
        return found

    def _partition_count(self, topic: str) -> int:
        with self._lock:
            if topic in self._partitions:
                return self._partitions[topic]
        found = self.topics()
        if topic not in found:
            raise UnknownTopic(topic, sorted(found))
        return found[topic]

    def create_topic(self, topic: str, partitions: int) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.cimpl import NewTopic

        if partitions < 1:
            raise ValueError(f"topic {topic!r}: partitions must be >= 1, given: {partitions}")
        existing = self.topics()
        if topic in existing:
            if existing[topic] != partitions:
                raise ValueError(f"topic {topic!r} exists with {existing[topic]} partitions, asked {partitions}")
            return
        futures = self._admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                            operation_timeout=self.timeout_s, request_timeout=self.timeout_s)
        try:
            futures[topic].result(timeout=self.timeout_s)
        except KafkaException as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise BusUnavailable(f"creating topic {topic!r} on {self.bootstrap} failed: {error}") from None
        except TimeoutError:
            raise BusUnavailable(f"creating topic {topic!r} on {self.bootstrap} timed out after "
                                 f"{self.timeout_s}s") from None
        with self._lock:
            self._partitions[topic] = partitions

    def delete_topic(self, topic: str) -> None:
        futures = self._admin.delete_topics([topic], operation_timeout=self.timeout_s,
                                            request_timeout=self.timeout_s)
        try:
            futures[topic].result(timeout=self.timeout_s)
        except Exception as error:
            if "UNKNOWN_TOPIC" not in str(error):
                raise BusUnavailable(f"deleting topic {topic!r} on {self.bootstrap} failed: {error}") from None
        with self._lock:
            self._partitions.pop(topic, None)

    # -- produce --------------------------------------------------------------------------------------
    def produce(self, topic: str, key: str, value: Mapping[str, Any],
                headers: Mapping[str, str] | None = None) -> tuple[int, int]:
        partition = partition_for(key, self._partition_count(topic))
        self.faults.hit("bus.produce.before_append", topic=topic, key=key, partition=partition)
        outcome: dict[str, Any] = {}

        def delivered(error: Any, message: Any) -> None:
            outcome["error"] = error
            outcome["message"] = message

        body = json.dumps(dict(value), sort_keys=True, separators=(",", ":"), default=str).encode()
        try:
            self._producer.produce(topic, value=body, key=key.encode(), partition=partition,
                                   headers=[(k, v.encode()) for k, v in (headers or {}).items()],
                                   on_delivery=delivered)
        except BufferError:
            raise BusUnavailable(f"the producer queue to {self.bootstrap} is full; the broker is not keeping "
                                 "up or is unreachable") from None
        self._producer.flush(self.timeout_s)
        if "error" not in outcome:
            # The request may have reached the broker: the outcome is unknown, never assumed failed.
            raise PublishTimeout(f"no acknowledgement from {self.bootstrap} for {topic}/{key} within "
                                 f"{self.timeout_s}s")
        error = outcome["error"]
        if error is not None:
            if error.code() in _timeout_codes():
                raise PublishTimeout(f"publish of {topic}/{key} timed out at {self.bootstrap}: {error.str()}")
            raise BusUnavailable(f"Kafka refused the publish of {topic}/{key}: {error.str()}")
        message = outcome["message"]
        result = (int(message.partition()), int(message.offset()))
        self.faults.hit("bus.produce.after_append", topic=topic, key=key, partition=result[0], offset=result[1])
        return result

    # -- offsets and consumption ----------------------------------------------------------------------
    def _consumer(self, group: str) -> Any:
        from confluent_kafka import Consumer

        with self._lock:
            if group not in self._consumers:
                # Partitions are assigned by hand (positions are the adapter's); the group id is where
                # commits live, as a real consumer group's do.
                self._consumers[group] = Consumer({
                    **self._base, "group.id": group, "enable.auto.commit": False,
                    "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                    "enable.partition.eof": False,
                    # A poll reassigns partition after partition: the fetch the broker holds open at the end
                    # of the previous one (up to fetch.wait.max.ms, 500 ms by default) would delay each.
                    "fetch.wait.max.ms": 20,
                })
            return self._consumers[group]

    def _watermarks(self, topic: str, consumer: Any = None) -> dict[int, tuple[int, int]]:
        from confluent_kafka import TopicPartition

        consumer = consumer or self._consumer("__spine_offsets")
        self._know(consumer, topic)
        marks = {}
        for partition in range(self._partition_count(topic)):
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                           timeout=self.timeout_s, cached=False)
            except Exception as error:
                raise BusUnavailable(f"reading offsets of {topic}[{partition}] from {self.bootstrap} failed "
                                     f"within {self.timeout_s}s: {error}") from None
            marks[partition] = (int(low), int(high))
        return marks

    def _know(self, consumer: Any, topic: str) -> None:
        """Load ``topic``'s metadata into ``consumer`` once: a consumer asked for the offsets of a partition it has
        no metadata for answers 'unknown partition' instead of asking the broker."""
        with self._lock:
            if (id(consumer), topic) in self._known:
                return
        try:
            consumer.list_topics(topic=topic, timeout=self.timeout_s)
        except Exception as error:
            raise BusUnavailable(f"reading the metadata of {topic} from {self.bootstrap} failed within "
                                 f"{self.timeout_s}s: {error}") from None
        with self._lock:
            self._known.add((id(consumer), topic))

    def end_offsets(self, topic: str) -> Mapping[int, int]:
        return {p: high for p, (_, high) in self._watermarks(topic).items()}

    def start_offsets(self, topic: str) -> Mapping[int, int]:
        return {p: low for p, (low, _) in self._watermarks(topic).items()}

    def committed(self, group: str, topic: str) -> Mapping[int, int]:
        from confluent_kafka import TopicPartition

        consumer = self._consumer(group)
        wanted = [TopicPartition(topic, p) for p in range(self._partition_count(topic))]
        found = self._retrying(f"reading the commits of group {group!r} on {topic}",
                               lambda: consumer.committed(wanted, timeout=self.timeout_s))
        return {tp.partition: int(tp.offset) for tp in found if tp.offset >= 0}

    # -- group membership -----------------------------------------------------------------------------
    def join(self, group: str, topics: list[str], *, timeout_s: float | None = None,
             session_timeout_ms: int = 6000) -> list[tuple[str, int]]:
        """Become a member of ``group`` subscribed to ``topics`` and wait until the group assigns partitions
        (a member SIGKILLed before us holds the rebalance until its session times out). Returns the assigned
        (topic, partition) list. The member only heartbeats, serves rebalances and commits: its partitions are
        paused, records are read by ``poll`` at the adapter's own positions."""
        from confluent_kafka import Consumer

        wait_s = self.timeout_s if timeout_s is None else timeout_s
        with self._lock:
            if group in self._members:
                return sorted(self._assigned.get(group, set()))
            for topic in topics:
                self._partition_count(topic)
            assigned: set[tuple[str, int]] = set()
            self._assigned[group] = assigned

            def on_assign(consumer: Any, partitions: list[Any]) -> None:
                consumer.assign(partitions)
                consumer.pause(partitions)  # nothing is fetched through the member
                with self._lock:
                    fresh = {(tp.topic, tp.partition) for tp in partitions}
                    assigned.update(fresh)
                    # A partition (re)assigned is read again from the group's commits.
                    for slot in [s for s in self._positions if s[0] == group and (s[1], s[2]) in fresh]:
                        del self._positions[slot]

            def on_revoke(consumer: Any, partitions: list[Any]) -> None:
                with self._lock:
                    assigned.difference_update((tp.topic, tp.partition) for tp in partitions)

            member = Consumer({**self._base, "group.id": group, "enable.auto.commit": False,
                               "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                               "session.timeout.ms": session_timeout_ms,
                               "heartbeat.interval.ms": max(500, session_timeout_ms // 6),
                               "max.poll.interval.ms": max(60_000, session_timeout_ms * 10)})
            member.subscribe(list(topics), on_assign=on_assign, on_revoke=on_revoke)
            self._members[group] = member
        deadline = time.monotonic() + wait_s
        while True:
            self._serve(group)
            with self._lock:
                if assigned:
                    return sorted(assigned)
            if time.monotonic() > deadline:
                raise BusUnavailable(f"joining consumer group {group!r} on {self.bootstrap}: no partitions of "
                                     f"{topics} were assigned within {wait_s}s (a member that died keeps the "
                                     "rebalance waiting until its session times out)")
            time.sleep(0.05)

    def _serve(self, group: str) -> None:
        """Let the member serve its heartbeats' rebalance callbacks (librdkafka needs the application to poll
        within max.poll.interval.ms, or it leaves the group)."""
        member = self._members.get(group)
        if member is not None:
            with self._lock:
                member.poll(0)

    def group_members(self, group: str) -> list[str]:
        """The client ids of the group's live members, as the broker's coordinator describes them."""
        try:
            future = self._admin.describe_consumer_groups([group], request_timeout=self.timeout_s)[group]
            description = future.result(timeout=self.timeout_s)
        except Exception as error:
            raise BusUnavailable(f"describing consumer group {group!r} at {self.bootstrap} failed within "
                                 f"{self.timeout_s}s: {error}") from None
        return sorted(str(m.client_id) for m in description.members)

    def poll(self, group: str, topic: str, max_records: int = 500) -> list[BusRecord]:
        from confluent_kafka import TopicPartition

        self._serve(group)
        # Asked through the consumer that reads: it learns the topic's leaders now, so its first fetch does not
        # wait for a metadata refresh (about a second on a topic it has not read yet).
        marks = self._watermarks(topic, self._consumer(group))
        commits = self.committed(group, topic)
        with self._lock:
            if group in self._members:  # a member reads only what the group assigned it
                mine = {p for (t, p) in self._assigned.get(group, set()) if t == topic}
                marks = {p: m for p, m in marks.items() if p in mine}
            starts = {p: self._positions.get((group, topic, p), commits.get(p, low))
                      for p, (low, _) in marks.items()}
        # Read what was there when the poll began (the high watermarks), partition after partition, as the
        # in-memory bus does: with max_records cutting a poll short, the same partitions get the records.
        pending = {p: high for p, (_, high) in marks.items() if starts[p] < high}
        if not pending:
            return []
        consumer = self._consumer(group)
        out: list[BusRecord] = []
        next_offset = dict(starts)
        deadline = time.monotonic() + self.timeout_s
        try:
            for partition in sorted(pending):
                want = min(pending[partition] - starts[partition], max_records - len(out))
                if want <= 0:
                    break
                consumer.assign([TopicPartition(topic, partition, starts[partition])])
                got = 0
                while got < want:
                    if time.monotonic() > deadline:
                        raise BusUnavailable(f"polling {topic} for group {group!r} at {self.bootstrap} did not "
                                             f"reach the high watermarks within {self.timeout_s}s")
                    for message in consumer.consume(num_messages=min(500, want - got), timeout=0.5):
                        if message.error() is not None or int(message.partition()) != partition:
                            continue
                        offset = int(message.offset())
                        if offset < next_offset[partition] or got >= want:
                            continue
                        out.append(_record(message))
                        next_offset[partition] = offset + 1
                        got += 1
                consumer.unassign()
        finally:
            with contextlib.suppress(Exception):
                consumer.unassign()
        with self._lock:
            for partition, offset in next_offset.items():
                self._positions[(group, topic, partition)] = offset
        out.sort(key=lambda r: (r.partition, r.offset))
        return out

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        from confluent_kafka import TopicPartition

        self.faults.hit("bus.commit.before", group=group, topic=topic, partition=partition, offset=offset)
        self._partition_count(topic)
        self._serve(group)
        # A member's commit carries its generation: the coordinator refuses commits from outside a live group.
        member = self._members.get(group)
        consumer = member or self._consumer(group)

        def commit() -> Any:
            self._serve(group)  # a rebalance in progress completes through the member's callbacks
            return consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)

        self._retrying(f"committing {topic}[{partition}]@{offset} for group {group!r}", commit,
                       extra_codes=_rebalance_codes() if member is not None else ())

    def seek(self, group: str, topic: str, partition: int, offset: int) -> None:
        self._partition_count(topic)
        with self._lock:
            self._positions[(group, topic, partition)] = offset

    def reset_positions(self, group: str) -> None:
        """Forget a group's in-memory positions: a restarted consumer resumes from its commits."""
        with self._lock:
            for slot in [s for s in self._positions if s[0] == group]:
                del self._positions[slot]

    def _retrying(self, what: str, call: Callable[[], T], extra_codes: tuple[int, ...] = ()) -> T:
        """Retry the group coordinator's transient refusals (a fresh broker is still electing it; for a member,
        a rebalance in progress) until the timeout; anything else, or the timeout, is BusUnavailable."""
        from confluent_kafka import KafkaException

        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return call()
            except KafkaException as error:
                kafka_error: Any = error.args[0] if error.args else None
                code = kafka_error.code() if kafka_error is not None and hasattr(kafka_error, "code") else None
                if code not in (*_coordinator_codes(), *extra_codes) or time.monotonic() > deadline:
                    raise BusUnavailable(f"{what} at {self.bootstrap} failed: {error}") from None
            except RuntimeError as error:
                raise BusUnavailable(f"{what} at {self.bootstrap} failed: {error}") from None
            time.sleep(0.2)

    def close(self) -> None:
        with self._lock:
            consumers, self._consumers = self._consumers, {}
            members, self._members = self._members, {}
        for member in members.values():
            member.close()  # leaves the group now, not after the session timeout
        for consumer in consumers.values():
            consumer.close()
        self._producer.flush(0)


def _coordinator_codes() -> tuple[int, ...]:
    from confluent_kafka import KafkaError

    return (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._WAIT_COORD, KafkaError._TIMED_OUT)


def _rebalance_codes() -> tuple[int, ...]:
    from confluent_kafka import KafkaError

    return (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION)


def _timeout_codes() -> tuple[int, ...]:
    from confluent_kafka import KafkaError

    return (KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT)


def _record(message: Any) -> BusRecord:
    raw_headers = message.headers() or []
    headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in raw_headers}
    key = message.key()
    return BusRecord(str(message.topic()), int(message.partition()), int(message.offset()),
                     key.decode() if isinstance(key, bytes) else str(key), json.loads(message.value()), headers)
