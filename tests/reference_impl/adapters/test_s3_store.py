from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from reference_impl.adapters.s3_store import S3ObjectStore, StoreUnavailable
from reference_impl.ports import PreconditionFailed

pytestmark = pytest.mark.services
_CREDS = {"aws_access_key_id": LOCAL_ACCESS_KEY, "aws_secret_access_key": LOCAL_SECRET_KEY}


@pytest.fixture
def store(local_stack: SessionStack) -> Iterator[S3ObjectStore]:
    yield S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url"), client_kwargs=_CREDS)


@pytest.fixture
def bucket(store: S3ObjectStore) -> str:
    name = f"spine-test-{uuid.uuid4().hex[:12]}"
    store.create_bucket(name)
    return name


def test_put_get_list_exists_delete(store: S3ObjectStore, bucket: str) -> None:
    etag = store.put(bucket, "evidence/runs/p1/run.json", b'{"a":1}')
    assert etag == "c5e8a5fe95df9ac5e8ae64eb1ee86c49" or len(etag) == 32
    store.put(bucket, "evidence/runs/p1/ingest/receipt_summary.json", b"{}")
    store.put(bucket, "oracle/p1/x.json", b"{}")
    assert store.get(bucket, "evidence/runs/p1/run.json") == b'{"a":1}'
    assert store.list(bucket, "evidence/runs/p1/") == ["evidence/runs/p1/ingest/receipt_summary.json",
                                                       "evidence/runs/p1/run.json"]
    assert store.exists(bucket, "oracle/p1/x.json") is True
    store.delete(bucket, "oracle/p1/x.json")
    assert store.exists(bucket, "oracle/p1/x.json") is False
    with pytest.raises(KeyError, match=f"object {bucket}/oracle/p1/x.json does not exist"):
        store.get(bucket, "oracle/p1/x.json")
    assert bucket in store.buckets()


def test_conditional_put_is_write_once_on_the_server(store: S3ObjectStore, bucket: str) -> None:
    store.put(bucket, "evidence/runs/p1/run_completed.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed, match=f"object {bucket}/evidence/runs/p1/run_completed.json already "
                                                 r"exists \(write-once put\)"):
        store.put(bucket, "evidence/runs/p1/run_completed.json", b"second", if_none_match=True)
    assert store.get(bucket, "evidence/runs/p1/run_completed.json") == b"first"
    # An unconditional put still overwrites (the write-once promise is the conditional put's).
    store.put(bucket, "scratch.json", b"1")
    store.put(bucket, "scratch.json", b"2")
    assert store.get(bucket, "scratch.json") == b"2"


def test_missing_bucket_is_named(store: S3ObjectStore) -> None:
    with pytest.raises(KeyError, match="bucket 'spine-test-absent' does not exist"):
        store.put("spine-test-absent", "k", b"x")


def test_an_unreachable_endpoint_is_an_error_within_the_timeout_not_a_hang() -> None:
    store = S3ObjectStore(endpoint_url="http://127.0.0.1:1", timeout_s=1.0, max_attempts=1, client_kwargs=_CREDS)
    with pytest.raises(StoreUnavailable, match=r"writing b/k at http://127.0.0.1:1 failed"):
        store.put("b", "k", b"x")


def test_body_must_be_bytes(store: S3ObjectStore, bucket: str) -> None:
    with pytest.raises(TypeError, match=f"object {bucket}/k: body must be bytes, given str"):
        store.put(bucket, "k", "text")  # type: ignore[arg-type]
