"""The stack's state file (``<stack dir>/state.json``): what was started, where it listens, its logs.

It is how ``spine stack status`` and ``down`` (separate processes) find what ``up`` started, and how the
session fixture and the local_parity target learn the endpoints. Written atomically (temp + rename).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import ConfigError
from pytest_spine.stack.processes import ProcessRecord, is_running

STATE_FILE = "state.json"
STATE_VERSION = 1
SERVICES = ("kafka", "s3", "postgres", "toxiproxy")


@dataclass(frozen=True, slots=True)
class ServiceState:
    """One started service: its process, its endpoints (name -> address) and facts (ports, dirs)."""

    name: str
    process: ProcessRecord | None  # None when the service is not a process we own (testcontainers)
    endpoints: Mapping[str, str]
    facts: Mapping[str, Any] = field(default_factory=dict)

    def running(self) -> bool:
        return self.process is None or is_running(self.process)


@dataclass(frozen=True, slots=True)
class StackState:
    stack_dir: str
    mode: str  # native | testcontainers
    started_at_utc: str
    registry_path: str
    services: Mapping[str, ServiceState]
    proxies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    reserved_ports: Mapping[str, int] = field(default_factory=dict)
    timings_s: Mapping[str, float] = field(default_factory=dict)

    def endpoints(self) -> dict[str, str]:
        """Every endpoint of every service, flat: ``kafka.bootstrap``, ``s3.endpoint_url_proxied``, ..."""
        flat: dict[str, str] = {}
        for name, service in self.services.items():
            for key, value in service.endpoints.items():
                flat[f"{name}.{key}"] = value
        return flat

    def endpoint(self, name: str) -> str:
        found = self.endpoints()
        if name not in found:
            raise ConfigError(f"the stack in {self.stack_dir} has no endpoint {name!r}; it has "
                              f"{', '.join(sorted(found)) or 'none'} (start the service with spine stack up)")
        return found[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "state_version": STATE_VERSION,
            "stack_dir": self.stack_dir,
            "mode": self.mode,
            "started_at_utc": self.started_at_utc,
            "registry_path": self.registry_path,
            "services": {name: {"name": s.name, "process": None if s.process is None else asdict(s.process),
                                "endpoints": dict(s.endpoints), "facts": dict(s.facts)}
                         for name, s in self.services.items()},
            "proxies": {k: dict(v) for k, v in self.proxies.items()},
            "reserved_ports": dict(self.reserved_ports),
            "timings_s": dict(self.timings_s),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackState:
        services = {}
        for name, raw in data["services"].items():
            proc = raw.get("process")
            record = None if proc is None else ProcessRecord(
                proc["name"], int(proc["pid"]), int(proc["start_ticks"]), proc["log_path"], tuple(proc["argv"]))
            services[name] = ServiceState(raw["name"], record, dict(raw["endpoints"]), dict(raw.get("facts", {})))
        return cls(str(data["stack_dir"]), str(data["mode"]), str(data["started_at_utc"]),
                   str(data["registry_path"]), services, dict(data.get("proxies", {})),
                   dict(data.get("reserved_ports", {})), dict(data.get("timings_s", {})))


def state_path(stack_dir: Path) -> Path:
    return stack_dir / STATE_FILE


def write_state(state: StackState) -> Path:
    path = state_path(Path(state.stack_dir))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(f".tmp.{os.getpid()}")
    temp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True))
    os.replace(temp, path)
    return path


def read_state(stack_dir: Path) -> StackState | None:
    """The recorded state, or None when no stack was started in ``stack_dir``."""
    path = state_path(stack_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return StackState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"the stack state file {path} is unreadable ({type(error).__name__}: {error}); "
                          f"stop the processes listed in it by hand, then delete it") from None


def clear_state(stack_dir: Path) -> None:
    path = state_path(stack_dir)
    if path.exists():
        os.replace(path, path.with_name("state.stopped.json"))
