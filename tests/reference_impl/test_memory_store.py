from __future__ import annotations

import hashlib

import pytest

from reference_impl.faultpoints import FaultPoints
from reference_impl.memory_store import InMemoryObjectStore, NoSuchBucket
from reference_impl.ports import PreconditionFailed


def test_write_once_put_refuses_an_existing_key_and_keeps_the_original() -> None:
    store = InMemoryObjectStore()
    store.create_bucket("b")
    etag = store.put("b", "k", b"first", if_none_match=True)
    assert etag == hashlib.md5(b"first").hexdigest()
    with pytest.raises(PreconditionFailed, match="b/k already exists"):
        store.put("b", "k", b"second", if_none_match=True)
    assert store.get("b", "k") == b"first"


def test_plain_put_overwrites_and_list_filters_by_prefix() -> None:
    store = InMemoryObjectStore()
    store.create_bucket("b")
    store.put("b", "a/1", b"x")
    store.put("b", "a/1", b"y")
    store.put("b", "b/1", b"z")
    assert store.get("b", "a/1") == b"y"
    assert store.list("b", "a/") == ["a/1"]
    store.delete("b", "a/1")
    assert not store.exists("b", "a/1")


def test_missing_object_and_bucket_errors_name_them() -> None:
    store = InMemoryObjectStore()
    store.create_bucket("b")
    with pytest.raises(KeyError, match="b/nope does not exist"):
        store.get("b", "nope")
    with pytest.raises(NoSuchBucket, match="bucket 'other' does not exist"):
        store.put("other", "k", b"")


def test_store_fault_point_fails_a_put_before_anything_is_written() -> None:
    faults = FaultPoints()
    store = InMemoryObjectStore(faults)
    store.create_bucket("b")
    faults.arm("store.put.before", OSError("s3 503"), when=lambda ctx: ctx["key"] == "k")
    with pytest.raises(OSError, match="s3 503"):
        store.put("b", "k", b"x")
    assert not store.exists("b", "k")
    store.put("b", "k", b"x")
    assert store.exists("b", "k")
