"""The real ``toxiproxy-server`` on 127.0.0.1, and the proxies the stack puts in front of its services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.install import install_toxiproxy
from pytest_spine.stack.processes import ProcessRecord, free_port, spawn, stop, wait_until
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi

READY_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    name: str
    listen_port: int
    upstream: str  # host:port


@dataclass(frozen=True, slots=True)
class ToxiproxyHandle:
    api_url: str
    port: int
    process: ProcessRecord


def start_toxiproxy(base_dir: Path, *, port: int | None = None) -> ToxiproxyHandle:
    binary, _ = install_toxiproxy()
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    record = spawn("toxiproxy", [str(binary), "-host", "127.0.0.1", "-port", str(port)],
                   base_dir / "toxiproxy.log")
    api = ToxiproxyApi(f"http://127.0.0.1:{port}", timeout_s=2.0)
    try:
        wait_until(lambda: bool(api.version()), record=record, what="GET /version answers",
                   timeout_s=READY_TIMEOUT_S)
    except EnvironmentFault:
        stop(record, grace_s=2.0)
        raise
    return ToxiproxyHandle(f"http://127.0.0.1:{port}", port, record)


def create_routes(handle: ToxiproxyHandle, routes: list[ProxyRoute]) -> Mapping[str, ProxyRoute]:
    """Create the proxies with toxiproxy-python (it covers proxy creation); verify them through the API."""
    import toxiproxy

    server = toxiproxy.Toxiproxy()
    # toxiproxy-python keeps the server address in a class attribute; set it for this server.
    server.update_api_consumer("127.0.0.1", handle.port)
    server.populate([{"name": r.name, "listen": f"127.0.0.1:{r.listen_port}", "upstream": r.upstream}
                     for r in routes])
    present = ToxiproxyApi(handle.api_url).proxies()
    missing = [r.name for r in routes if r.name not in present]
    if missing:
        raise EnvironmentFault(f"Toxiproxy at {handle.api_url} did not create the proxies {missing}; "
                               f"see {handle.process.log_path}")
    return {r.name: r for r in routes}


def stop_toxiproxy(handle: ToxiproxyHandle) -> bool:
    return stop(handle.process, grace_s=5.0)
