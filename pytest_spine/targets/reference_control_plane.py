"""The reference control plane as a target-side adapter: runs a control-plane workload (the baseline mix or a
CP chaos-lite scenario) against ``reference_impl/control_plane`` on its own injected clock and History.

This is target-side code (it may import reference_impl); the checks that judge a run
(``pytest_spine/invariants/control_plane.py``, ``pytest_spine/gates/v12.py``) read only the operations.
The store is in-memory by default; ``store="postgres"`` uses a real PostgreSQL server (``dsn``, else
``SPINE_POSTGRES_DSN``, else a throwaway cluster started for this process). A database that fails is an
:class:`~pytest_spine.errors.EnvironmentFault`, never an invariant violation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.clock import ManualClock
from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.history import History, Operation
from reference_impl.control_plane.errors import StoreUnavailable
from reference_impl.control_plane.memory_store import MemoryStore
from reference_impl.control_plane.mutants import CP_MUTANTS
from reference_impl.control_plane.store import ControlStore
from reference_impl.control_plane.workload import SCENARIOS, run_workload

STORES = ("memory", "postgres")


@dataclass(frozen=True, slots=True)
class ControlPlaneRun:
    workload: str
    store: str
    seed: int
    mutant: str | None
    operations: tuple[Operation, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)


def store_kind(options: Mapping[str, Any]) -> str:
    """``cp_store`` from the target options, else ``SPINE_CP_STORE``, else memory."""
    kind = str(options.get("cp_store") or os.environ.get("SPINE_CP_STORE") or "memory")
    if kind not in STORES:
        raise ConfigError(f"the control-plane store must be one of {', '.join(STORES)}, given: {kind!r} "
                          "(target option cp_store or SPINE_CP_STORE)")
    return kind


def _open(kind: str, dsn: str | None) -> ControlStore:
    if kind == "memory":
        return MemoryStore()
    from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
    from reference_impl.control_plane.postgres_store import PostgresStore

    try:
        return PostgresStore(dsn or shared_postgres_dsn(), schema=unique_schema("cprun"))
    except StoreUnavailable as down:
        raise EnvironmentFault(str(down)) from None


def run_control_plane(workload: str, *, seed: int, mutant: str | None = None, store: str = "memory",
                      dsn: str | None = None, history: History | None = None,
                      armed: frozenset[str] | None = None,
                      platform_run_id: str = "control-plane") -> ControlPlaneRun:
    """Run one workload to quiescence; its operations are recorded into ``history`` (a fresh one by default)."""
    if workload not in SCENARIOS:
        raise ConfigError(f"unknown control-plane workload {workload!r}; known: {', '.join(SCENARIOS)}")
    cp_mutant = mutant if mutant in CP_MUTANTS else None  # other families' mutants leave the plane intact
    clock = ManualClock()
    recorder = history if history is not None else History(clock)
    opened = _open(store, dsn)
    try:
        summary = run_workload(workload, store=opened, clock=clock, recorder=recorder, seed=seed,
                               mutant=cp_mutant, armed=armed, platform_run_id=platform_run_id)
    except StoreUnavailable as down:
        raise EnvironmentFault(f"the control-plane store failed during {workload}: {down}") from None
    finally:
        drop = getattr(opened, "drop", None)
        try:
            if callable(drop):
                drop()
        except StoreUnavailable:
            pass
        opened.close()
    return ControlPlaneRun(workload, store, seed, cp_mutant, tuple(recorder.operations()), summary)


def scenario_figures(operations: tuple[Operation, ...] | list[Operation]) -> dict[str, Any]:
    """The figures a CP scenario's thresholds read, from its operations alone."""
    from pytest_spine.gates.v12 import measure

    cp_ops = [op for op in operations if op.f.startswith(("cp_", "heavy_")) or op.f == "fault"]
    measured = measure({"scenario": cp_ops})
    created = {str(op.value.get("job_id")) for op in cp_ops if op.f == "cp_job_created"}
    snapshots = [op for op in cp_ops if op.f == "cp_snapshot"]
    rows = snapshots[-1].value.get("jobs", []) if snapshots else []
    present = {str(row.get("job_id")) for row in rows if isinstance(row, Mapping)}
    ops_status = snapshots[-1].value.get("ops", {}) if snapshots else {}
    figures: dict[str, Any] = {
        "jobs": len(created),
        "jobs_lost": len(created - present) if snapshots else len(created),
        "stale_running": len(ops_status.get("stale_running", [])) if snapshots else None,
        "heavy_executions": sum(1 for op in cp_ops if op.f == "heavy_start"),
    }
    for name in ("duplicate_heavy_executions", "command_success_rate", "poll_timeout_recovery_rate",
                 "mttr_minutes", "traceability_ratio", "incidents"):
        value = measured.get(name)
        figures[name] = None if isinstance(value, float) and value == float("inf") else value
    return figures


class ControlPlaneChaosDriver:
    """A chaos driver that adds the ``control_plane`` capability to another driver (it delegates the rest)."""

    def __init__(self, inner: Any, mutant: str | None, *, store: str | None = None, dsn: str | None = None,
                 unavailable: str | None = None) -> None:
        """``store``/``dsn`` pin the store (else ``store_kind``: memory or ``SPINE_CP_STORE``); ``unavailable``
        says why the pinned store cannot be reached: every control-plane run then fails with that reason,
        never falling back to another store."""
        self._inner = inner
        self._mutant = mutant
        self._store = store
        self._dsn = dsn
        self._unavailable = unavailable
        self._armed: set[str] = set()
        self.capabilities = frozenset(inner.capabilities) | {"control_plane"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def arm_control_plane(self, fault: str) -> None:
        self._armed.add(fault)

    def disarm_control_plane(self, fault: str) -> None:
        self._armed.discard(fault)

    def run_control_plane(self, workload: str, *, seed: int) -> dict[str, Any]:
        if self._unavailable is not None:
            raise EnvironmentFault(self._unavailable)
        run = run_control_plane(workload, seed=seed, mutant=self._mutant, store=self._store or store_kind({}),
                                dsn=self._dsn,
                                history=self._inner.history, armed=frozenset(self._armed),
                                platform_run_id=self._inner.platform_run_id)
        return scenario_figures(run.operations)


def bench(jobs: int, *, store: str = "memory", seed: int = 0, dsn: str | None = None) -> dict[str, Any]:
    """Throughput of the reference control plane (commands, claims+executions) and of the 14 CP checkers over
    the history it leaves; wall-clock figures, printed, never asserted."""
    import time

    from pytest_spine.invariants.registry import CheckContext, iter_specs, run_checks
    from reference_impl.control_plane.workload import Driver

    clock = ManualClock()
    history = History(clock)
    opened = _open(store, dsn)
    try:
        driver = Driver(opened, clock, history, seed, fail_rate=0.1)
        started = time.perf_counter()
        ids = [driver.request("steady") for _ in range(jobs)]
        for job_id in ids:
            driver.send(f"/approve {job_id}")
            driver.send(f"/resume {job_id}")
        commands_s = time.perf_counter() - started
        started = time.perf_counter()
        steps = driver.run_workers(max_steps=10 * jobs + 100)
        workers_s = time.perf_counter() - started
        driver.finish()
    except StoreUnavailable as down:
        raise EnvironmentFault(f"the control-plane store failed during the benchmark: {down}") from None
    finally:
        drop = getattr(opened, "drop", None)
        if callable(drop):
            drop()
        opened.close()
    ops = history.operations()
    started = time.perf_counter()
    verdicts = run_checks(ops, CheckContext(), list(iter_specs("control_plane")))
    check_s = time.perf_counter() - started
    return {
        "store": store,
        "jobs": jobs,
        "commands": 3 * jobs,
        "commands_per_s": round(3 * jobs / commands_s, 1) if commands_s else None,
        "worker_steps": steps,
        "worker_steps_per_s": round(steps / workers_s, 1) if workers_s else None,
        "history_operations": len(ops),
        "checker_operations_per_s": round(len(ops) / check_s, 1) if check_s else None,
        "checks_failed": sum(1 for v in verdicts if v.status.is_failure),
    }
