"""The ObjectStore port over S3 (or an S3-compatible server) with boto3.

Write-once puts are real conditional writes: ``PutObject`` with ``IfNoneMatch="*"`` (S3 has supported it
since 2024-08; moto's server honours it), so two writers racing for one key cannot both win; the loser gets
``PreconditionFailed``. Every call has connect and read timeouts and bounded retries, so an unreachable
bucket is an error, never a hang. Credentials come from the normal AWS chain (or the loopback dummies the
local stack passes) and are never put into a message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from reference_impl.errors import PlatformError
from reference_impl.faultpoints import FaultPoints
from reference_impl.ports import PreconditionFailed


class StoreUnavailable(PlatformError):
    """The object store did not answer in time or refused the request (not a precondition failure)."""


class S3ObjectStore:
    def __init__(self, *, endpoint_url: str | None = None, region: str = "us-east-1", timeout_s: float = 10.0,
                 max_attempts: int = 2, client_kwargs: Mapping[str, Any] | None = None,
                 faults: FaultPoints | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint_url = endpoint_url
        self.faults = faults or FaultPoints()
        config = Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                        retries={"max_attempts": max_attempts, "mode": "standard"},
                        s3={"addressing_style": "path"} if endpoint_url else {})
        self._client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config,
                                    **dict(client_kwargs or {}))
        self._where = endpoint_url or f"S3 ({region})"

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(**kwargs)
        except ClientError:
            raise
        except BotoCoreError as error:
            raise StoreUnavailable(f"{what} at {self._where} failed: {error}; check the endpoint and that the "
                                   "bucket's server is up") from None

    def create_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call(f"creating bucket {bucket!r}", "create_bucket", Bucket=bucket)
        except ClientError as error:
            if _code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StoreUnavailable(f"creating bucket {bucket!r} at {self._where} failed: {_code(error)}") \
                    from None

    def buckets(self) -> list[str]:
        found = self._call("listing buckets", "list_buckets")
        return sorted(b["Name"] for b in found.get("Buckets", []))

    def put(self, bucket: str, key: str, body: bytes, *, if_none_match: bool = False) -> str:
        from botocore.exceptions import ClientError

        if not isinstance(body, bytes | bytearray):
            raise TypeError(f"object {bucket}/{key}: body must be bytes, given {type(body).__name__}")
        self.faults.hit("store.put.before", bucket=bucket, key=key, if_none_match=if_none_match)
        extra = {"IfNoneMatch": "*"} if if_none_match else {}
        try:
            answer = self._call(f"writing {bucket}/{key}", "put_object", Bucket=bucket, Key=key, Body=bytes(body),
                                ContentMD5=_content_md5(body), **extra)
        except ClientError as error:
            code = _code(error)
            # 412 PreconditionFailed: the key exists. 409 ConditionalRequestConflict: a concurrent
            # conditional write to the same key is in progress; either way this writer lost.
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise PreconditionFailed(f"object {bucket}/{key} already exists (write-once put)") from None
            if code in ("NoSuchBucket", "404"):
                raise KeyError(f"bucket {bucket!r} does not exist at {self._where}; create it first") from None
            raise StoreUnavailable(f"writing {bucket}/{key} at {self._where} failed: {code}") from None
        return str(answer.get("ETag", "")).strip('"')

    def get(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self._call(f"reading {bucket}/{key}", "get_object", Bucket=bucket, Key=key)
            body: bytes = answer["Body"].read()
            return body
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise KeyError(f"object {bucket}/{key} does not exist") from None
            raise StoreUnavailable(f"reading {bucket}/{key} at {self._where} failed: {_code(error)}") from None

    def exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call(f"checking {bucket}/{key}", "head_object", Bucket=bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise StoreUnavailable(f"checking {bucket}/{key} at {self._where} failed: {_code(error)}") from None
        return True

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        from botocore.exceptions import ClientError

        keys: list[str] = []
        token: str | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
                if token:
                    kwargs["ContinuationToken"] = token
                page = self._call(f"listing {bucket}/{prefix}", "list_objects_v2", **kwargs)
                keys.extend(item["Key"] for item in page.get("Contents", []))
                if not page.get("IsTruncated"):
                    break
                token = page.get("NextContinuationToken")
        except ClientError as error:
            if _code(error) == "NoSuchBucket":
                raise KeyError(f"bucket {bucket!r} does not exist at {self._where}; create it first") from None
            raise StoreUnavailable(f"listing {bucket}/{prefix} at {self._where} failed: {_code(error)}") from None
        return sorted(keys)

    def delete(self, bucket: str, key: str) -> None:
        from botocore.exceptions import ClientError

        self.faults.hit("store.delete.before", bucket=bucket, key=key)
        try:
            self._call(f"deleting {bucket}/{key}", "delete_object", Bucket=bucket, Key=key)
        except ClientError as error:
            raise StoreUnavailable(f"deleting {bucket}/{key} at {self._where} failed: {_code(error)}") from None


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", "")) or str(
        error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _content_md5(body: bytes) -> str:
    # A torn upload (a proxy cutting the body) is refused by the server instead of stored half-written.
    import base64

    return base64.b64encode(hashlib.md5(body).digest()).decode()
