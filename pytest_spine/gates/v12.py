"""The v1.2 gate of seed 001 ("Reliable Control Plane v1"), computed from control-plane histories and the
CP-* verdicts only — never from what the system under test says about itself.

| row | figure | threshold (seed 001, "v1.2 Gate") |
|---|---|---|
| command_success | share of command updates answered without an internal error | >= 99 % |
| duplicate_heavy | successful heavy executions beyond the first per dispatch key | = 0 |
| control_invariants | every CP-* verdict | all PASS |
| poll_timeout_recovery | poll-timeout bursts followed by a successful poll | >= 95 % |
| mttr | mean time from an injected incident to recovery, on the injected clock | <= 10 min |
| traceability | sampled tasks traceable from command to final state | = 100 % |

A figure that cannot be measured (no sampled task, no induced poll timeout, an incident never recovered)
fails its row: missing evidence is a FAIL.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_spine.history import Operation
from pytest_spine.verdicts import Status, Verdict, merge

GATE_ID = "V12-GATE"
DOCUMENT = "control_plane/v12_gate.json"
SCHEMA_VERSION = 1
THRESHOLDS: Mapping[str, str] = {
    "command_success_rate": ">= 0.99",
    "duplicate_heavy_executions": "== 0",
    "control_invariants": "all CP-* PASS",
    "poll_timeout_recovery_rate": ">= 0.95",
    "mttr_minutes": "<= 10",
    "traceability_ratio": "== 1.0",
}

# How each injected incident counts as recovered: the first later operation that shows service restored.
_RECOVERED_BY: Mapping[str, Any] = {
    "worker_crash": lambda op: op.f == "cp_lease" and op.value.get("action") == "reclaim",
    "sigkill_worker": lambda op: op.f == "cp_lease" and op.value.get("action") == "reclaim",
    "poll_timeout_burst": lambda op: op.f == "cp_poll" and op.type == "ok",
    "poller_crash_before_commit": lambda op: op.f == "cp_poll" and op.type == "ok",
    "report_failure": lambda op: op.f == "heavy_skip",
    "control_plane_restart": lambda op: op.f == "cp_restart",
}


@dataclass(frozen=True, slots=True)
class GateRow:
    key: str
    label: str
    value: Any
    threshold: str
    status: Status
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "value": self.value, "threshold": self.threshold,
                "status": self.status.value, "reason": self.reason}


def _at(op: Operation) -> float:
    at = op.value.get("at")
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else op.time


def _incidents(ops: Sequence[Operation]) -> tuple[list[float], list[str]]:
    """Recovery times (seconds) of every injected incident, and the incidents that never recovered."""
    times: list[float] = []
    open_incidents: list[str] = []
    for position, op in enumerate(ops):
        if op.f != "fault" or op.value.get("action") != "inject":
            continue
        name = str(op.value.get("name"))
        recovered = _RECOVERED_BY.get(name)
        if recovered is None:
            continue
        for later in ops[position + 1:]:
            if recovered(later):
                times.append(_at(later) - _at(op))
                break
        else:
            open_incidents.append(f"{name} at operation {op.index}")
    return times, open_incidents


def measure(histories: Mapping[str, Sequence[Operation]]) -> dict[str, Any]:
    """The gate's figures over several control-plane histories (job ids are per history)."""
    invoked = answered = heavy = 0
    duplicates = 0
    bursts = recovered_bursts = 0
    incident_times: list[float] = []
    unrecovered: list[str] = []
    sampled = traceable = 0
    window = 0.0
    for name, ops in histories.items():
        if ops:
            window += _at(ops[-1]) - _at(ops[0])
        successes: dict[str, int] = defaultdict(int)
        in_burst = False
        transitions: dict[str, list[str]] = defaultdict(list)
        for op in ops:
            v = op.value
            if op.f == "cp_update":
                if op.type == "invoke":
                    invoked += 1
                elif op.type == "ok" and v.get("outcome") != "error":
                    answered += 1
            elif op.f == "heavy_end" and op.type == "ok":
                key = str(v.get("dispatch_key"))
                successes[key] += 1
                duplicates += successes[key] > 1
            elif op.f == "heavy_start":
                heavy += 1
                # Started again after a success: a duplicate heavy execution, finished or not.
                duplicates += successes.get(str(v.get("dispatch_key")), 0) > 0
            elif op.f == "cp_poll":
                if op.type == "info" and not in_burst:
                    bursts += 1
                    in_burst = True
                elif op.type == "ok" and in_burst:
                    recovered_bursts += 1
                    in_burst = False
            elif op.f == "cp_transition":
                transitions[str(v.get("job_id"))].append(str(v.get("to")))
            elif op.f == "cp_trace":
                sampled += 1
                events = v.get("events") or []
                trace_states = [s for s in v.get("states") or [] if isinstance(s, str)]
                ok_chain = bool(v.get("trace_id")) and "command_received" in events and "job_created" in events
                # Every state the job went through, in order, is in its trace: command to final state.
                traceable += ok_chain and trace_states == transitions.get(str(v.get("job_id")), [])
        times, still_open = _incidents(list(ops))
        incident_times += times
        unrecovered += [f"{name}: {incident}" for incident in still_open]
    return _figures(invoked, answered, heavy, duplicates, bursts, recovered_bursts, incident_times, unrecovered,
                    sampled, traceable, window)


def _figures(invoked: int, answered: int, heavy: int, duplicates: int, bursts: int, recovered_bursts: int,
             incident_times: Sequence[float], unrecovered: Sequence[str], sampled: int, traceable: int,
             window: float) -> dict[str, Any]:
    mttr = (sum(incident_times) / len(incident_times) / 60.0) if incident_times else None
    if unrecovered:
        mttr = math.inf
    return {
        "command_updates": invoked,
        "command_errors": invoked - answered,
        "command_success_rate": (answered / invoked) if invoked else None,
        "heavy_executions": heavy,
        "duplicate_heavy_executions": duplicates if heavy else None,
        "poll_timeout_bursts": bursts,
        "poll_timeout_recovered": recovered_bursts,
        "poll_timeout_recovery_rate": (recovered_bursts / bursts) if bursts else None,
        "incidents": len(incident_times) + len(unrecovered),
        "incidents_unrecovered": list(unrecovered),
        "incident_recovery_seconds": list(incident_times),
        "mttr_minutes": mttr,
        "mttr_max_minutes": (max(incident_times) / 60.0) if incident_times else None,
        "sampled_tasks": sampled,
        "traceable_tasks": traceable,
        "traceability_ratio": (traceable / sampled) if sampled else None,
        "window_seconds": window,
    }


def combine(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The gate's figures over several separately measured windows (``measure`` results), exactly as if their
    histories had been measured together: counts add up, rates and MTTR are recomputed from the sums."""
    def total(key: str) -> int:
        return sum(int(part.get(key) or 0) for part in parts)

    updates = total("command_updates")
    return _figures(updates, updates - total("command_errors"), total("heavy_executions"),
                    total("duplicate_heavy_executions"), total("poll_timeout_bursts"), total("poll_timeout_recovered"),
                    [float(t) for part in parts for t in part.get("incident_recovery_seconds") or ()],
                    [str(x) for part in parts for x in part.get("incidents_unrecovered") or ()],
                    total("sampled_tasks"), total("traceable_tasks"),
                    sum(float(part.get("window_seconds") or 0.0) for part in parts))


def _row(key: str, label: str, value: Any, ok: bool | None, missing: str, measured: str) -> GateRow:
    if value is None or ok is None:
        return GateRow(key, label, None, THRESHOLDS[key], Status.FAIL, f"not measured: {missing}")
    return GateRow(key, label, value, THRESHOLDS[key], Status.PASS if ok else Status.FAIL,
                   f"{measured} ({'meets' if ok else 'misses'} {THRESHOLDS[key]})")


def evaluate(figures: Mapping[str, Any], invariant_verdicts: Sequence[Verdict]) -> list[GateRow]:
    success = figures.get("command_success_rate")
    duplicates = figures.get("duplicate_heavy_executions")
    recovery = figures.get("poll_timeout_recovery_rate")
    mttr = figures.get("mttr_minutes")
    trace = figures.get("traceability_ratio")
    cp = [v for v in invariant_verdicts if v.check_id.startswith("CP-")]
    bad = [v for v in cp if v.status.is_failure]
    invariants = (GateRow("control_invariants", "Control invariants hold in automated tests",
                          f"{len(cp) - len(bad)}/{len(cp)} PASS", THRESHOLDS["control_invariants"],
                          Status.FAIL if bad or not cp else Status.PASS,
                          "; ".join(f"{v.check_id}: {v.status.value}" for v in bad[:5]) if bad else
                          ("no CP-* verdict was given (missing evidence is a FAIL)" if not cp else
                           f"all {len(cp)} CP-* checks PASS")))
    unrecovered = figures.get("incidents_unrecovered") or []
    return [
        _row("command_success_rate", "Command handling success rate on the soak window", success,
             None if success is None else success >= 0.99, "no command update in the histories",
             f"{success!r} of {figures.get('command_updates')} updates answered"),
        _row("duplicate_heavy_executions", "Duplicate heavy executions", duplicates,
             None if duplicates is None else duplicates == 0, "no heavy execution recorded",
             f"{duplicates} duplicate heavy executions"),
        invariants,
        _row("poll_timeout_recovery_rate", "Poll timeout recovery on induced fault tests", recovery,
             None if recovery is None else recovery >= 0.95,
             "no poll timeout was induced (run CH-POLL-TIMEOUT-BURST)",
             f"{recovery!r} of {figures.get('poll_timeout_bursts')} timeout bursts recovered"),
        _row("mttr_minutes", "MTTR for common incidents (injected clock)",
             None if mttr is None else (None if math.isinf(mttr) else mttr),
             None if mttr is None or math.isinf(mttr) else mttr <= 10.0,
             f"incidents never recovered: {', '.join(unrecovered[:3])}" if unrecovered
             else "no incident was injected", f"mean {mttr!r} min over {figures.get('incidents')} incidents"),
        _row("traceability_ratio", "End-to-end traceability for every sampled task", trace,
             None if trace is None else trace >= 1.0, "no task was sampled",
             f"{trace!r} of {figures.get('sampled_tasks')} sampled tasks traceable"),
    ]


def gate_document(platform_run_id: str, written_at_utc: str, figures: Mapping[str, Any],
                  rows: Sequence[GateRow], workloads: Sequence[str], store: str) -> dict[str, Any]:
    """``control_plane/v12_gate.json``: the figures, each row with its threshold and PASS/FAIL."""
    numeric = {k: v for k, v in figures.items()
               if isinstance(v, int | float) and not isinstance(v, bool) and not math.isinf(v)}
    return {
        "platform_run_id": platform_run_id,
        "written_at_utc": written_at_utc,
        "schema_version": SCHEMA_VERSION,
        "window_seconds": float(figures.get("window_seconds") or 0.0),
        "store": store,
        "workloads": list(workloads),
        "figures": numeric,
        "rows": [row.to_json() for row in rows],
        "status": merge(row.status for row in rows).value,
    }


def gate_verdict(rows: Sequence[GateRow], evidence: tuple[str, ...] = (DOCUMENT,)) -> Verdict:
    status = merge(row.status for row in rows)
    failing = [row for row in rows if row.status.is_failure]
    reason = ("; ".join(f"{row.key}: {row.reason}" for row in failing) if failing else
              "every v1.2 gate row meets its seed threshold")
    figures = {row.key: row.value for row in rows if isinstance(row.value, int | float)}
    return Verdict(GATE_ID, "control_plane", status, reason, evidence=evidence, figures=figures)
