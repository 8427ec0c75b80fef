"""CH-S3-FAULTS' core on the real stack: evidence writes through Toxiproxy's S3 proxy that are cut, reset or
blackholed fail (the writer sees an error, so the run fails closed) and leave nothing half-written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi
from reference_impl.adapters.s3_store import S3ObjectStore, StoreUnavailable

pytestmark = pytest.mark.services
_CREDS = {"aws_access_key_id": LOCAL_ACCESS_KEY, "aws_secret_access_key": LOCAL_SECRET_KEY}
BODY = b'{"evidence":"' + b"x" * 200_000 + b'"}'


@pytest.fixture
def toxics(local_stack: SessionStack) -> Iterator[ToxiproxyApi]:
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    api.reset()
    yield api
    api.reset()  # rolled back even when the test fails


@pytest.mark.parametrize(("toxic", "attributes"), [
    ("limit_data", {"bytes": 50_000}),  # the connection is cut mid-body
    ("reset_peer", {"timeout": 0}),  # the connection is reset
    ("timeout", {"timeout": 0}),  # nothing comes back: the read times out
])
def test_a_broken_evidence_write_fails_and_leaves_nothing(local_stack: SessionStack, toxics: ToxiproxyApi,
                                                         toxic: str, attributes: dict[str, int]) -> None:
    direct = S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url"), client_kwargs=_CREDS)
    bucket = f"spine-s3fault-{uuid.uuid4().hex[:10]}"
    direct.create_bucket(bucket)
    proxied = S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url_proxied"), timeout_s=2.0,
                            max_attempts=1, client_kwargs=_CREDS)
    toxics.add_toxic("s3", toxic, name="s3_fault", stream="upstream", **attributes)
    with pytest.raises(StoreUnavailable, match=f"writing {bucket}/evidence/runs/p1/run_report.json at "):
        proxied.put(bucket, "evidence/runs/p1/run_report.json", BODY, if_none_match=True)
    toxics.reset()
    assert direct.list(bucket) == []  # no partial object, under its key or any other
    # After the heal the same write-once put succeeds: the failed attempt did not claim the key.
    proxied.put(bucket, "evidence/runs/p1/run_report.json", BODY, if_none_match=True)
    assert direct.get(bucket, "evidence/runs/p1/run_report.json") == BODY


def test_a_slow_but_working_store_still_writes_whole_objects(local_stack: SessionStack,
                                                             toxics: ToxiproxyApi) -> None:
    direct = S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url"), client_kwargs=_CREDS)
    bucket = f"spine-s3slow-{uuid.uuid4().hex[:10]}"
    direct.create_bucket(bucket)
    proxied = S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url_proxied"), timeout_s=5.0,
                            client_kwargs=_CREDS)
    toxics.add_toxic("s3", "latency", name="slow", stream="downstream", latency=300)
    toxics.add_toxic("s3", "bandwidth", name="thin", stream="upstream", rate=500)  # KB/s
    proxied.put(bucket, "evidence/runs/p1/run.json", BODY, if_none_match=True)
    assert direct.get(bucket, "evidence/runs/p1/run.json") == BODY
