from __future__ import annotations

import socket

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi


def test_unknown_toxic_type_and_stream_are_refused_before_any_request() -> None:
    api = ToxiproxyApi("http://127.0.0.1:1")
    with pytest.raises(EnvironmentFault, match=r"unknown toxic type 'lag' for proxy 's3'; use one of latency,"):
        api.add_toxic("s3", "lag")
    with pytest.raises(EnvironmentFault, match="toxic stream must be 'upstream' or 'downstream', given: 'both'"):
        api.add_toxic("s3", "latency", stream="both", latency=10)


def test_an_unreachable_server_is_an_error_naming_it_not_a_hang() -> None:
    with pytest.raises(EnvironmentFault, match=r"Toxiproxy at http://127.0.0.1:1 is unreachable \(GET /version\)"):
        ToxiproxyApi("http://127.0.0.1:1", timeout_s=1.0).version()


@pytest.mark.services
def test_toxics_are_added_updated_listed_and_reset(local_stack: SessionStack) -> None:
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    try:
        added = api.add_toxic("s3", "latency", name="slow_s3", latency=200, jitter=0)
        assert (added.name, added.type, added.stream, dict(added.attributes)) == \
            ("slow_s3", "latency", "downstream", {"latency": 200, "jitter": 0})
        updated = api.update_toxic("s3", "slow_s3", latency=50)
        assert updated.attributes["latency"] == 50
        assert [t.name for t in api.toxics("s3")] == ["slow_s3"]
        with pytest.raises(EnvironmentFault, match=r"Toxiproxy POST /proxies/s3/toxics answered 409"):
            api.add_toxic("s3", "latency", name="slow_s3", latency=1)
    finally:
        api.reset()
    assert api.toxics("s3") == []


@pytest.mark.services
def test_a_disabled_proxy_refuses_connections_until_reset(local_stack: SessionStack) -> None:
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    port = int(local_stack.endpoint("s3.endpoint_url_proxied").rsplit(":", 1)[1])
    try:
        api.set_enabled("s3", False)
        assert api.proxies()["s3"]["enabled"] is False
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        api.reset()
    assert api.proxies()["s3"]["enabled"] is True
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
