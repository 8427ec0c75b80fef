"""``spine bench observe [--records N] [--bootstrap HOST:PORT]``: records/s that the harness's
``TopicObserver.read`` reads from a Kafka topic, against a raw confluent-kafka ``Consumer`` loop over the same
topic in the same run.

The bench creates a fresh topic (``spine-bench-observe-<hex>``, 3 partitions), produces N JSON records of about
200 bytes with a ``payload_hash`` header, then reads every partition between its watermarks: ours through
``read`` (records decoded into ``TopicRecord``), the raw loop by assigning every partition from its low watermark
and calling ``consume`` until each partition reaches its high watermark, with ``json.loads`` on every value. Each
side reads ``--rounds`` times, alternating, after one untimed warm-up read; the best of each is reported. The topic
is deleted afterwards. The broker is the running local stack's (``--stack-dir``, else ``$SPINE_STACK_DIR`` or
``.spine/stack``) unless ``--bootstrap`` names one.

Figures: ``observer_records_per_second``, ``baseline_records_per_second`` and ``ratio`` (ours / baseline).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

KIND = "observe"
HELP = "Records/s that TopicObserver.read gets from a Kafka topic vs a raw confluent-kafka Consumer loop"
NOT_WORKLOAD = ("bootstrap",)  # where the broker is, not what was measured
PARTITIONS = 3
BATCH = 2000  # read()'s default batch, used by both sides
TIMEOUT_S = 30.0
_LOG = logging.getLogger("pytest_spine.benchmarks.observe")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=50_000, help="Records produced, then read by each side")
    parser.add_argument("--rounds", type=int, default=3, help="Reads per side (at least 2), alternating")
    parser.add_argument("--bootstrap", default=None, metavar="HOST:PORT",
                        help="The Kafka broker (default: the running local stack's)")
    parser.add_argument("--stack-dir", default=None,
                        help="The running local stack (default $SPINE_STACK_DIR or .spine/stack)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError

    if args.records < 1:
        raise ConfigError(f"spine bench observe --records must be a positive count, given: {args.records}")
    if args.rounds < 2:
        raise ConfigError(f"spine bench observe --rounds must be at least 2, given: {args.rounds}")
    bootstrap = args.bootstrap or _stack_bootstrap(args.stack_dir)
    topic = f"spine-bench-observe-{uuid.uuid4().hex[:12]}"
    admin = _admin(bootstrap)
    try:
        _create_topic(admin, bootstrap, topic)
        value_bytes = _produce(bootstrap, topic, args.records)
        ours, theirs, read = _measure(bootstrap, topic, args.records, args.rounds)
    finally:
        # A scratch topic left behind would break the platform's "topics from the registry only" check.
        with contextlib.suppress(Exception):
            admin.delete_topics([topic], operation_timeout=TIMEOUT_S)[topic].result(TIMEOUT_S)
    return {"records": args.records, "partitions": PARTITIONS, "mean_value_size": round(value_bytes / args.records),
            "observer_records_read": read, "observer_records_per_second": round(ours, 1),
            "baseline_records_per_second": round(theirs, 1), "ratio": round(ours / theirs, 3)}


def summary(figures: Mapping[str, Any]) -> list[str]:
    return [f"observe: {figures['observer_records_per_second']:.0f} records/s (TopicObserver.read, "
            f"{figures['partitions']} partitions) vs {figures['baseline_records_per_second']:.0f} records/s "
            f"(raw confluent-kafka Consumer): {figures['ratio']:.2f}x"]


def _stack_bootstrap(stack_dir: str | None) -> str:
    from pathlib import Path

    from pytest_spine.errors import ConfigError
    from pytest_spine.stack.fixture import STACK_DIR_ENV, running_stack, stack_dir_default

    directory = Path(stack_dir) if stack_dir else stack_dir_default()
    state = running_stack(directory)
    if state is None:
        raise ConfigError(f"no running local stack in {directory.resolve()} (--stack-dir, ${STACK_DIR_ENV} or "
                          f".spine/stack): start one with 'spine stack up --dir {directory}', or pass "
                          "--bootstrap HOST:PORT")
    if "kafka" not in state.services:
        raise ConfigError(f"the local stack in {state.stack_dir} runs without Kafka; restart it with every service "
                          "('spine stack down' then 'spine stack up'), or pass --bootstrap HOST:PORT")
    return state.endpoint("kafka.bootstrap")


# ---------------------------------------------------------------------------------------------------- the topic
def _admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG}
    return AdminClient(config)


def _create_topic(admin: Any, bootstrap: str, topic: str) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.cimpl import NewTopic

    from pytest_spine.errors import EnvironmentFault

    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=TIMEOUT_S)[topic].result(TIMEOUT_S)
        deadline = time.monotonic() + TIMEOUT_S
        while True:  # until every partition has a leader
            described = admin.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
            if (described is not None and not described.error and len(described.partitions) == PARTITIONS
                    and all(p.leader >= 0 for p in described.partitions.values())):
                return
            if time.monotonic() > deadline:
                raise EnvironmentFault(f"the topic {topic} on {bootstrap} had no leader for every partition "
                                       f"within {TIMEOUT_S:g} s")
            time.sleep(0.1)
    except KafkaException as error:
        raise EnvironmentFault(f"the broker at {bootstrap} did not create the bench topic {topic}: {error}") from None


def _produce(bootstrap: str, topic: str, records: int) -> int:
    """N JSON values of about 200 bytes, round-robin over the partitions; returns the bytes of all values."""
    from confluent_kafka import Producer

    from pytest_spine.drive.envelope import canonical_bytes, payload_hash
    from pytest_spine.errors import EnvironmentFault

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG, "linger.ms": 10, "acks": "all",
                              "enable.idempotence": True, "queue.buffering.max.messages": 200_000}
    producer = Producer(config)
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    total = 0
    for i in range(records):
        payload = {"flow_id": f"flow-{i:08d}", "amount": i % 997, "merchant": f"m{i % 101:03d}"}
        value = canonical_bytes({"platform_run_id": "platform_bench_observe", "event_class": "traffic_fraud",
                                 "event_id": f"evt-{i:08d}", "ts_utc": "2026-01-01T00:00:00.000000Z",
                                 "payload": payload})
        total += len(value)
        while True:
            try:
                producer.produce(topic, value, key=f"k{i}", partition=i % PARTITIONS,
                                 headers=[("payload_hash", payload_hash(payload).encode())], on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(TIMEOUT_S)
    if left or failures:
        raise EnvironmentFault(f"producing {records} bench records to {topic} on {bootstrap}: {left} not delivered"
                               f" within {TIMEOUT_S:g} s" + (f", first error: {failures[0]}" if failures else ""))
    return total


# ---------------------------------------------------------------------------------------------------- the reads
def _measure(bootstrap: str, topic: str, records: int, rounds: int) -> tuple[float, float, int]:
    import gc

    from pytest_spine.errors import EnvironmentFault
    from pytest_spine.observe.topics import TopicObserver

    observer = TopicObserver(bootstrap)
    marks = observer.watermarks([topic])
    ranges = {tp: (m.low, m.high) for tp, m in marks.items()}
    if sum(high - low for low, high in ranges.values()) != records:
        raise EnvironmentFault(f"the bench topic {topic} holds {sum(h - lo for lo, h in ranges.values())} "
                               f"records, not the {records} produced")
    _raw_read(bootstrap, ranges)  # warm-up, untimed: the first read of a topic pays for the broker's cold caches
    best_ours = best_theirs = 0.0
    read = 0
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        counted = _raw_read(bootstrap, ranges)
        best_theirs = max(best_theirs, counted / (time.perf_counter() - started))
        gc.collect()
        started = time.perf_counter()
        read = sum(1 for _ in observer.read(ranges, deadline_s=TIMEOUT_S * 2))
        best_ours = max(best_ours, read / (time.perf_counter() - started))
        if read != records or counted != records:
            raise EnvironmentFault(f"the bench read {read} records through TopicObserver and {counted} through "
                                   f"the raw consumer, not the {records} produced")
    observer.close()
    return best_ours, best_theirs, read


def _raw_read(bootstrap: str, ranges: Mapping[tuple[str, int], tuple[int, int]]) -> int:
    """The raw loop: assign every partition at its low watermark, consume until each reaches its high one."""
    from confluent_kafka import Consumer, TopicPartition

    from pytest_spine.errors import EnvironmentFault

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG, "enable.auto.commit": False,
                              "group.id": f"spine-bench-raw-{uuid.uuid4().hex[:12]}"}
    consumer = Consumer(config)
    pending = {tp: high for tp, (low, high) in ranges.items() if high > low}
    left = sum(high - low for low, high in ranges.values() if high > low)
    deadline = time.monotonic() + TIMEOUT_S * 2
    count = 0
    loads = json.loads
    try:
        consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for (t, p) in pending])
        while pending:
            if time.monotonic() > deadline:
                raise EnvironmentFault(f"the raw consumer did not read the bench topic from {bootstrap} in time")
            # consume() returns once it has num_messages or the timeout passed: never ask for more than are left.
            messages: list[Any] = consumer.consume(num_messages=min(BATCH, max(1, left)), timeout=0.5)
            for message in messages:
                if message.error() is not None:
                    raise EnvironmentFault(f"the raw consumer read from {bootstrap}: {message.error()}")
                loads(message.value())
                count += 1
                left -= 1
                tp = (message.topic(), message.partition())
                end = pending.get(tp)
                if end is not None and message.offset() + 1 >= end:
                    del pending[tp]
    finally:
        consumer.close()
    return count
