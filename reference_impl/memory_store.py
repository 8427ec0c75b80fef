"""An in-memory object store with S3 semantics: buckets, write-once conditional puts
(If-None-Match: *), ETag = md5 hex of the body."""

from __future__ import annotations

import hashlib
import threading

from reference_impl.faultpoints import FaultPoints
from reference_impl.ports import PreconditionFailed


class NoSuchBucket(KeyError):
    def __init__(self, bucket: str) -> None:
        super().__init__(f"bucket {bucket!r} does not exist; create it first (create_bucket)")

    def __str__(self) -> str:
        return str(self.args[0])


class InMemoryObjectStore:
    def __init__(self, faults: FaultPoints | None = None) -> None:
        self.faults = faults or FaultPoints()
        self._buckets: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()

    def _bucket(self, bucket: str) -> dict[str, bytes]:
        try:
            return self._buckets[bucket]
        except KeyError:
            raise NoSuchBucket(bucket) from None

    def create_bucket(self, bucket: str) -> None:
        with self._lock:
            self._buckets.setdefault(bucket, {})

    def buckets(self) -> list[str]:
        with self._lock:
            return sorted(self._buckets)

    def put(self, bucket: str, key: str, body: bytes, *, if_none_match: bool = False) -> str:
        if not isinstance(body, bytes | bytearray):
            raise TypeError(f"object {bucket}/{key}: body must be bytes, given {type(body).__name__}")
        self.faults.hit("store.put.before", bucket=bucket, key=key, if_none_match=if_none_match)
        with self._lock:
            objects = self._bucket(bucket)
            if if_none_match and key in objects:
                raise PreconditionFailed(f"object {bucket}/{key} already exists (write-once put)")
            objects[key] = bytes(body)
        return hashlib.md5(body).hexdigest()  # S3's ETag for single-part puts

    def get(self, bucket: str, key: str) -> bytes:
        with self._lock:
            objects = self._bucket(bucket)
            try:
                return objects[key]
            except KeyError:
                raise KeyError(f"object {bucket}/{key} does not exist") from None

    def exists(self, bucket: str, key: str) -> bool:
        with self._lock:
            return key in self._bucket(bucket)

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted(k for k in self._bucket(bucket) if k.startswith(prefix))

    def delete(self, bucket: str, key: str) -> None:
        self.faults.hit("store.delete.before", bucket=bucket, key=key)
        with self._lock:
            self._bucket(bucket).pop(key, None)
