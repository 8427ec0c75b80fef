from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi
from reference_impl.adapters.kafka_bus import BusUnavailable, KafkaBus
from reference_impl.memory_bus import InMemoryBus, UnknownTopic, partition_for
from reference_impl.ports import PublishTimeout

pytestmark = pytest.mark.services


@pytest.fixture
def bus(local_stack: SessionStack) -> Iterator[KafkaBus]:
    adapter = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    yield adapter
    adapter.close()


_CREATED: list[str] = []


def _topic() -> str:
    name = f"spine.test.{uuid.uuid4().hex[:12]}"
    _CREATED.append(name)
    return name


@pytest.fixture(autouse=True)
def _drop_scratch_topics(local_stack: SessionStack) -> Iterator[None]:
    """Scratch topics left on the shared stack would break the platform's "topics from the registry only"
    conformance check in later runs."""
    yield
    cleaner = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    try:
        while _CREATED:
            cleaner.delete_topic(_CREATED.pop())
    finally:
        cleaner.close()


def test_produce_then_poll_commit_and_resume_behave_like_the_in_memory_bus(bus: KafkaBus) -> None:
    topic = _topic()
    memory = InMemoryBus()
    for adapter in (bus, memory):
        adapter.create_topic(topic, 3)
    keys = [f"evt-{i}" for i in range(12)]
    real = [bus.produce(topic, key, {"n": i}, {"platform_run_id": "p1"}) for i, key in enumerate(keys)]
    expected = [memory.produce(topic, key, {"n": i}, {"platform_run_id": "p1"}) for i, key in enumerate(keys)]
    assert real == expected  # same partition and offset for every key: sha256 partitioning on both
    assert [p for p, _ in real] == [partition_for(k, 3) for k in keys]
    assert bus.topics()[topic] == 3
    assert bus.end_offsets(topic) == memory.end_offsets(topic)
    assert bus.start_offsets(topic) == {0: 0, 1: 0, 2: 0}

    first = bus.poll("g1", topic, max_records=5)
    assert len(first) == 5
    # A poll cut short by max_records takes the same records as the in-memory bus (partition by partition).
    assert [(r.partition, r.offset) for r in first] == [(r.partition, r.offset)
                                                        for r in memory.poll("g1", topic, max_records=5)]
    assert [(r.partition, r.offset) for r in first] == sorted((r.partition, r.offset) for r in first)
    everything = first + bus.poll("g1", topic)
    assert sorted((r.key, dict(r.value)["n"]) for r in everything) == sorted((k, i) for i, k in enumerate(keys))
    assert everything[0].headers == {"platform_run_id": "p1"}
    assert bus.poll("g1", topic) == []

    # Commit part of one partition; a restarted consumer (positions forgotten) resumes from the commit.
    last = max((r for r in everything if r.partition == real[0][0]), key=lambda r: r.offset)
    bus.commit("g1", topic, last.partition, last.offset)  # the next to read: the last record again
    assert bus.committed("g1", topic) == {last.partition: last.offset}
    bus.reset_positions("g1")
    resumed = bus.poll("g1", topic)
    assert [(r.partition, r.offset) for r in resumed if r.partition == last.partition] == [
        (last.partition, last.offset)]
    bus.seek("g1", topic, last.partition, 0)
    assert len(bus.poll("g1", topic)) == bus.end_offsets(topic)[last.partition]


def test_creating_an_existing_topic_with_another_partition_count_is_refused(bus: KafkaBus) -> None:
    topic = _topic()
    bus.create_topic(topic, 2)
    bus.create_topic(topic, 2)  # idempotent
    with pytest.raises(ValueError, match=f"topic '{topic}' exists with 2 partitions, asked 3"):
        bus.create_topic(topic, 3)


def test_producing_to_an_unknown_topic_names_it(bus: KafkaBus) -> None:
    bus.delete_topic("spine.test.absent")  # deleting what is not there is not an error
    with pytest.raises(UnknownTopic, match=r"topic .spine\.test\.absent. does not exist"):
        bus.produce("spine.test.absent", "k", {})


def test_an_unreachable_broker_is_an_error_within_the_timeout_not_a_hang() -> None:
    adapter = KafkaBus("127.0.0.1:1", timeout_s=1.0)
    try:
        with pytest.raises(BusUnavailable, match=r"Kafka at 127.0.0.1:1 did not return metadata within 1.0s"):
            adapter.topics()
    finally:
        adapter.close()


def test_a_partitioned_broker_makes_the_publish_outcome_unknown(local_stack: SessionStack) -> None:
    # CH-BROKER-PARTITION's core: through the proxy, a publish whose acknowledgement never comes back is
    # PublishTimeout (ambiguous), not a success and not a definite failure.
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    proxied = KafkaBus(local_stack.endpoint("kafka.bootstrap_proxied"), timeout_s=3.0)
    topic = _topic()
    try:
        proxied.create_topic(topic, 1)
        assert proxied.produce(topic, "before", {"n": 0}) == (0, 0)
        api.add_toxic("kafka", "timeout", name="blackhole", stream="downstream", timeout=0)
        with pytest.raises(PublishTimeout):
            proxied.produce(topic, "during", {"n": 1})
    finally:
        api.reset()
        proxied.close()
