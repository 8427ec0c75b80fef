"""Object-store helpers over boto3: write-once puts (If-None-Match: *), reads, listings, buckets."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from miniplat.util import canonical


class AlreadyExists(Exception):
    pass


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def put_once(s3: Any, bucket: str, key: str, body: bytes | dict[str, Any],
             content_type: str = "application/json") -> None:
    """Write ``key`` unless it exists (the store enforces it); raise AlreadyExists otherwise."""
    data = canonical(body) if isinstance(body, dict) else body
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*")
    except ClientError as error:
        if _code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise AlreadyExists(f"s3://{bucket}/{key}") from None
        raise


def get_bytes(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            return None
        raise


def get_json(s3: Any, bucket: str, key: str) -> Any:
    raw = get_bytes(s3, bucket, key)
    return None if raw is None else json.loads(raw)


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404", "NotFound"):
            return False
        raise


def list_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(keys)


def ensure_buckets(s3: Any, names: list[str]) -> None:
    for name in names:
        try:
            s3.head_bucket(Bucket=name)
        except ClientError:
            try:
                s3.create_bucket(Bucket=name)
            except ClientError as error:
                if _code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
