"""The harness reads a platform's buckets itself, with boto3: listings (bounded), objects (size-capped) and
JSON documents parsed strictly (duplicate keys, NaN and non-UTF-8 are refused)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_spine.errors import EnvironmentFault

MAX_OBJECT_BYTES = 8 << 20
MAX_KEYS = 200_000


class ObjectUnreadable(Exception):
    """An object exists but is not a readable JSON document: the reason names it."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 at byte {error.start}") from None
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


class BucketObserver:
    def __init__(self, *, endpoint_url: str | None, region: str = "us-east-1", timeout_s: float = 10.0,
                 client: Any = None) -> None:
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                  config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                                retries={"max_attempts": 2}))
        self._client = client
        self.endpoint_url = endpoint_url

    def _fault(self, what: str, error: Exception) -> EnvironmentFault:
        return EnvironmentFault(f"{what}: {type(error).__name__}: {error}")

    def bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=bucket)
            return True
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self._fault(f"s3://{bucket}", error) from None
        except BotoCoreError as error:
            raise self._fault(f"s3://{bucket} at {self.endpoint_url}", error) from None

    def list(self, bucket: str, prefix: str = "", *, limit: int = MAX_KEYS) -> list[ObjectInfo]:
        """Every object under the prefix, in key order; more than ``limit`` is an error, never a silent cut."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[ObjectInfo] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(str(item["Key"]), int(item.get("Size", 0))))
                    if len(found) > limit:
                        raise EnvironmentFault(f"s3://{bucket}/{prefix} holds more than {limit} objects; the "
                                               "harness reads at most that many")
        except (ClientError, BotoCoreError) as error:
            raise self._fault(f"listing s3://{bucket}/{prefix}", error) from None
        return sorted(found, key=lambda o: o.key)

    def get(self, bucket: str, key: str, *, max_bytes: int = MAX_OBJECT_BYTES) -> bytes | None:
        """The object's bytes, None when it does not exist; larger than ``max_bytes`` raises ObjectUnreadable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._fault(f"s3://{bucket}/{key}", error) from None
        except BotoCoreError as error:
            raise self._fault(f"s3://{bucket}/{key}", error) from None
        size = int(answer.get("ContentLength", 0))
        if size > max_bytes:
            answer["Body"].close()
            raise ObjectUnreadable(f"s3://{bucket}/{key} is {size} bytes, over the {max_bytes}-byte cap")
        body: bytes = answer["Body"].read(max_bytes + 1)
        if len(body) > max_bytes:
            raise ObjectUnreadable(f"s3://{bucket}/{key} is over the {max_bytes}-byte cap")
        return body

    def get_json(self, bucket: str, key: str) -> Mapping[str, Any] | None:
        raw = self.get(bucket, key)
        if raw is None:
            return None
        try:
            document = strict_json(raw)
        except (ValueError, RecursionError) as error:
            raise ObjectUnreadable(f"s3://{bucket}/{key} is not a readable JSON document: {error}") from None
        if not isinstance(document, dict):
            raise ObjectUnreadable(f"s3://{bucket}/{key} is JSON but not an object ({type(document).__name__})")
        return document
