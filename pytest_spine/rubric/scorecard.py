"""Scorecards from evidence: rubric scores, the v1.2 gate and KPIs (seed 001), the Θ-03 acceptance gates
(seed 000 §3), the "Spine Green v0" verdict (seed 003), and over several bundles the weekly table and trend.

Every row names the evidence that decided it. A figure that is not in the bundle is "not measured" with a
reason, never a number made up here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pytest_spine.errors import EvidenceError
from pytest_spine.gates.kpis import DOCUMENT as KPI_DOC
from pytest_spine.gates.kpis import KPIS
from pytest_spine.rubric.bundles import BundleView
from pytest_spine.rubric.engine import CATEGORY_KEYS, RubricResult
from pytest_spine.rubric.mapping import RubricSpec, load_rubric, score_bundle
from pytest_spine.targets.base import GREEN_PHASES, PHASE_IDS
from pytest_spine.verdicts import Status, Verdict, merge

SCORECARD_SCHEMA_VERSION = 1
NOT_MEASURED = "NOT_MEASURED"
PHASES = PHASE_IDS
V12_DOC = "control_plane/v12_gate.json"


class MixedWeek(EvidenceError):
    """Two different runs were given for the same week of the weekly table."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a gate table: what, the measured value, the threshold, the status, what decided it."""

    key: str
    label: str
    status: str  # a verdict status, or NOT_MEASURED
    value: str
    threshold: str
    reason: str
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "status": self.status, "value": self.value,
                "threshold": self.threshold, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True, slots=True)
class Gate:
    """A table of rows and its overall result (any row not PASS keeps the gate from passing)."""

    name: str
    rows: tuple[Row, ...]
    note: str = ""  # one sentence for the whole table (why its figures are not measured)

    @property
    def status(self) -> str:
        if any(r.status == NOT_MEASURED for r in self.rows) and not any(
                Status(r.status).is_failure for r in self.rows if r.status != NOT_MEASURED):
            return NOT_MEASURED
        return merge(Status(r.status) for r in self.rows if r.status != NOT_MEASURED).value

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "note": self.note, "rows": [r.to_json() for r in self.rows]}


@dataclass(frozen=True, slots=True)
class RunCard:
    view: BundleView
    rubric: RubricResult
    v12: Gate
    kpis: Gate
    theta03: Gate
    phases: Gate
    spine_green: Row

    @property
    def run_id(self) -> str:
        return self.view.platform_run_id

    def matrix(self) -> dict[str, list[tuple[str, str]]]:
        """Verdicts by kind (gate, invariant, scenario ...), each as (id, status), in recorded order."""
        found: dict[str, list[tuple[str, str]]] = {}
        for verdict in self.view.verdicts:
            found.setdefault(verdict.kind, []).append((verdict.check_id, verdict.status.value))
        return found


@dataclass(frozen=True, slots=True)
class Scorecard:
    runs: tuple[RunCard, ...]  # oldest first: one per week
    rubric_source: str

    @property
    def latest(self) -> RunCard:
        return self.runs[-1]

    def trend(self) -> list[dict[str, Any]]:
        """Per run: the total and each category's change since the previous run (seed 004 §12.4's deltas)."""
        rows = []
        previous: RunCard | None = None
        for card in self.runs:
            delta = {k: card.rubric.score_of(k) - previous.rubric.score_of(k) for k in CATEGORY_KEYS} \
                if previous else {k: 0 for k in CATEGORY_KEYS}
            rows.append({"platform_run_id": card.run_id, "week_of": card.view.run_date,
                         "total": card.rubric.total,
                         "total_delta": round(card.rubric.total - previous.rubric.total, 2) if previous else 0.0,
                         "score_delta": delta})
            previous = card
        return rows


# -- building -----------------------------------------------------------------------------------------
def _verdicts_like(view: BundleView, pattern: str) -> list[Verdict]:
    return [v for v in view.verdicts if fnmatchcase(v.check_id, pattern)]


def _verdict_row(view: BundleView, key: str, label: str, pattern: str | tuple[str, ...], threshold: str,
                 figure: str | tuple[str, ...] | None = None) -> Row:
    """A row decided by the verdicts matching ``pattern`` (one or several), merged worst-first."""
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    found = [v for p in patterns for v in _verdicts_like(view, p)]
    if not found:
        # Missing evidence is FAIL, never a skip.
        return Row(key, label, Status.FAIL.value, "no verdict", threshold,
                   f"no {' or '.join(patterns)} verdict in verdicts.json: the check did not run (missing evidence "
                   "is FAIL)", ("verdicts.json",))
    status = merge(v.status for v in found)
    worst = next(v for v in found if v.status is status)
    value = "-"
    if figure:
        names = (figure,) if isinstance(figure, str) else figure
        measured = next((m for name in names if (m := _figure_value(view, name, found)) is not None), None)
        value = measured[0] if measured else "no figure"
    evidence = tuple(dict.fromkeys(x for v in found for x in (f"verdicts.json#{v.check_id}", *v.evidence)))
    return Row(key, label, status.value, value, threshold, worst.reason, evidence)


def _figure_value(view: BundleView, name: str, found: Sequence[Verdict] = ()) -> tuple[str, str] | None:
    for verdict in found:
        # Metric gates (MET-*) record what they measured as "value".
        for key in (name, "value"):
            if key in verdict.figures and _number(verdict.figures[key]) is not None:
                return _fmt(verdict.figures[key]), f"verdicts.json#{verdict.check_id}"
    if name in view.figures:
        return _fmt(view.figures[name]), f"figures.json#{name}"
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _number(value: Any) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)


# (key, label, figure names looked up in order, comparison, threshold text)
_V12_FIGURES: tuple[tuple[str, str, tuple[str, ...], Callable[[float], bool], str], ...] = (
    ("command_success", "Command handling success rate on soak window", ("command_success_rate",),
     lambda v: v >= 0.99, ">= 99 %"),
    ("duplicate_heavy", "Duplicate heavy executions", ("duplicate_heavy_executions",), lambda v: v == 0, "= 0"),
    ("poll_timeout_recovery", "Poll timeout recovery on induced fault tests", ("poll_timeout_recovery_rate",),
     lambda v: v >= 0.95, ">= 95 %"),
    ("mttr", "MTTR for common incidents", ("mttr_minutes",), lambda v: v <= 10, "<= 10 min"),
)



def _v12_lookup(view: BundleView, names: Sequence[str], section: str) -> tuple[Any, str] | None:
    """A figure from control_plane/v12_gate.json (top level, or its ``figures``/``kpis`` section), else from
    figures.json; the second element names where it came from."""
    doc = view.v12_gate or {}
    for name in names:
        for where in (doc.get(section), doc.get("figures"), doc):
            if isinstance(where, Mapping) and name in where:
                return where[name], f"{V12_DOC}#{name}"
        if name in view.figures:
            return view.figures[name], f"figures.json#{name}"
    return None


def _measured_rows(view: BundleView, specs: Sequence[tuple[str, str, tuple[str, ...], Callable[[float], bool], str]],
                   section: str, missing: str | None = None) -> list[Row]:
    rows = []
    for key, label, names, ok, threshold in specs:
        found = _v12_lookup(view, names, section)
        if found is None:
            why = missing or (f"{names[0]} is in neither {V12_DOC} nor figures.json" if view.v12_gate is not None
                              else f"{V12_DOC} is absent and figures.json has no {names[0]}")
            rows.append(Row(key, label, NOT_MEASURED, "not measured", threshold, why, ()))
            continue
        raw, source = found
        value = _number(raw)
        if value is None:
            rows.append(Row(key, label, Status.FAIL.value, repr(raw), threshold,
                            f"{source} is not a number: {raw!r}", (source,)))
            continue
        status = Status.PASS if ok(value) else Status.FAIL
        rows.append(Row(key, label, status.value, _fmt(raw), threshold,
                        f"measured {_fmt(raw)} ({'meets' if ok(value) else 'misses'} {threshold})", (source,)))
    return rows


def v12_gate(view: BundleView) -> Gate:
    rows = _measured_rows(view, _V12_FIGURES, "figures")
    rows.insert(2, _verdict_row(view, "control_invariants", "Control invariants hold in automated tests", "CP-*",
                                "all CP-* PASS"))
    trace = _v12_lookup(view, ("traceability_ratio",), "figures")
    if trace is not None and _number(trace[0]) is not None:
        value = float(trace[0])
        rows.append(Row("traceability", "End-to-end traceability for every sampled task",
                        (Status.PASS if value >= 1.0 else Status.FAIL).value, _fmt(trace[0]), "= 100 %",
                        f"{_fmt(trace[0])} of sampled tasks traceable end to end", (trace[1],)))
    else:
        rows.append(_verdict_row(view, "traceability", "End-to-end traceability for every sampled task",
                                 "CP-TRACEABLE", "every sampled task"))
    return Gate("v1.2 gate", tuple(rows), _soak_note(view))


def _soak_note(view: BundleView) -> str:
    if view.v12_gate is not None:
        return ""
    return f"{V12_DOC} is absent: these figures come from a soak window (run with --spine-soak=DURATION)"


def kpis(view: BundleView) -> Gate:
    """Seed 001's KPI targets, judged on the operator's figures (``operate/kpis.json``, from ``--spine-kpis``);
    a KPI the operator did not give is NOT_MEASURED: the test workloads cannot measure production KPIs."""
    document = view.kpis or {}
    found = document.get("kpis")
    given: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    window = document.get("window")
    rows = []
    for kpi in KPIS:
        if kpi.name not in given:
            rows.extend(_measured_rows(view, ((kpi.key, kpi.label, (kpi.name,), kpi.meets, kpi.threshold),),
                                       "kpis", missing=f"{kpi.name} was not given: the test workloads cannot "
                                       "measure production KPIs; pass the window's figures with "
                                       f"--spine-kpis FILE (written to {KPI_DOC})"))
            continue
        raw = given[kpi.name]
        value = _number(raw)
        source = f"{KPI_DOC}#{kpi.name}"
        if value is None:
            rows.append(Row(kpi.key, kpi.label, Status.FAIL.value, repr(raw), kpi.threshold,
                            f"{source} is not a number: {raw!r}", (source,)))
            continue
        ok = kpi.meets(value)
        rows.append(Row(kpi.key, kpi.label, (Status.PASS if ok else Status.FAIL).value, _fmt(raw), kpi.threshold,
                        f"operator figure {_fmt(raw)}{f' for {window}' if window else ''} "
                        f"({'meets' if ok else 'misses'} {kpi.threshold})", (source,)))
    note = "" if given else f"no operator KPI figures in this run ({KPI_DOC} comes from --spine-kpis FILE)"
    return Gate("KPI targets", tuple(rows), note)


def theta03(view: BundleView) -> Gate:
    """Seed 000 §3: the acceptance gates, each decided by its security gate and the simulator metric gate
    (MET-*) that measures the same threshold, merged worst-first."""
    return Gate("Θ-03 acceptance gates", (
        _verdict_row(view, "unsigned_control", "Unsigned Control", ("SEC-UNSIGNED-REJECTED", "MET-UNSIGNED-ACCEPTED"),
                     # The security gate counts what it admitted; the simulator's metric says "accepted".
                     "0 unsigned accepted", ("unsigned_admitted", "unsigned_accepted")),
        _verdict_row(view, "replay_rejection", "Replay Rejection", ("SEC-REPLAY-REJECT", "MET-REPLAY-REJECTION"),
                     ">= 99.9 % within 30 s skew", "replay_rejection_ratio"),
        _verdict_row(view, "anomaly_reaction", "Anomaly Reaction",
                     ("SEC-QUARANTINE-REACTION", "MET-QUARANTINE-REACTION"), "< 60 s", "quarantine_reaction_s"),
        _verdict_row(view, "email_lineage", "Email Lineage", "SEC-LINEAGE-UUIDV7", "present & valid UUID v7"),
        _verdict_row(view, "release_health", "Release Health", "P4-ig_healthy", "/healthz 200 always"),
    ))


def phase_gate(view: BundleView) -> Gate:
    rows = []
    for phase in PHASES:
        found = [v for v in view.verdicts if v.kind == "gate" and v.check_id.startswith(f"{phase}-")]
        if not found:
            rows.append(Row(phase, phase, Status.FAIL.value, "0 checks", "all PASS",
                            "no criterion of this phase has a verdict (missing evidence is FAIL)", ("verdicts.json",)))
            continue
        status = merge(v.status for v in found)
        counts = {s: sum(1 for v in found if v.status.value == s) for s in ("PASS", "FAIL", "NOT_APPLICABLE")}
        value = f"{counts['PASS']}/{len(found)} PASS" + (f", {counts['NOT_APPLICABLE']} N/A"
                                                           if counts["NOT_APPLICABLE"] else "")
        bad = [v for v in found if v.status.is_failure]
        reason = "; ".join(f"{v.check_id}: {v.reason}" for v in bad[:3]) if bad else "every criterion PASS"
        if status is Status.NOT_APPLICABLE:
            reason = "; ".join(f"{v.check_id}: {v.reason}" for v in found[:2])
        evidence = tuple(dict.fromkeys(x for v in (bad or found) for x in (f"verdicts.json#{v.check_id}",
                                                                            *v.evidence)))
        rows.append(Row(phase, phase, status.value, value, "all PASS", reason, evidence))
    return Gate("Spine Green v0 phases", tuple(rows))


def spine_green(phases: Gate) -> Row:
    by_phase = {r.key: r for r in phases.rows}
    blocking = [by_phase[p] for p in GREEN_PHASES if Status(by_phase[p].status).is_failure]
    na = [by_phase[p].key for p in GREEN_PHASES if by_phase[p].status == Status.NOT_APPLICABLE.value]
    if blocking:
        first = blocking[0]
        return Row("spine_green", "Spine Green v0", Status.FAIL.value, "NOT GREEN", "P0..P11 PASS + P12",
                   f"failed at {', '.join(r.key for r in blocking)}; first: {first.reason}", first.evidence)
    note = f" ({', '.join(na)} not applicable on this target)" if na else ""
    return Row("spine_green", "Spine Green v0", Status.PASS.value, "GREEN", "P0..P11 PASS + P12",
               f"P0..P11 PASS and P12 teardown PASS{note}", ("verdicts.json",))


def run_card(view: BundleView, spec: RubricSpec) -> RunCard:
    phases = phase_gate(view)
    return RunCard(view, score_bundle(view, spec), v12_gate(view), kpis(view), theta03(view), phases,
                   spine_green(phases))


def _week_key(view: BundleView) -> str:
    if view.run_at is None:
        return f"unknown:{view.platform_run_id}"
    year, week, _ = view.run_at.isocalendar()
    return f"{year}-W{week:02d}"


def build_scorecard(views: Sequence[BundleView], spec: RubricSpec | None = None) -> Scorecard:
    """One bundle: its card. Several: one per week, oldest first; two runs in one ISO week are refused."""
    if not views:
        raise EvidenceError("no evidence bundle given; pass at least one run directory")
    spec = spec or load_rubric()
    by_week: dict[str, BundleView] = {}
    for view in views:
        key = _week_key(view)
        other = by_week.get(key)
        if other is not None:
            if other.platform_run_id == view.platform_run_id:
                raise MixedWeek(f"bundle {view.root} is given twice (run {view.platform_run_id!r}); pass each "
                                "run once")
            raise MixedWeek(
                f"bundles {other.root} (run {other.platform_run_id!r}) and {view.root} (run "
                f"{view.platform_run_id!r}) both fall in week {key}: the weekly table takes one run per week; "
                "pass the run that decides that week"
            )
        by_week[key] = view
    ordered = sorted(views, key=lambda v: (v.run_at or _dt.datetime.min.replace(tzinfo=_dt.UTC),
                                           v.platform_run_id))
    return Scorecard(tuple(run_card(v, spec) for v in ordered), spec.source)


# -- JSON form (schemas/scorecard.schema.json) ---------------------------------------------------------
def rubric_json(result: RubricResult) -> dict[str, Any]:
    return {
        "categories": [
            {"key": s.category.key, "title": s.category.title, "weight": s.category.weight, "score": s.score,
             "points": round(s.points, 2), "rationale": s.rationale, "evidence": list(s.evidence)}
            for s in result.scores
        ],
        "total": result.total,
        "decision": result.decision.value,
        "decision_long": result.decision.long,
        "no_go": list(result.no_go),
        "notes": list(result.notes),
    }


def basis_counts(verdicts: Any) -> dict[str, int]:
    """How the judged (PASS or FAIL) checks were grounded: observed, recomputed, attested, or undeclared."""
    counts = {"observed": 0, "recomputed": 0, "attested": 0, "undeclared": 0}
    for verdict in verdicts:
        if verdict.status.value in ("PASS", "FAIL"):
            key = verdict.basis if verdict.basis in counts else "undeclared"
            counts[key] += 1
    return counts


def basis_line(verdicts: Any) -> str:
    counts = basis_counts(verdicts)
    return ("Basis of the judged checks: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            + " (observed: the harness saw it; recomputed: derived from raw data; attested: the platform's evidence "
            "says so)")


def card_json(card: RunCard) -> dict[str, Any]:
    view = card.view
    return {
        "platform_run_id": view.platform_run_id,
        "bundle": str(view.root),
        "env": view.env,
        "week_of": view.run_date,
        "rubric": rubric_json(card.rubric),
        "spine_green": card.spine_green.to_json(),
        "phases": card.phases.to_json(),
        "v12_gate": card.v12.to_json(),
        "kpis": card.kpis.to_json(),
        "theta03": card.theta03.to_json(),
        "verdicts": [{"id": v.check_id, "kind": v.kind, "status": v.status.value,
                      **({"basis": v.basis} if v.basis else {}),
                      "evidence": [f"verdicts.json#{v.check_id}", *v.evidence]} for v in view.verdicts],
        "basis": basis_counts(view.verdicts),
        "figures": {k: v for k, v in sorted(view.figures.items())
                    if v is None or isinstance(v, bool | int | float | str)},
        "scenarios": sorted(view.timelines),
    }


def weekly_rows(card: Scorecard) -> list[dict[str, Any]]:
    return [
        {"week_of": c.view.run_date, "platform_run_id": c.run_id,
         "points": {s.category.key: round(s.points, 2) for s in c.rubric.scores},
         "scores": {s.category.key: s.score for s in c.rubric.scores},
         "total": c.rubric.total, "decision": c.rubric.decision.value}
        for c in card.runs
    ]


def scorecard_json(card: Scorecard, generated_at: str) -> dict[str, Any]:
    return {
        "schema_version": SCORECARD_SCHEMA_VERSION,
        "generated_at_utc": generated_at,
        "rubric_source": card.rubric_source,
        "runs": [card_json(c) for c in card.runs],
        "weekly": weekly_rows(card),
        "trend": card.trend(),
    }
