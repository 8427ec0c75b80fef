"""Control-plane verification (seed 001): ``test_control_plane[CP-*]`` and the v1.2 gate item.

On the reference target the control-plane workloads (the baseline mix and the five chaos-lite workloads) run
once per session through the target-side adapter ``pytest_spine.targets.reference_control_plane`` (in-memory
store, or PostgreSQL with the target option ``cp_store=postgres`` / ``SPINE_CP_STORE=postgres``); on
local_parity the same adapter runs them on the stack's PostgreSQL (no stack PostgreSQL: BLOCKED); a target that
offers a ``control_plane_workload`` probe is asked instead, and one that offers neither is NOT_APPLICABLE with
that reason. A store that fails is an environment fault (BLOCKED), never an invariant violation.

Evidence: ``control_plane/<workload>/history.jsonl.gz`` and ``summary.json`` per workload, and
``control_plane/v12_gate.json``.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

import pytest_spine.scenarios.control_plane  # the CP scenario files need its generator
from pytest_spine.errors import EnvironmentFault
from pytest_spine.gates.v12 import DOCUMENT, combine, evaluate, gate_document, gate_verdict, measure
from pytest_spine.history import Operation
from pytest_spine.invariants.control_plane import CP_IDS
from pytest_spine.invariants.registry import CheckContext, get, run_checks
from pytest_spine.targets.base import ProbeNotSupported
from pytest_spine.verdicts import Status, Verdict, merge

WORKLOADS = pytest_spine.scenarios.control_plane.WORKLOADS
KIND = "control_plane"


@dataclass(frozen=True, slots=True)
class _Runs:
    histories: Mapping[str, Sequence[Operation]]
    store: str
    evidence: tuple[str, ...]
    problem: Verdict | None = None  # NOT_APPLICABLE or BLOCKED for every item, with the reason


_LOCK = threading.Lock()
# Keyed by the session object itself (weakly), so a later session never sees an earlier one's runs.
_CACHE: weakref.WeakKeyDictionary[Any, _Runs] = weakref.WeakKeyDictionary()


def _run_all(spine: Any) -> _Runs:
    env = getattr(getattr(spine, "settings", None), "env", None) or getattr(spine.target, "name", "")
    histories: dict[str, Sequence[Operation]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    store = "target"
    try:
        if env in ("reference", "local_parity"):
            from pytest_spine.targets.reference_control_plane import run_control_plane, store_kind

            store, dsn = store_kind(dict(spine.run.options)), None
            pinned = getattr(spine.target, "control_plane_store", None)
            if callable(pinned):  # local_parity: the stack's PostgreSQL, or an EnvironmentFault naming the fix
                store, dsn = pinned()
            for workload in WORKLOADS:
                run = run_control_plane(workload, seed=spine.seed, mutant=spine.run.mutant, store=store, dsn=dsn,
                                        platform_run_id=spine.run.platform_run_id)
                histories[workload] = run.operations
                summaries[workload] = dict(run.summary)
        else:
            for workload in WORKLOADS:
                found = spine.target.probe("control_plane_workload", workload=workload, seed=spine.seed)
                histories[workload] = tuple(Operation.from_json(op) for op in found.get("operations", ()))
                summaries[workload] = dict(found.get("summary", {}))
    except ProbeNotSupported as unsupported:
        return _Runs({}, store, (), Verdict("CP", KIND, Status.NOT_APPLICABLE,
                                            f"target {env!r} runs no control plane in-process and offers no "
                                            f"control_plane_workload probe ({unsupported.reason})"))
    except EnvironmentFault as fault:
        return _Runs(histories, store, (), Verdict("CP", KIND, Status.BLOCKED,
                                                   f"environment fault, not an invariant verdict: {fault}"))
    evidence: list[str] = []
    for workload, ops in histories.items():
        folder = f"control_plane/{workload}"
        stored = spine.bundle.put_history(f"{folder}/history.jsonl.gz", list(ops))
        kept = getattr(spine, "histories", None)
        if isinstance(kept, list):
            kept.append(stored)
        summary = summaries.get(workload, {})
        spine.bundle.put(f"{folder}/summary.json", {
            "workload": workload, "store": store, "seed": int(spine.seed), "mutant": spine.run.mutant,
            "operations": len(ops), "history": f"{folder}/history.jsonl.gz",
            "sampled_tasks": list(summary.get("sampled", [])),
            "ops_status": dict(summary.get("ops") or {"queue_depth": 0, "stale_running": [], "recent_failures": [],
                                                      "by_state": {}}),
            "figures": {k: v for k, v in measure({workload: ops}).items()
                        if v is None or (isinstance(v, int | float) and math.isfinite(v))},
        })
        evidence += [f"{folder}/history.jsonl.gz", f"{folder}/summary.json"]
    return _Runs(histories, store, tuple(evidence))


def _runs(spine: Any) -> _Runs:
    """The session's control-plane runs: executed and written once, whichever item asks first."""
    with _LOCK:
        if spine not in _CACHE:
            _CACHE[spine] = _run_all(spine)
        return _CACHE[spine]


def _verdict(check_id: str, runs: _Runs) -> Verdict:
    """One CP law over every workload's history, merged worst-first; the first failure is the counterexample."""
    spec = get(check_id)
    parts = [(workload, run_checks(list(ops), CheckContext(), [spec])[0]) for workload, ops in runs.histories.items()]
    status = merge(v.status for _, v in parts)
    failing = [(w, v) for w, v in parts if v.status.is_failure]
    if failing:
        workload, first = failing[0]
        more = f" (and in {', '.join(w for w, _ in failing[1:])})" if len(failing) > 1 else ""
        reason = f"{workload}: {first.reason}{more}"
        counterexample = first.counterexample
    else:
        reason = "; ".join(f"{w}: {v.reason}" for w, v in parts if v.status is Status.PASS)[:2000]
        counterexample = ()
        if status is Status.NOT_APPLICABLE:
            reason = "; ".join(f"{w}: {v.reason}" for w, v in parts)[:2000]
    figures = {f"{w}.{k}": val for w, v in parts for k, val in v.figures.items() if isinstance(val, int | float)}
    return Verdict(check_id, KIND, status, reason, evidence=runs.evidence, counterexample=counterexample,
                   figures=figures)


@pytest.mark.xdist_group("spine-phases")  # one worker: TEL-FAMILIES needs the CP-* verdicts
@pytest.mark.parametrize("check_id", CP_IDS)
def test_control_plane(spine: Any, check_id: str) -> None:
    runs = _runs(spine)
    if runs.problem is not None:
        spine.report(Verdict(check_id, KIND, runs.problem.status, runs.problem.reason))
        return
    spine.report(_verdict(check_id, runs))


@pytest.mark.xdist_group("spine-phases")  # one worker: TEL-FAMILIES needs the CP-* verdicts
def test_control_plane_v12_gate(spine: Any, request: pytest.FixtureRequest) -> None:
    """The v1.2 gate (seed 001) from the control-plane histories and the CP-* verdicts; writes v12_gate.json.

    With ``--spine-soak`` its figures also cover the soak window (``soak/soak_window.json``): the counts of every
    soak iteration that ran a control plane are added to the baseline workloads' before the rates are taken."""
    runs = _runs(spine)
    if runs.problem is not None:
        spine.report(Verdict("V12-GATE", KIND, runs.problem.status, runs.problem.reason))
        return
    verdicts = [_verdict(check_id, runs) for check_id in CP_IDS]
    figures = measure(runs.histories)
    soak = None
    if getattr(spine.settings, "soak_seconds", None):
        from pytest_spine.scenarios.soak_session import soak_window

        soak = soak_window(spine, request.config)
        figures = combine([figures, *soak.measured()])
    rows = evaluate(figures, verdicts)
    document = gate_document(spine.run.platform_run_id, "", figures, rows, list(runs.histories), runs.store)
    del document["written_at_utc"]  # the bundle stamps it on its own clock
    evidence: tuple[str, ...] = (DOCUMENT, *runs.evidence)
    if soak is not None:
        from pytest_spine.scenarios.soak import SOAK_DOC

        document["soak"] = {"document": SOAK_DOC, "requested_seconds": soak.requested_seconds,
                            "window_seconds": round(soak.elapsed_seconds, 3), "iterations": len(soak.iterations),
                            "failures": len(soak.failures), "interrupted": soak.interrupted,
                            "seeds": list(soak.seeds), "figures": soak.figures()}
        evidence += (SOAK_DOC,)
    spine.bundle.put(DOCUMENT, document)
    spine.add_figures(**{f"v12_{k}": v for k, v in document["figures"].items()})
    spine.report(gate_verdict(rows, evidence=evidence))
