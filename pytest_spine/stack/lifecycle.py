"""``spine stack up | down | status`` for the native stack: Kafka (KRaft), moto's S3 server, PostgreSQL and
Toxiproxy on 127.0.0.1, with Toxiproxy proxies in front of Kafka, S3 and the ingestion gate.

Start-up is all-or-nothing: when one service fails its readiness check, everything already started is
stopped again and no state file is left behind, so ``down`` never has to guess.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pytest_spine.clock import utc_iso
from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.stack.processes import ProcessRecord, _start_ticks, free_port, is_running, port_open, stop
from pytest_spine.stack.state import SERVICES, ServiceState, StackState, clear_state, read_state, write_state

DEFAULT_STACK_DIR = Path(".spine/stack")
# Toxiproxy proxy names: the faults engine addresses proxies by these.
PROXY_KAFKA = "kafka"
PROXY_S3 = "s3"
PROXY_IG = "ig"


def parse_services(text: str | Iterable[str] | None) -> tuple[str, ...]:
    if text is None:
        return SERVICES
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = [s for s in items if s not in SERVICES]
    if unknown or not items:
        raise ConfigError(f"--services must be a comma-separated subset of {','.join(SERVICES)}, given: "
                          f"{text!r}")
    return tuple(s for s in SERVICES if s in items)


def stack_up(stack_dir: Path = DEFAULT_STACK_DIR, services: Iterable[str] | None = None, *,
             registry: HandlesRegistry | None = None, log: Callable[[str], None] = lambda _: None) -> StackState:
    """Start the requested services (all by default) and write the state file; returns the state.

    When a stack is already up in ``stack_dir`` with every requested service running, it is returned as is."""
    stack_dir = stack_dir.resolve()
    wanted = parse_services(services)
    registry = registry or load_registry()
    existing = read_state(stack_dir)
    if existing is not None:
        dead = [n for n, s in existing.services.items() if not s.running()]
        missing = [n for n in wanted if n not in existing.services]
        if not dead and not missing:
            log(f"stack already up in {stack_dir}")
            return existing
        raise EnvironmentFault(
            f"a stack is recorded in {stack_dir} but {', '.join(dead) or 'no service'} stopped and "
            f"{', '.join(missing) or 'nothing'} is missing; run 'spine stack down --dir {stack_dir}' first")
    stack_dir.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:  # data of an earlier stack: a KRaft dir keeps its old cluster id
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stack_dir / name)

    started_at = time.time()
    timings: dict[str, float] = {}
    timings.update(install_services(wanted, log))
    started: dict[str, ServiceState] = {}
    stoppers: list[Callable[[], object]] = []
    reserved = {"ig": free_port(), "ig_proxy": free_port(), "kafka_proxy": free_port(), "s3_proxy": free_port()}
    try:
        proxy_handle = None
        if "toxiproxy" in wanted:
            from pytest_spine.stack.toxiproxy import start_toxiproxy, stop_toxiproxy

            t0 = time.monotonic()
            proxy_handle = start_toxiproxy(stack_dir / "toxiproxy")
            toxi = proxy_handle
            stoppers.append(lambda: stop_toxiproxy(toxi))
            timings["toxiproxy"] = time.monotonic() - t0
            started["toxiproxy"] = ServiceState("toxiproxy", proxy_handle.process,
                                                {"api_url": proxy_handle.api_url}, {"port": proxy_handle.port})
            log(f"toxiproxy ready at {proxy_handle.api_url} ({timings['toxiproxy']:.1f}s)")

        jobs: dict[str, Callable[[], tuple[ServiceState, Callable[[], object]]]] = {}
        if "kafka" in wanted:
            jobs["kafka"] = lambda: _start_kafka(stack_dir, registry, reserved["kafka_proxy"])
        if "s3" in wanted:
            jobs["s3"] = lambda: _start_s3(stack_dir, registry, reserved["s3_proxy"] if proxy_handle else None)
        if "postgres" in wanted:
            jobs["postgres"] = lambda: _start_postgres(stack_dir)
        # The JVM boot dominates; the services are independent, so they start side by side.
        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            futures = {name: (time.monotonic(), pool.submit(job)) for name, job in jobs.items()}
            errors: list[str] = []
            for name, (t0, future) in futures.items():
                try:
                    service, stopper = future.result()
                except Exception as error:
                    errors.append(f"{name}: {error}")
                    continue
                stoppers.append(stopper)
                started[name] = service
                timings[name] = time.monotonic() - t0
                log(f"{name} ready ({timings[name]:.1f}s)")
        if errors:
            raise EnvironmentFault("the stack did not come up:\n" + "\n".join(errors))

        proxies: dict[str, dict[str, Any]] = {}
        if proxy_handle is not None:
            from pytest_spine.stack.toxiproxy import ProxyRoute, create_routes

            routes = [ProxyRoute(PROXY_IG, reserved["ig_proxy"], f"127.0.0.1:{reserved['ig']}")]
            if "kafka" in started:
                routes.append(ProxyRoute(PROXY_KAFKA, reserved["kafka_proxy"],
                                         f"127.0.0.1:{started['kafka'].facts['proxied_listener_port']}"))
            if "s3" in started:
                routes.append(ProxyRoute(PROXY_S3, reserved["s3_proxy"], f"127.0.0.1:{started['s3'].facts['port']}"))
            proxies = {name: asdict(route) for name, route in create_routes(proxy_handle, routes).items()}
        timings["total"] = time.time() - started_at
        state = StackState(str(stack_dir), "native", utc_iso(started_at), registry.source, started, proxies,
                           reserved, timings)
        write_state(state)
        return state
    except BaseException:
        # All-or-nothing: a half-started stack is stopped (also on Ctrl-C) and leaves no state file.
        for stopper in reversed(stoppers):
            with contextlib.suppress(Exception):
                stopper()
        raise


def install_services(wanted: tuple[str, ...], log: Callable[[str], None]) -> dict[str, float]:
    """Fetch Kafka (Maven Central) and build Toxiproxy (go install) side by side; cached after the first time."""
    from pytest_spine.stack.install import InstallReport, install_kafka, install_toxiproxy

    jobs: dict[str, Callable[[], InstallReport]] = {}
    if "kafka" in wanted:
        jobs["kafka"] = lambda: install_kafka()[1]
    if "toxiproxy" in wanted:
        jobs["toxiproxy"] = lambda: install_toxiproxy()[1]
    timings: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, future in futures.items():
            report = future.result()
            if not report.cached:
                log(f"installed {name} into {report.path} ({report.seconds:.1f}s)")
                timings[f"install_{name}"] = report.seconds
    return timings


def _start_kafka(stack_dir: Path, registry: HandlesRegistry,
                 proxy_port: int) -> tuple[ServiceState, Callable[[], object]]:
    from pytest_spine.stack.kafka import ensure_topics, start_kafka, stop_kafka

    handle = start_kafka(stack_dir / "kafka", advertised_proxy_port=proxy_port)
    try:
        ensure_topics(handle.bootstrap, {t.name: t.partitions for t in registry.topics.values()})
    except Exception:
        stop_kafka(handle)
        raise
    service = ServiceState("kafka", handle.process, {
        "bootstrap": handle.bootstrap,
        # Clients that bootstrap here stay on the proxy (the PROXIED listener advertises it).
        "bootstrap_proxied": f"127.0.0.1:{proxy_port}",
    }, {"port": handle.port, "proxied_listener_port": handle.proxied_listener_port,
        "controller_port": handle.controller_port, "data_dir": handle.data_dir, "cluster_id": handle.cluster_id})
    return service, lambda: stop_kafka(handle)


def _start_s3(stack_dir: Path, registry: HandlesRegistry,
              proxy_port: int | None) -> tuple[ServiceState, Callable[[], object]]:
    from pytest_spine.stack.s3 import start_s3, stop_s3

    handle = start_s3(stack_dir / "s3", registry.section("buckets").values())
    endpoints = {"endpoint_url": handle.endpoint_url, "region": handle.region}
    if proxy_port is not None:
        endpoints["endpoint_url_proxied"] = f"http://127.0.0.1:{proxy_port}"
    service = ServiceState("s3", handle.process, endpoints, {"port": handle.port, "buckets": list(handle.buckets)})
    return service, lambda: stop_s3(handle)


def _postgres_module() -> Any:
    try:
        return importlib.import_module("pytest_spine.stack.postgres")
    except ModuleNotFoundError as missing:
        if missing.name == "pytest_spine.stack.postgres":
            raise EnvironmentFault("the PostgreSQL service module pytest_spine/stack/postgres.py is not in this "
                                   "build; start the stack without it: --services kafka,s3,toxiproxy") from None
        raise


def _start_postgres(stack_dir: Path) -> tuple[ServiceState, Callable[[], object]]:
    postgres = _postgres_module()
    handle = postgres.start_postgres(stack_dir / "postgres")
    ticks = _start_ticks(int(handle.pid))
    record = ProcessRecord("postgres", int(handle.pid), ticks if ticks is not None else -1, str(handle.log_path),
                           ("postgres", "-D", str(handle.data_dir)))
    service = ServiceState("postgres", record, {"dsn": str(handle.dsn)},
                           {"port": int(handle.port), "data_dir": str(handle.data_dir), "pid": int(handle.pid),
                            "log_path": str(handle.log_path)})
    return service, lambda: postgres.stop_postgres(handle)


def stack_down(stack_dir: Path = DEFAULT_STACK_DIR, *, log: Callable[[str], None] = lambda _: None) -> list[str]:
    """Stop every process the recorded stack started (and only those); idempotent. Returns the names stopped."""
    stack_dir = stack_dir.resolve()
    state = read_state(stack_dir)
    if state is None:
        log(f"no stack recorded in {stack_dir}: nothing to stop")
        return []
    stopped: list[str] = []
    # Reverse start order: clients of the proxy go before the proxy.
    for name in ("postgres", "s3", "kafka", "toxiproxy"):
        service = state.services.get(name)
        if service is None or service.process is None:
            continue
        if name == "postgres" and is_running(service.process):
            with contextlib.suppress(EnvironmentFault, ImportError):
                postgres = _postgres_module()
                postgres.stop_postgres(postgres.PostgresHandle(
                    service.endpoints["dsn"], service.facts["port"], service.facts["data_dir"],
                    service.facts["pid"], service.facts["log_path"]))
        if stop(service.process, grace_s=15.0) or name == "postgres":
            stopped.append(name)
        log(f"{name} (pid {service.process.pid}) stopped")
    clear_state(stack_dir)
    return stopped


def stack_status(stack_dir: Path = DEFAULT_STACK_DIR) -> dict[str, Any]:
    """A JSON-able report: whether the stack is up, each service's pid, liveness, endpoints and log."""
    stack_dir = stack_dir.resolve()
    state = read_state(stack_dir)
    if state is None:
        return {"stack_dir": str(stack_dir), "up": False, "services": {}, "endpoints": {},
                "reason": "no stack recorded; run 'spine stack up'"}
    services: dict[str, Any] = {}
    for name, service in state.services.items():
        running = service.running()
        entry: dict[str, Any] = {"running": running, "endpoints": dict(service.endpoints),
                                 "facts": dict(service.facts)}
        if service.process is not None:
            entry.update(pid=service.process.pid, log_path=service.process.log_path)
        services[name] = entry
    proxies = {name: {**dict(route), "listening": port_open(int(route["listen_port"]))}
               for name, route in state.proxies.items()}
    return {
        "stack_dir": state.stack_dir, "up": all(s["running"] for s in services.values()), "mode": state.mode,
        "started_at_utc": state.started_at_utc, "registry_path": state.registry_path, "services": services,
        "proxies": proxies, "endpoints": {**state.endpoints(), **ig_endpoints(state)},
        "reserved_ports": dict(state.reserved_ports), "timings_s": dict(state.timings_s),
    }


def ig_endpoints(state: StackState) -> dict[str, str]:
    """Where the ingestion gate is to listen (the local_parity target starts it on the reserved port) and
    the Toxiproxy proxy that already fronts it."""
    found = {}
    if "ig" in state.reserved_ports:
        found["ig.base_url"] = f"http://127.0.0.1:{state.reserved_ports['ig']}"
    if PROXY_IG in state.proxies:
        found["ig.base_url_proxied"] = f"http://127.0.0.1:{state.proxies[PROXY_IG]['listen_port']}"
    return found
