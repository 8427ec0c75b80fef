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
                      dsn: str | None = None, history: History | None = None) -> ControlPlaneRun:
    """Run one workload to quiescence; its operations are recorded into ``history`` (a fresh one by default)."""
    if workload not in SCENARIOS:
        raise ConfigError(f"unknown control-plane workload {workload!r}; known: {', '.join(SCENARIOS)}")
    cp_mutant = mutant if mutant in CP_MUTANTS else None  # other families' mutants leave the plane intact
    clock = ManualClock()
    recorder = history if history is not None else History(clock)
    opened = _open(store, dsn)
    try:
        summary = run_workload(workload, store=opened, clock=clock, recorder=recorder, seed=seed,
                               mutant=cp_mutant)
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
