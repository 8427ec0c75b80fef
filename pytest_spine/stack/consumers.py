"""Start the per-run consumer processes (``reference_impl.services.rtdl_service``,
``decision_lane_service``) and the one-shot ``reporter_service`` on the local stack, as ``gate.py`` starts
the ingestion gate. They are per-run processes, not stack services (``spine stack status`` does not list
them).

Readiness is the ready file a consumer writes once it consumes (``wait_until`` with the log tail on
failure). ``pause`` stops a consumer at the N-th hit of a named fault point until it is killed;
``wait_paused`` waits for its announcement, so a SIGKILL lands at that place in the code.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import HandlesRegistry
from pytest_spine.stack.gate import gate_config
from pytest_spine.stack.processes import ProcessRecord, exit_code, log_tail, spawn, stop, wait_until
from pytest_spine.stack.state import StackState

READY_TIMEOUT_S = 30.0
SERVICES = {"rtdl": "reference_impl.services.rtdl_service",
            "decision_lane": "reference_impl.services.decision_lane_service"}
REPORTER_MODULE = "reference_impl.services.reporter_service"
_GATE_ONLY = ("host", "port", "health_path", "ingest_path", "ig_auth_header_name")


@dataclass(frozen=True, slots=True)
class ConsumerHandle:
    service: str
    config_path: str
    history_path: str
    ready_path: str
    pause_path: str | None
    process: ProcessRecord


def service_config(state: StackState, registry: HandlesRegistry, platform_run_id: str, history_path: Path, *,
                   mutations: Iterable[str] = (), use_proxies: bool = False, seed: int = 0) -> dict[str, Any]:
    """The gate's settings (endpoints, handles sections, nothing secret) without its HTTP keys."""
    config = gate_config(state, registry, platform_run_id, history_path, mutations=mutations,
                         use_proxies=use_proxies)
    for key in _GATE_ONLY:
        config.pop(key, None)
    config["seed"] = seed
    return config


def _scope_env(config: Mapping[str, Any], platform_run_id: str, required: str | None) -> dict[str, str]:
    value = platform_run_id if required is None else required
    return {str(config["required_platform_run_id_env_key"]): value} if value else {}


def start_consumer(service: str, state: StackState, registry: HandlesRegistry, *, platform_run_id: str,
                   base_dir: Path, required_platform_run_id: str | None = None, mutations: Iterable[str] = (),
                   pause: Mapping[str, Any] | None = None, use_proxies: bool = False, seed: int = 0,
                   label: str = "") -> ConsumerHandle:
    """Start ``service`` (``rtdl`` or ``decision_lane``) and wait until it consumes. Restarts of one
    consumer share ``base_dir``'s history file (appended); ``label`` keeps their configs and logs apart.
    ``required_platform_run_id`` defaults to the run id ("" leaves the scope variable unset: refused)."""
    if service not in SERVICES:
        raise ValueError(f"unknown consumer service {service!r}; known: {sorted(SERVICES)}")
    base_dir.mkdir(parents=True, exist_ok=True)
    name = f"{service}{'-' + label if label else ''}"
    config = service_config(state, registry, platform_run_id, base_dir / f"{service}.history.jsonl",
                            mutations=mutations, use_proxies=use_proxies, seed=seed)
    ready = base_dir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    config["ready_path"] = str(ready)
    pause_path: Path | None = None
    if pause:
        pause_path = base_dir / f"{name}.paused.json"
        pause_path.unlink(missing_ok=True)
        config["pause"] = {**dict(pause), "announce_path": str(pause_path)}
    config_path = base_dir / f"{name}.config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    record = spawn(name, [sys.executable, "-m", SERVICES[service], "--config", str(config_path)],
                   base_dir / f"{name}.log", env=_scope_env(config, platform_run_id, required_platform_run_id))
    try:
        wait_until(ready.exists, record=record, what=f"its ready file {ready.name} appears",
                   timeout_s=READY_TIMEOUT_S)
    except EnvironmentFault:
        stop(record, grace_s=2.0)
        raise
    return ConsumerHandle(service, str(config_path), str(config["history_path"]), str(ready),
                          str(pause_path) if pause_path else None, record)


def wait_paused(handle: ConsumerHandle, *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Wait until the consumer announces it stopped at its pause point; returns the announcement
    (point, hit, the fault point's context)."""
    if handle.pause_path is None:
        raise ValueError(f"{handle.process.name} was started without a pause point")
    path = Path(handle.pause_path)
    wait_until(path.exists, record=handle.process, what=f"it pauses ({path.name} appears)", timeout_s=timeout_s)
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def stop_consumer(handle: ConsumerHandle) -> bool:
    return stop(handle.process, grace_s=5.0)


def history(path: str | Path) -> list[dict[str, Any]]:
    """The operations a service recorded (JSON lines; a SIGKILL may cut the last line, which is skipped)."""
    ops = []
    for line in Path(path).read_text().splitlines():
        try:
            ops.append(json.loads(line))
        except ValueError:
            continue
    return ops


@dataclass(frozen=True, slots=True)
class ReporterRun:
    holder: str
    exit_code: int
    log: str


def start_reporter(state: StackState, registry: HandlesRegistry, *, platform_run_id: str, holder: str,
                   base_dir: Path, required_platform_run_id: str | None = None, mutations: Iterable[str] = (),
                   scenario_run_id: str | None = None) -> ProcessRecord:
    base_dir.mkdir(parents=True, exist_ok=True)
    config = service_config(state, registry, platform_run_id, base_dir / f"reporter-{holder}.history.jsonl",
                            mutations=mutations)
    if scenario_run_id:
        config["scenario_run_id"] = scenario_run_id
    config_path = base_dir / f"reporter-{holder}.config.json"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True))
    return spawn(f"reporter-{holder}", [sys.executable, "-m", REPORTER_MODULE, "--config", str(config_path),
                                        "--holder", holder],
                 base_dir / f"reporter-{holder}.log", env=_scope_env(config, platform_run_id, required_platform_run_id))


def wait_reporter(record: ProcessRecord, holder: str, *, timeout_s: float = 60.0) -> ReporterRun:
    """Wait for a reporter process to exit; its exit code and log."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = exit_code(record)
        if code is not None:
            return ReporterRun(holder, code, Path(record.log_path).read_text(errors="replace"))
        if time.monotonic() > deadline:
            stop(record, grace_s=2.0)
            raise EnvironmentFault(f"{record.name} (pid {record.pid}) did not exit within {timeout_s:.0f}s; log "
                                   f"{record.log_path} ends:\n{log_tail(record.log_path)}")
        time.sleep(0.1)


def running_services(marker: str) -> list[dict[str, Any]]:
    """Live consumer and reporter processes whose command line carries ``marker`` (a run id in their config
    path), from ``/proc``: what P12 must find empty after teardown, whichever process started them."""
    modules = {module: name for name, module in SERVICES.items()} | {REPORTER_MODULE: "reporter"}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        module = next((argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-m"), None)
        if module in modules and state != "Z" and any(marker in arg for arg in argv):
            found.append({"service": modules[module], "pid": int(entry.name),
                          "argv": [arg for arg in argv if arg]})
    return sorted(found, key=lambda p: int(p["pid"]))
