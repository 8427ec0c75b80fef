"""The daemon supervisor (P2/P12): in-scope packs and their services, replica counts, consumer-group
membership, run-scope confirmation per daemon, and stopping everything at teardown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.errors import ScopeMismatch
from reference_impl.runtime import Runtime

PROCESS = "operate"

# pack_id -> (service name, consumer group handle key or None)
PACKS: Mapping[str, tuple[tuple[str, str | None], ...]] = {
    "control_ingress": (("ig", None),),
    "rtdl_core": (("rtdl_core", "RTDL_CORE_CONSUMER_GROUP_ID"),),
    "rtdl_decision_lane": (("decision_lane", "DECISION_LANE_CONSUMER_GROUP_ID"),),
    "case_labels": (("case_manager", "CASE_LABELS_CONSUMER_GROUP_ID"), ("label_store", None)),
    "obs_gov": (("obs_gov", None),),
}


@dataclass(slots=True)
class Service:
    name: str
    pack_id: str
    task_id: str
    group: str | None
    desired_count: int = 1
    running_count: int = 0
    required_platform_run_id: str | None = None
    scope_ok: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "task_id": self.task_id, "desired_count": self.desired_count,
                "running_count": self.running_count, "required_platform_run_id": self.required_platform_run_id}


class DaemonSupervisor:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.services: dict[str, Service] = {}
        self.scope_checks: list[dict[str, Any]] = []
        for pack_id, services in PACKS.items():
            for name, group_key in services:
                group = runtime.group(group_key, PROCESS) if group_key else None
                self.services[name] = Service(name, pack_id, f"{name}-{runtime.config.seed:04d}-1", group)

    def start_all(self, required: str | None) -> None:
        """Start every service with its REQUIRED_PLATFORM_RUN_ID; a mismatch fails closed (not started)."""
        for service in self.services.values():
            if self.rt.mutated("pack_not_running") and service.pack_id == "case_labels":
                continue
            service.required_platform_run_id = required
            try:
                self.rt.check_scope(service.name, required)
                service.scope_ok = required == self.rt.run_id
            except ScopeMismatch:
                service.scope_ok = False
                self.scope_checks.append({"component": service.name, "required": required,
                                          "observed": self.rt.run_id, "ok": False})
                continue
            self.scope_checks.append({"component": service.name, "required": required,
                                      "observed": self.rt.run_id, "ok": service.scope_ok})
            replicas = 2 if self.rt.mutated("duplicate_consumer") and service.name == "rtdl_core" else 1
            service.running_count = replicas
            self.rt.event(PROCESS, "daemon.started", "operate", service=service.name, replicas=replicas)

    def running(self) -> list[str]:
        return sorted(s.name for s in self.services.values() if s.running_count > 0)

    def is_running(self, name: str) -> bool:
        return self.services[name].running_count > 0

    def consumer_groups(self) -> dict[str, int]:
        groups: dict[str, int] = {}
        for service in self.services.values():
            if service.group is not None:
                groups[service.group] = groups.get(service.group, 0) + service.running_count
        return groups

    def stop_all(self) -> None:
        for service in self.services.values():
            if self.rt.mutated("daemon_left_running") and service.name == "rtdl_core":
                continue
            service.running_count = 0
            self.rt.event(PROCESS, "daemon.stopped", "operate", service=service.name)

    def packs_json(self) -> list[dict[str, Any]]:
        return [{"pack_id": pack_id, "services": [self.services[name].to_json() for name, _ in services]}
                for pack_id, services in PACKS.items()]
