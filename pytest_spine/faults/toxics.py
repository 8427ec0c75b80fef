"""Network fault kinds: Toxiproxy toxics on a link between the platform and a service it depends on.

One kind per toxic type (``toxic_latency``, ``toxic_bandwidth``, ``toxic_timeout``, ``toxic_reset_peer``,
``toxic_limit_data``), each with its own attributes checked when the scenario file is loaded. A scenario
names the *link* (``bus``: the platform to Kafka; ``object_store``: the platform to the S3 server;
``gate``: clients to the ingestion gate) and the driver maps it to its Toxiproxy proxy, so the file says
what is broken, not which port. Rollback (``remove_toxic``) deletes the toxic and checks it is gone; it is
safe to call twice and after a failed injection.

Only a driver with the ``network_faults`` capability (the local stack's, which holds a Toxiproxy client)
can run these; on ``reference`` such scenarios are NOT_APPLICABLE with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from pytest_spine.errors import EnvironmentFault, TargetUnavailable
from pytest_spine.faults.base import register_fault_kind
from pytest_spine.scenarios.driver import ChaosDriver

LINKS = ("bus", "object_store", "gate")
STREAMS = ("upstream", "downstream")
CAPABILITY = "network_faults"


class ToxicClient(Protocol):
    """What the kinds need of ``pytest_spine.stack.toxiproxy_api.ToxiproxyApi``."""

    def add_toxic(self, proxy: str, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: Any) -> Any: ...

    def remove_toxic(self, proxy: str, name: str) -> None: ...

    def toxics(self, proxy: str) -> list[Any]: ...


class NetworkDriver(Protocol):
    """A chaos driver with ``network_faults``: its Toxiproxy client and its links (link -> proxy name)."""

    toxiproxy: ToxicClient | None
    links: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Attribute:
    toxiproxy_name: str  # the attribute as Toxiproxy's API names it
    required: bool
    default: int
    minimum: int
    unit: str


class ToxicKind:
    rollbacks = frozenset({"remove_toxic"})
    needs = frozenset({CAPABILITY})

    def __init__(self, toxic: str, attributes: Mapping[str, Attribute], effect: str) -> None:
        self.toxic = toxic  # Toxiproxy's toxic type
        self.name = f"toxic_{toxic}"
        self.attributes = dict(attributes)  # scenario parameter -> attribute
        self.effect = effect

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        allowed = {"link", "stream", "toxicity", *self.attributes}
        problems = [(key, f"unknown parameter {key!r}; {self.name} takes {', '.join(sorted(allowed))}")
                    for key in sorted(set(params) - allowed)]
        link = params.get("link")
        if link not in LINKS:
            problems.append(("link", f"must name the link to break, one of {', '.join(LINKS)}; given: {link!r}"))
        stream = params.get("stream", "downstream")
        if stream not in STREAMS:
            problems.append(("stream", f"must be upstream (towards the service) or downstream (its answers), "
                                       f"given: {stream!r}"))
        toxicity = params.get("toxicity", 1.0)
        if not isinstance(toxicity, int | float) or isinstance(toxicity, bool) or not 0 < toxicity <= 1:
            problems.append(("toxicity", f"must be the share of connections affected, in (0, 1], given: "
                                         f"{toxicity!r}"))
        for key, spec in self.attributes.items():
            value = params.get(key)
            if value is None:
                if spec.required:
                    problems.append((key, f"{self.name} needs {key} ({spec.unit})"))
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < spec.minimum:
                problems.append((key, f"must be a whole number of {spec.unit} >= {spec.minimum}, given: {value!r}"))
        return problems

    def toxic_attributes(self, params: Mapping[str, Any]) -> dict[str, int]:
        return {spec.toxiproxy_name: int(params.get(key, spec.default)) for key, spec in self.attributes.items()}

    def toxic_name(self, params: Mapping[str, Any]) -> str:
        return f"spine_{self.toxic}_{params.get('link')}_{params.get('stream', 'downstream')}"

    def describe(self, params: Mapping[str, Any]) -> str:
        shown = ", ".join(f"{key}={params.get(key, spec.default)}" for key, spec in self.attributes.items())
        share = params.get("toxicity", 1.0)
        on = f"{share:.0%} of connections" if share != 1.0 else "every connection"
        return (f"Toxiproxy {self.toxic} on the {params.get('link')} link ({params.get('stream', 'downstream')}"
                f"{', ' + shown if shown else ''}): {self.effect}, {on}")

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None:
        client, proxy = _client(driver, params)
        client.add_toxic(proxy, self.toxic, name=self.toxic_name(params), stream=str(params.get("stream",
                                                                                              "downstream")),
                         toxicity=float(params.get("toxicity", 1.0)), **self.toxic_attributes(params))

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None:
        client, proxy = _client(driver, params)
        name = self.toxic_name(params)
        try:
            client.remove_toxic(proxy, name)
        except EnvironmentFault as error:
            if "404" not in str(error):  # already gone (a failed injection, a second rollback) is fine
                raise
        left = [t.name for t in client.toxics(proxy) if t.name == name]
        if left:
            raise EnvironmentFault(f"toxic {name!r} is still on proxy {proxy!r} after its rollback")


def _client(driver: ChaosDriver, params: Mapping[str, Any]) -> tuple[ToxicClient, str]:
    network = cast(NetworkDriver, driver)
    client = getattr(network, "toxiproxy", None)
    if CAPABILITY not in driver.capabilities or client is None:
        raise TargetUnavailable(f"target {driver.name!r} has no network faults (no Toxiproxy in front of its "
                                "services); run this scenario with --spine-env=local_parity")
    link = str(params.get("link"))
    proxy = dict(getattr(network, "links", {})).get(link)
    if proxy is None:
        raise TargetUnavailable(f"target {driver.name!r} has no Toxiproxy proxy on the {link!r} link; it has "
                                f"{', '.join(sorted(getattr(network, 'links', {}))) or 'none'}")
    return client, proxy


def _ms(name: str, *, required: bool = False, default: int = 0) -> Attribute:
    return Attribute(name, required, default, 0, "milliseconds")


KINDS: tuple[ToxicKind, ...] = (
    ToxicKind("latency", {"latency_ms": _ms("latency", required=True), "jitter_ms": _ms("jitter")},
              "every packet is delayed"),
    ToxicKind("bandwidth", {"rate_kbps": Attribute("rate", True, 0, 1, "KB/s")},
              "the link carries at most rate_kbps"),
    ToxicKind("timeout", {"timeout_ms": _ms("timeout")},
              "data stops getting through (a partition); with timeout_ms > 0 the connection closes after it"),
    ToxicKind("reset_peer", {"timeout_ms": _ms("timeout")},
              "connections are reset (TCP RST) after timeout_ms"),
    ToxicKind("limit_data", {"bytes": Attribute("bytes", True, 0, 1, "bytes")},
              "the connection is cut after that many bytes"),
)

for _kind in KINDS:
    register_fault_kind(_kind)
