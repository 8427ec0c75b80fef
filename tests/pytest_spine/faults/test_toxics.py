"""The Toxiproxy fault kinds: registered per toxic type, parameters checked at load, injection and rollback
through the driver's Toxiproxy client (a recording fake here; the real server in tests/pytest_spine/stack)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.errors import EnvironmentFault, TargetUnavailable
from pytest_spine.faults.base import fault_kinds
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.stack.toxiproxy_api import Toxic


class FakeToxiproxy:
    def __init__(self) -> None:
        self.on: dict[str, dict[str, Toxic]] = {"kafka": {}, "s3": {}}
        self.calls: list[tuple[Any, ...]] = []

    def add_toxic(self, proxy: str, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: Any) -> Toxic:
        assert name is not None
        self.calls.append(("add", proxy, type, name, stream, toxicity, attributes))
        if name in self.on[proxy]:
            raise EnvironmentFault(f"Toxiproxy POST /proxies/{proxy}/toxics answered 409: toxic already exists")
        self.on[proxy][name] = Toxic(name, type, stream, toxicity, attributes)
        return self.on[proxy][name]

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(("remove", proxy, name))
        if self.on[proxy].pop(name, None) is None:
            raise EnvironmentFault(f"Toxiproxy DELETE /proxies/{proxy}/toxics/{name} answered 404: toxic not found")

    def toxics(self, proxy: str) -> list[Toxic]:
        return list(self.on[proxy].values())


@pytest.fixture
def networked() -> tuple[ReferenceDriver, FakeToxiproxy]:
    driver = ReferenceDriver.standalone("t-toxics", 1)
    fake = FakeToxiproxy()
    driver.toxiproxy = fake
    driver.links = {"bus": "kafka", "object_store": "s3"}
    driver.capabilities = driver.capabilities | {"network_faults"}
    return driver, fake


def test_one_kind_per_toxic_type_is_registered() -> None:
    kinds = fault_kinds()
    for name in ("toxic_latency", "toxic_bandwidth", "toxic_timeout", "toxic_reset_peer", "toxic_limit_data"):
        assert kinds[name].needs == frozenset({"network_faults"})
        assert kinds[name].rollbacks == frozenset({"remove_toxic"})


def test_parameters_are_checked_with_the_place_and_reason() -> None:
    kinds = fault_kinds()
    assert kinds["toxic_latency"].validate({"link": "bus", "latency_ms": 300, "jitter_ms": 20}) == []
    assert kinds["toxic_timeout"].validate({"link": "object_store", "stream": "upstream"}) == []
    problems = dict(kinds["toxic_bandwidth"].validate({"link": "disk", "stream": "sideways", "toxicity": 2,
                                                       "rate_kbps": 0, "colour": "red"}))
    assert problems == {
        "colour": "unknown parameter 'colour'; toxic_bandwidth takes link, rate_kbps, stream, toxicity",
        "link": "must name the link to break, one of bus, object_store, gate; given: 'disk'",
        "stream": "must be upstream (towards the service) or downstream (its answers), given: 'sideways'",
        "toxicity": "must be the share of connections affected, in (0, 1], given: 2",
        "rate_kbps": "must be a whole number of KB/s >= 1, given: 0",
    }
    assert dict(kinds["toxic_latency"].validate({"link": "bus"})) == {
        "latency_ms": "toxic_latency needs latency_ms (milliseconds)"}


def test_inject_adds_the_toxic_on_the_links_proxy_and_rollback_removes_it(
        networked: tuple[ReferenceDriver, FakeToxiproxy]) -> None:
    driver, fake = networked
    kind = fault_kinds()["toxic_latency"]
    params = {"link": "bus", "latency_ms": 300, "jitter_ms": 50}
    kind.inject(driver, params)
    assert fake.calls == [("add", "kafka", "latency", "spine_latency_bus_downstream", "downstream", 1.0,
                           {"latency": 300, "jitter": 50})]
    assert driver.armed() == ["toxic:kafka/spine_latency_bus_downstream"]  # the runner's rollback check sees it
    kind.rollback(driver, params, "remove_toxic")
    assert driver.armed() == []
    kind.rollback(driver, params, "remove_toxic")  # safe twice: a 404 means already gone


def test_a_rollback_that_leaves_the_toxic_fails_loudly(networked: tuple[ReferenceDriver, FakeToxiproxy]) -> None:
    driver, fake = networked
    kind = fault_kinds()["toxic_timeout"]
    params = {"link": "object_store", "stream": "upstream"}
    kind.inject(driver, params)
    fake.remove_toxic = lambda proxy, name: None  # type: ignore[method-assign]  # answers, removes nothing
    with pytest.raises(EnvironmentFault, match="toxic 'spine_timeout_object_store_upstream' is still on proxy 's3'"):
        kind.rollback(driver, params, "remove_toxic")


def test_a_driver_without_network_faults_names_the_target_to_use() -> None:
    driver = ReferenceDriver.standalone("t-no-net", 1)
    with pytest.raises(TargetUnavailable, match=r"target 'reference' has no network faults.*--spine-env=local_parity"):
        fault_kinds()["toxic_reset_peer"].inject(driver, {"link": "bus"})


def test_a_link_the_target_lacks_is_named(networked: tuple[ReferenceDriver, FakeToxiproxy]) -> None:
    driver, _ = networked
    with pytest.raises(TargetUnavailable, match="no Toxiproxy proxy on the 'gate' link; it has bus, object_store"):
        fault_kinds()["toxic_limit_data"].inject(driver, {"link": "gate", "bytes": 10})


def test_the_plan_line_says_what_breaks() -> None:
    line = fault_kinds()["toxic_bandwidth"].describe({"link": "bus", "stream": "upstream", "rate_kbps": 2,
                                                      "toxicity": 0.5})
    assert line == ("Toxiproxy bandwidth on the bus link (upstream, rate_kbps=2): the link carries at most "
                    "rate_kbps, 50% of connections")
