"""The harness reads a platform's consumer groups from the broker, through confluent-kafka's AdminClient:
the committed offset of each partition, the group's state and its live members. These are the broker's own
records of what the consumers did, not the consumers' reports."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_spine.errors import EnvironmentFault

_LOG = logging.getLogger("pytest_spine.observe.kafka")
TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[TopicPartitionKey, ...]


@dataclass(frozen=True, slots=True)
class GroupState:
    group_id: str
    state: str  # STABLE, EMPTY, DEAD, PREPARING_REBALANCING, COMPLETING_REBALANCING, UNKNOWN
    members: tuple[GroupMember, ...]

    @property
    def live(self) -> bool:
        return bool(self.members)


class GroupObserver:
    def __init__(self, bootstrap: str, kafka_config: Mapping[str, str] | None = None, *,
                 timeout_s: float = 10.0) -> None:
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _LOG, **dict(kafka_config or {})}
        self._admin = AdminClient(config)

    def committed(self, group_id: str, partitions: Iterable[TopicPartitionKey]) -> dict[TopicPartitionKey, int | None]:
        """The group's committed offset (the next offset to read) per partition; None where it committed none."""
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

        wanted = [TopicPartition(t, p) for t, p in partitions]
        if not wanted:
            return {}
        request = [ConsumerGroupTopicPartitions(group_id, wanted)]
        try:
            future = self._admin.list_consumer_group_offsets(request, request_timeout=self.timeout_s)[group_id]
            answer = future.result(timeout=self.timeout_s + 1)
        except (KafkaException, TimeoutError) as error:
            raise EnvironmentFault(f"the broker at {self.bootstrap} did not give the committed offsets of group "
                                   f"{group_id!r} within {self.timeout_s} s: {error}") from None
        found: dict[TopicPartitionKey, int | None] = {}
        for tp in answer.topic_partitions or []:
            offset = int(tp.offset)
            found[(str(tp.topic), int(tp.partition))] = offset if offset >= 0 else None
        return found

    def describe(self, group_ids: Iterable[str]) -> dict[str, GroupState]:
        from confluent_kafka import KafkaException

        ids = sorted(set(group_ids))
        if not ids:
            return {}
        try:
            futures = self._admin.describe_consumer_groups(ids, request_timeout=self.timeout_s)
        except KafkaException as error:
            raise EnvironmentFault(f"the broker at {self.bootstrap} did not describe the groups {ids}: "
                                   f"{error}") from None
        states: dict[str, GroupState] = {}
        for group_id, future in futures.items():
            try:
                description = future.result(timeout=self.timeout_s + 1)
            except (KafkaException, TimeoutError) as error:
                raise EnvironmentFault(f"the broker at {self.bootstrap} did not describe group {group_id!r} "
                                       f"within {self.timeout_s} s: {error}") from None
            members = tuple(
                GroupMember(str(m.member_id), str(m.client_id), str(m.host),
                            tuple((str(tp.topic), int(tp.partition))
                                  for tp in (m.assignment.topic_partitions if m.assignment else [])))
                for m in description.members or [])
            state = getattr(description.state, "name", str(description.state))
            states[group_id] = GroupState(group_id, str(state), members)
        return states
