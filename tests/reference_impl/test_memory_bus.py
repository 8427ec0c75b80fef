from __future__ import annotations

import hashlib

import pytest

from reference_impl.faultpoints import FaultPoints
from reference_impl.memory_bus import InMemoryBus, UnknownTopic, partition_for
from reference_impl.ports import PublishTimeout


def test_partitioning_is_sha256_stable_and_not_salted() -> None:
    # sha256("flow-1")[:8] mod 3 is 0 on every machine and in every process (hash() would be salted).
    assert partition_for("flow-1", 3) == int.from_bytes(hashlib.sha256(b"flow-1").digest()[:8], "big") % 3 == 0
    assert [partition_for("flow-1", 3) for _ in range(5)] == [partition_for("flow-1", 3)] * 5
    bus = InMemoryBus()
    bus.create_topic("t", 3)
    placed = {bus.produce("t", "flow-1", {"n": i})[0] for i in range(10)}
    assert placed == {partition_for("flow-1", 3)}


def test_offsets_increase_per_partition_and_end_offsets_follow() -> None:
    bus = InMemoryBus()
    bus.create_topic("t", 2)
    offsets: dict[int, list[int]] = {0: [], 1: []}
    for i in range(20):
        partition, offset = bus.produce("t", f"k{i}", {"i": i})
        offsets[partition].append(offset)
    for partition, seen in offsets.items():
        assert seen == list(range(len(seen)))
        assert bus.end_offsets("t")[partition] == len(seen)
    assert bus.start_offsets("t") == {0: 0, 1: 0}


def test_commit_is_the_next_offset_and_a_restart_resumes_from_it() -> None:
    bus = InMemoryBus()
    bus.create_topic("t", 1)
    for i in range(5):
        bus.produce("t", "k", {"i": i})
    first = bus.poll("g", "t", max_records=3)
    assert [r.offset for r in first] == [0, 1, 2]
    bus.commit("g", "t", 0, 2)  # processed 0 and 1 durably; 2 was in flight
    assert bus.committed("g", "t") == {0: 2}
    assert [r.offset for r in bus.poll("g", "t")] == [3, 4]  # the live position moved on
    bus.reset_positions("g")  # a crash: positions are not durable, commits are
    assert [r.offset for r in bus.poll("g", "t")] == [2, 3, 4]


def test_seek_moves_the_group_position() -> None:
    bus = InMemoryBus()
    bus.create_topic("t", 1)
    for i in range(4):
        bus.produce("t", "k", {"i": i})
    bus.poll("g", "t")
    bus.seek("g", "t", 0, 1)
    assert [r.value["i"] for r in bus.poll("g", "t")] == [1, 2, 3]


def test_unknown_topic_names_the_known_ones() -> None:
    bus = InMemoryBus()
    bus.create_topic("known", 1)
    with pytest.raises(UnknownTopic, match=r"'missing' does not exist; known topics: \['known'\]"):
        bus.produce("missing", "k", {})


def test_timeout_after_append_is_publish_ambiguity_the_record_exists() -> None:
    faults = FaultPoints()
    bus = InMemoryBus(faults)
    bus.create_topic("t", 1)
    faults.arm("bus.produce.after_append", PublishTimeout("no ack"))
    with pytest.raises(PublishTimeout):
        bus.produce("t", "k", {"v": 1})
    assert bus.end_offsets("t") == {0: 1}  # the broker took it although the client never heard
    assert bus.produce("t", "k", {"v": 2}) == (0, 1)  # the fault fired once and is gone
