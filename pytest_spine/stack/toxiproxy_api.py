"""A small client for Toxiproxy's documented HTTP API (https://github.com/Shopify/toxiproxy#http-api).

toxiproxy-python creates proxies, but it has no request timeouts, keeps the server address in a
process-global class, and cannot update a toxic; chaos needs all three. This client covers the toxics
lifecycle (add, update, remove, list), proxy enable/disable and ``/reset`` with a timeout on every call.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_spine.errors import EnvironmentFault

TOXIC_TYPES = ("latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data")


@dataclass(frozen=True, slots=True)
class Toxic:
    name: str
    type: str
    stream: str  # upstream | downstream
    toxicity: float
    attributes: Mapping[str, Any]


class ToxiproxyApi:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            raise EnvironmentFault(f"Toxiproxy {method} {path} answered {error.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise EnvironmentFault(f"Toxiproxy at {self.url} is unreachable ({method} {path}): {error}; "
                                   "is the stack up? (spine stack status)") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def version(self) -> str:
        return str(self._call("GET", "/version"))

    def proxies(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return found

    def create_proxy(self, name: str, listen: str, upstream: str) -> dict[str, Any]:
        created: dict[str, Any] = self._call("POST", "/proxies",
                                             {"name": name, "listen": listen, "upstream": upstream,
                                              "enabled": True})
        return created

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """A disabled proxy refuses connections and drops open ones: a clean network partition."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def add_toxic(self, proxy: str, type: str, *, name: str | None = None, stream: str = "downstream",
                  toxicity: float = 1.0, **attributes: Any) -> Toxic:
        if type not in TOXIC_TYPES:
            raise EnvironmentFault(f"unknown toxic type {type!r} for proxy {proxy!r}; use one of "
                                   f"{', '.join(TOXIC_TYPES)}")
        if stream not in ("upstream", "downstream"):
            raise EnvironmentFault(f"toxic stream must be 'upstream' or 'downstream', given: {stream!r}")
        body = {"name": name or f"{type}_{stream}", "type": type, "stream": stream, "toxicity": toxicity,
                "attributes": dict(attributes)}
        return _toxic(self._call("POST", f"/proxies/{proxy}/toxics", body))

    def update_toxic(self, proxy: str, name: str, *, toxicity: float | None = None,
                     **attributes: Any) -> Toxic:
        body: dict[str, Any] = {"attributes": dict(attributes)}
        if toxicity is not None:
            body["toxicity"] = toxicity
        return _toxic(self._call("POST", f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def toxics(self, proxy: str) -> list[Toxic]:
        return [_toxic(item) for item in self._call("GET", f"/proxies/{proxy}/toxics") or []]

    def reset(self) -> None:
        """Enable every proxy and remove every toxic: the rollback of all network faults at once."""
        self._call("POST", "/reset")


def _toxic(data: Mapping[str, Any]) -> Toxic:
    return Toxic(str(data["name"]), str(data["type"]), str(data.get("stream", "downstream")),
                 float(data.get("toxicity", 1.0)), dict(data.get("attributes", {})))
