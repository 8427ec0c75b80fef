"""Adapter interfaces of the reference platform: the bus (Kafka semantics) and the object store (S3
semantics). The in-memory adapters and the real ones (confluent-kafka, boto3) implement the same
protocols, so every component runs unchanged in-process and on the local stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class BusRecord:
    topic: str
    partition: int
    offset: int
    key: str
    value: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class PublishTimeout(Exception):
    """The publish outcome is unknown: the request left, no acknowledgement came back."""


class PreconditionFailed(Exception):
    """A conditional (write-once, If-None-Match) put found the key already present."""


class Bus(Protocol):
    def create_topic(self, topic: str, partitions: int) -> None: ...

    def topics(self) -> Mapping[str, int]:
        """Topic name -> partition count."""
        ...

    def produce(self, topic: str, key: str, value: Mapping[str, Any],
                headers: Mapping[str, str] | None = None) -> tuple[int, int]:
        """Append and wait for the acknowledgement; returns (partition, offset).

        Raises PublishTimeout when the outcome is unknown."""
        ...

    def end_offsets(self, topic: str) -> Mapping[int, int]:
        """Partition -> the offset the next record will get (Kafka's high watermark)."""
        ...

    def start_offsets(self, topic: str) -> Mapping[int, int]: ...

    def poll(self, group: str, topic: str, max_records: int = 500) -> list[BusRecord]:
        """Records after the group's position (committed offset, or the start if none yet)."""
        ...

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Commit the *next* offset to read, as Kafka does."""
        ...

    def committed(self, group: str, topic: str) -> Mapping[int, int]: ...

    def seek(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Move the group's in-memory position (a restarted consumer resumes from its commit)."""
        ...


class ObjectStore(Protocol):
    def create_bucket(self, bucket: str) -> None: ...

    def put(self, bucket: str, key: str, body: bytes, *, if_none_match: bool = False) -> str:
        """Store an object; with if_none_match=True the put is write-once (raises PreconditionFailed).

        Returns the ETag."""
        ...

    def get(self, bucket: str, key: str) -> bytes:
        """Raises KeyError when the object does not exist."""
        ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def list(self, bucket: str, prefix: str = "") -> list[str]: ...

    def delete(self, bucket: str, key: str) -> None: ...
