"""Start the ingestion gate service (``reference_impl.services.ig_service``) as a process on the stack's
reserved gate port, behind the stack's Toxiproxy ``ig`` proxy; readiness is its health endpoint.

The API key goes to the child through its environment only; the config file holds nothing secret.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import HandlesRegistry
from pytest_spine.stack.processes import ProcessRecord, spawn, stop, wait_until
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from pytest_spine.stack.state import StackState

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class GateHandle:
    base_url: str
    base_url_proxied: str | None
    health_path: str
    ingest_path: str
    auth_header: str
    history_path: str
    config_path: str
    process: ProcessRecord


def gate_config(state: StackState, registry: HandlesRegistry, platform_run_id: str, history_path: Path, *,
                port: int | None = None, mutations: Iterable[str] = (), use_proxies: bool = False) -> dict[str, object]:
    """The gate's settings from the stack's endpoints and the registry's handles (nothing secret)."""
    endpoints = state.endpoints()
    kafka = endpoints["kafka.bootstrap_proxied"] if use_proxies and "kafka.bootstrap_proxied" in endpoints \
        else endpoints["kafka.bootstrap"]
    s3 = endpoints.get("s3.endpoint_url_proxied") if use_proxies else None
    return {
        "platform_run_id": platform_run_id,
        "env": registry.environment,
        "host": "127.0.0.1",
        "port": port or int(state.reserved_ports["ig"]),
        "kafka_bootstrap": kafka,
        "s3_endpoint_url": s3 or endpoints["s3.endpoint_url"],
        "s3_region": endpoints.get("s3.region", "us-east-1"),
        # The loopback server's fixed dummies, so the child never searches the real AWS credential chain.
        "s3_client_kwargs": {"aws_access_key_id": LOCAL_ACCESS_KEY, "aws_secret_access_key": LOCAL_SECRET_KEY},
        "history_path": str(history_path),
        "health_path": registry.resolve("IG_HEALTHCHECK_PATH"),
        "ingest_path": registry.resolve("IG_INGEST_PATH"),
        "ig_auth_header_name": registry.resolve("IG_AUTH_HEADER_NAME"),
        "required_platform_run_id_env_key": registry.resolve("REQUIRED_PLATFORM_RUN_ID_ENV_KEY"),
        "buckets": dict(registry.section("buckets")),
        "prefixes": dict(registry.section("prefixes")),
        "consumer_groups": dict(registry.section("consumer_groups")),
        "topics": {key: {"name": t.name, "partitions": t.partitions} for key, t in registry.topics.items()},
        "mutations": sorted(mutations),
        "timeout_s": 5.0,
    }


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return bool(response.status == 200)


def start_gate(state: StackState, registry: HandlesRegistry, *, platform_run_id: str, api_key: str,
               base_dir: Path, required_platform_run_id: str | None = None, mutations: Iterable[str] = (),
               use_proxies: bool = False, port: int | None = None) -> GateHandle:
    """Start the gate; ``required_platform_run_id`` defaults to the run id (None = leave the scope variable
    unset, which the gate refuses: fail closed)."""
    base_dir.mkdir(parents=True, exist_ok=True)
    history = base_dir / "ig.history.jsonl"
    config = gate_config(state, registry, platform_run_id, history, port=port, mutations=mutations,
                         use_proxies=use_proxies)
    config_path = base_dir / "ig.config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    scope_key = str(config["required_platform_run_id_env_key"])
    env = {"IG_API_KEY": api_key}
    required = platform_run_id if required_platform_run_id is None else required_platform_run_id
    if required:
        env[scope_key] = required
    record = spawn("ig", [sys.executable, "-m", "reference_impl.services.ig_service", "--config", str(config_path)],
                   base_dir / "ig.log", env=env)
    base_url = f"http://127.0.0.1:{config['port']}"
    try:
        wait_until(lambda: _healthy(f"{base_url}{config['health_path']}"), record=record,
                   what=f"GET {config['health_path']} answers 200", timeout_s=READY_TIMEOUT_S)
    except EnvironmentFault:
        stop(record, grace_s=2.0)
        raise
    from pytest_spine.stack.lifecycle import ig_endpoints

    # The proxy forwards to the reserved port only: a gate on another port has no proxy in front.
    proxied = ig_endpoints(state).get("ig.base_url_proxied") if port is None else None
    return GateHandle(base_url, proxied, str(config["health_path"]), str(config["ingest_path"]),
                      str(config["ig_auth_header_name"]), str(history), str(config_path), record)


def stop_gate(handle: GateHandle) -> bool:
    return stop(handle.process, grace_s=5.0)


def gate_stats(handle: GateHandle) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"{handle.base_url}/v1/ops/stats", timeout=5.0) as response:
            loaded: dict[str, object] = json.loads(response.read())
            return loaded
    except (urllib.error.URLError, OSError) as error:
        raise EnvironmentFault(f"the gate at {handle.base_url} did not answer /v1/ops/stats: {error}") from None
