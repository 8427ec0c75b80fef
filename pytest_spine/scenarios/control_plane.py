"""The control-plane chaos-lite scenarios (CP-008) in the scenario engine: the ``control_plane`` workload
generator and the ``control_plane`` fault kind, both needing a driver with the ``control_plane`` capability.

A control-plane fault happens at a precise point of the workload (a worker dies between its claim and its
report; the report fails after a successful execution), which a progress fraction cannot place. So the
fault kind *arms* a named control-plane fault for its schedule window, and the workload injects it at its
point only while it is armed; each injection and rollback is recorded as a ``fault`` operation.

Importing this module registers both, and wraps the reference chaos driver so it offers the capability.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Mapping
from typing import Any

from pytest_spine.faults.base import fault_kinds, register_fault_kind
from pytest_spine.history import History
from pytest_spine.scenarios.driver import ChaosDriver
from pytest_spine.scenarios.workloads import Figures, Param, workload, workloads

WORKLOADS = ("CP-BASELINE", "CH-POLL-TIMEOUT-BURST", "CH-DUPLICATE-COMMAND-REPLAY", "CH-RESTART-DURING-RUNNING",
             "CH-SUCCESS-THEN-REPORTING-FAILURE", "CH-DUPLICATE-RESUME")
FAULTS = ("worker_crash", "control_plane_restart", "poll_timeout_burst", "poller_crash_before_commit",
          "update_replay", "report_failure", "duplicate_resume")
FIGURES = ("jobs", "jobs_lost", "stale_running", "heavy_executions", "duplicate_heavy_executions",
           "command_success_rate", "poll_timeout_recovery_rate", "mttr_minutes", "traceability_ratio",
           "incidents")


class ControlPlaneFault:
    name = "control_plane"
    rollbacks = frozenset({"disarm"})
    needs = frozenset({"control_plane"})

    def validate(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = [(key, f"unknown parameter {key!r}; control_plane takes 'fault'") for key in sorted(params)
                    if key != "fault"]
        if params.get("fault") not in FAULTS:
            problems.append(("fault", f"must name a control-plane fault ({', '.join(FAULTS)}), given: "
                                      f"{params.get('fault')!r}"))
        return problems

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"control-plane fault {params.get('fault')}: armed, injected by the workload at its point"

    def inject(self, driver: ChaosDriver, params: Mapping[str, Any]) -> None:
        driver.arm_control_plane(str(params["fault"]))  # type: ignore[attr-defined]

    def rollback(self, driver: ChaosDriver, params: Mapping[str, Any], strategy: str) -> None:
        disarm = getattr(driver, "disarm_control_plane", None)
        if callable(disarm):
            disarm(str(params["fault"]))


def _generate(driver: ChaosDriver, params: Mapping[str, Any], rng: random.Random) -> Generator[float, None, Figures]:
    """Run one control-plane workload (commands, workers, its armed faults) to quiescence."""
    name = str(params["workload"])
    if name not in WORKLOADS:
        raise ValueError(f"unknown control-plane workload {name!r}; known: {', '.join(WORKLOADS)}")
    yield 0.05
    figures: Figures = driver.run_control_plane(name, seed=rng.randrange(1 << 31))  # type: ignore[attr-defined]
    yield 0.95
    return figures


if "control_plane" not in workloads():
    workload("control_plane", params={
        "workload": Param(str, "CP-BASELINE", doc="which control-plane workload: " + ", ".join(WORKLOADS)),
    }, figures=FIGURES, needs=("control_plane",))(_generate)
if "control_plane" not in fault_kinds():
    register_fault_kind(ControlPlaneFault())


def _install_driver() -> None:
    """Wrap the reference chaos driver (whatever factory is registered) so it offers ``control_plane``."""
    from pytest_spine.scenarios import execute

    drivers = getattr(execute, "_DRIVERS", None)  # absent only while execute itself is half-imported
    inner = drivers.get("reference") if isinstance(drivers, dict) else None
    if inner is None:
        return

    def with_control_plane(platform_run_id: str, seed: int, mutant: str | None, history: History) -> ChaosDriver:
        from pytest_spine.targets.reference_control_plane import ControlPlaneChaosDriver

        driver: ChaosDriver = inner(platform_run_id, seed, mutant, history)
        if "control_plane" in driver.capabilities:  # already wrapped (this module was imported again)
            return driver
        wrapped: ChaosDriver = ControlPlaneChaosDriver(driver, mutant)
        return wrapped

    execute.register_driver("reference", with_control_plane)


_install_driver()
