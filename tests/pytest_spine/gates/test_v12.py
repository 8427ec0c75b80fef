from __future__ import annotations

import math

import pytest

from pytest_spine.gates.v12 import evaluate, gate_document, gate_verdict, measure
from pytest_spine.history import Operation
from pytest_spine.invariants.registry import CheckContext, iter_specs, run_checks
from pytest_spine.targets.reference_control_plane import run_control_plane
from pytest_spine.verdicts import Status, Verdict
from reference_impl.control_plane.workload import SCENARIOS


def gate(mutant: str | None) -> tuple[dict[str, object], list[Verdict], Verdict]:
    histories = {w: list(run_control_plane(w, seed=3, mutant=mutant).operations) for w in SCENARIOS}
    verdicts = [v for ops in histories.values()
                for v in run_checks(ops, CheckContext(), list(iter_specs("control_plane")))]
    figures = measure(histories)
    rows = evaluate(figures, verdicts)
    return figures, verdicts, gate_verdict(rows)


def test_the_gate_passes_on_the_reference_with_its_figures() -> None:
    figures, _, verdict = gate(None)
    assert verdict.status is Status.PASS
    assert figures["command_success_rate"] == 1.0
    assert figures["duplicate_heavy_executions"] == 0
    assert figures["poll_timeout_recovery_rate"] == 1.0
    assert figures["traceability_ratio"] == 1.0
    assert figures["incidents"] == 9 and figures["incidents_unrecovered"] == []
    assert 0 < figures["mttr_minutes"] <= 10  # type: ignore[operator]


@pytest.mark.parametrize(("mutant", "row", "says"), [
    ("crash_on_rejection", "command_success_rate", "misses >= 0.99"),
    ("dispatch_key_ignored", "duplicate_heavy_executions", "duplicate heavy executions (misses == 0)"),
    ("poll_gives_up", "poll_timeout_recovery_rate", "0.0 of 1 timeout bursts recovered"),
    ("lease_never_expires", "mttr_minutes", "not measured: incidents never recovered"),
    ("lost_trace_id", "traceability_ratio", "sampled tasks traceable (misses == 1.0)"),
    ("two_owners", "control_invariants", "CP-SINGLE-OWNER: FAIL"),
])
def test_each_row_fails_on_the_mutant_that_breaks_it(mutant: str, row: str, says: str) -> None:
    figures, verdicts, _ = gate(mutant)
    rows = {r.key: r for r in evaluate(figures, verdicts)}
    assert rows[row].status is Status.FAIL
    assert says in rows[row].reason


def test_nothing_measured_fails_every_row() -> None:
    rows = evaluate(measure({}), [])
    assert [(r.key, r.status) for r in rows] == [
        ("command_success_rate", Status.FAIL), ("duplicate_heavy_executions", Status.FAIL),
        ("control_invariants", Status.FAIL), ("poll_timeout_recovery_rate", Status.FAIL),
        ("mttr_minutes", Status.FAIL), ("traceability_ratio", Status.FAIL)]
    assert rows[2].reason == "no CP-* verdict was given (missing evidence is a FAIL)"
    assert rows[3].reason == "not measured: no poll timeout was induced (run CH-POLL-TIMEOUT-BURST)"


def test_an_unrecovered_incident_makes_mttr_infinite_and_the_document_drops_it() -> None:
    ops = [Operation(0, 0.0, "nemesis", "ok", "fault", {"name": "worker_crash", "action": "inject", "at": 0.0})]
    figures = measure({"w": ops})
    assert math.isinf(figures["mttr_minutes"])  # type: ignore[arg-type]
    rows = evaluate(figures, [])
    document = gate_document("run-1", "2026-01-01T00:00:00Z", figures, rows, ["w"], "memory")
    assert "mttr_minutes" not in document["figures"] and document["status"] == "FAIL"
    assert document["rows"][4]["reason"] == "not measured: incidents never recovered: w: worker_crash at operation 0"
