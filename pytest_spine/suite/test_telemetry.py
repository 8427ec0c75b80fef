"""Telemetry, metric-file and run-history gates of the packaged suite (seeds 000 §1.5/§3/§4, 002, 004).

- ``test_telemetry[TEL-*]``: every event the target emitted in this run (the run's History and every
  history already stored in the bundle) is linted against the taxonomy; G1 family coverage uses the
  verdicts recorded so far, so these items run after the phase gates (``spine.ensure_phases()``).
- ``test_metric_gate[MET-*]``: one item per gate of the packaged gate files and of ``gates/*.yaml`` in the
  rootdir. A malformed gate file becomes one failing item naming the file and place. Packaged gates read
  their sources from the metrics dir (``--spine-metrics-dir`` / ini ``spine_metrics_dir`` /
  ``$SPINE_METRICS_DIR``) and are NOT_APPLICABLE without one: example data never stands in for a run's.
- ``test_history[HIST-*]``: flake rate, consecutive failures, SLO days and error budget over the run
  history configured by ``--spine-history-dir`` / ini ``spine_history_dir`` / ``$SPINE_HISTORY_DIR``;
  NOT_APPLICABLE, with that reason, when none is configured.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.telemetry.events import Event, EventSourceError, events_from_operations, read_event_lines
from pytest_spine.telemetry.gatefile import (
    PACKAGED_GATES_DIR,
    GateFileError,
    MetricGate,
    discover_gatefiles,
    judge_gate,
    load_gates,
)
from pytest_spine.telemetry.history_gates import HISTORY_CHECKS, HistoryReport, evaluate_history
from pytest_spine.telemetry.lint import (
    TEL_CORRELATION,
    TEL_FAMILIES,
    TEL_NO_PII,
    TEL_TAXONOMY,
    TELEMETRY_CHECKS,
    FamilyCoverage,
    Finding,
    family_coverage,
    lint_correlation,
    lint_families,
    lint_pii,
    lint_taxonomy,
)
from pytest_spine.telemetry.pii import DetectorError, PiiDetector
from pytest_spine.telemetry.run_records import RunHistoryError, open_store
from pytest_spine.telemetry.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from pytest_spine.verdicts import Status, Verdict

GATE_FILE_ERROR = "MET-GATEFILE-ERROR"
_gates: dict[str, MetricGate] = {}
_gate_errors: dict[str, str] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ != "test_metric_gate":
        return
    # In-process sessions (pytester) may reuse this module: start from this session's gate files only.
    _gates.clear()
    _gate_errors.clear()
    files = discover_gatefiles(PACKAGED_GATES_DIR, metafunc.config.rootpath / "gates")
    metrics_dir = _configured(metafunc.config, "spine_metrics_dir", "SPINE_METRICS_DIR")
    try:
        gates = load_gates(files, Path(metrics_dir) if metrics_dir else None)
    except GateFileError as bad:
        _gate_errors[GATE_FILE_ERROR] = str(bad)
        metafunc.parametrize("gate_id", [GATE_FILE_ERROR])
        return
    _gates.update({g.gate_id: g for g in gates})
    metafunc.parametrize("gate_id", [g.gate_id for g in gates])


@pytest.fixture(scope="module")
def after_phases(spine: Any) -> Any:
    """These checks judge what the run did: make sure the phase run happened first."""
    ensure = getattr(spine, "ensure_phases", None)
    if callable(ensure):
        ensure()
    return spine


def _taxonomy() -> Taxonomy:
    return load_taxonomy()


@dataclass(frozen=True, slots=True)
class Streams:
    """Every event stream of the run: (label, events, the run id each event must carry, or None for one id
    per stream), the histories that could not be read, and those the bundle truncated at its size bound."""

    streams: tuple[tuple[str, tuple[Event, ...], str | None], ...]
    unreadable: tuple[str, ...]
    truncated: tuple[dict[str, Any], ...]

    @property
    def events(self) -> list[Event]:
        return [e for _, events, _ in self.streams for e in events]

    @property
    def labels(self) -> list[str]:
        return [label for label, _, _ in self.streams]


@pytest.fixture(scope="module")
def run_streams(after_phases: Any) -> Streams:
    """Read once for the four TEL items: stored scenario histories can hold hundreds of thousands of lines."""
    spine = after_phases
    streams: list[tuple[str, tuple[Event, ...], str | None]] = [
        ("history", tuple(events_from_operations(spine.history.operations(), "history")),
         spine.run.platform_run_id)]
    unreadable: list[str] = []
    truncated: list[dict[str, Any]] = []
    root = Path(spine.bundle.root)
    for relpath in spine.bundle.list():
        if relpath.endswith((".jsonl", ".jsonl.gz")):
            try:
                # A scenario's own history: one run id per stream, whatever the scenario named it.
                streams.append((relpath, tuple(read_event_lines(root / relpath, truncated)), None))
            except EventSourceError as bad:
                unreadable.append(str(bad))
    return Streams(tuple(streams), tuple(unreadable), tuple(truncated))


def _write(spine: Any, verdict: Verdict, **extra: Any) -> None:
    doc = {"check_id": verdict.check_id, "kind": verdict.kind, "status": verdict.status.value,
           "reason": verdict.reason, "figures": dict(verdict.figures), **extra}
    spine.bundle.put(f"telemetry/{verdict.check_id}/report.json", doc)


def _findings_verdict(check_id: str, findings: list[Finding], events: int, what: str) -> Verdict:
    if events == 0:
        return Verdict(check_id, "telemetry", Status.FAIL,
                       "the target emitted no event operations in this run: nothing to check, and missing "
                       "telemetry is a failure (seed 000: if it isn't observable, it isn't shipped)")
    figures = {"events": events, "findings": len(findings)}
    if not findings:
        return Verdict(check_id, "telemetry", Status.PASS, f"{events} events: {what}", figures=figures)
    shown = "; ".join(str(f) for f in findings[:3])
    return Verdict(check_id, "telemetry", Status.FAIL, f"{len(findings)} findings in {events} events: {shown}",
                   counterexample=tuple(f.to_json() for f in findings[:10]), figures=figures)


@pytest.mark.spine_telemetry
@pytest.mark.xdist_group("spine-phases")
@pytest.mark.parametrize("check_id", list(TELEMETRY_CHECKS))
def test_telemetry(after_phases: Any, run_streams: Streams, check_id: str) -> None:
    spine = after_phases
    if spine.target.describe().get("black_box"):
        spine.report(Verdict(check_id, "telemetry", Status.NOT_APPLICABLE,
                             "a black-box platform emits its telemetry events to its own sinks, which the registry "
                             "does not name; the harness judges only what it observed"))
        return
    try:
        taxonomy = _taxonomy()
        detector = PiiDetector.from_config(taxonomy.pii)
        detector.self_test()
    except (TaxonomyError, DetectorError) as bad:
        spine.report(Verdict(check_id, "telemetry", Status.FAIL, f"the taxonomy cannot be used: {bad}"))
        return
    all_events = run_streams.events
    sources = run_streams.labels
    findings: list[Finding] = [Finding(check_id, "unreadable_history", p.split(":")[0], "", p)
                               for p in run_streams.unreadable]
    coverage: list[FamilyCoverage] = []
    if check_id == TEL_TAXONOMY:
        for _, events, _ in run_streams.streams:
            findings += lint_taxonomy(events, taxonomy)
        verdict = _findings_verdict(check_id, findings, len(all_events),
                                    "every name, category and version follows the taxonomy")
    elif check_id == TEL_CORRELATION:
        for _, events, required_run in run_streams.streams:
            findings += lint_correlation(events, taxonomy, required_run)
        verdict = _findings_verdict(check_id, findings, len(all_events),
                                    "every event carries the correlation fields its family requires")
    elif check_id == TEL_NO_PII:
        findings += lint_pii(all_events, detector)
        verdict = _findings_verdict(check_id, findings, len(all_events),
                                    "no raw PII or token in any payload (detector self-tested on its canaries)")
    else:
        assert check_id == TEL_FAMILIES
        exercised = [v.check_id for v in dict(spine.verdicts).values()
                     if v.status is not Status.NOT_APPLICABLE and v.kind not in ("telemetry", "metric", "history")]
        coverage = family_coverage(all_events, taxonomy, exercised)
        findings += lint_families(coverage)
        required = [c for c in coverage if c.required]
        figures = {"families_required": len(required), "families_covered": sum(c.ok for c in required)}
        spine.add_figures(tel_families_required=figures["families_required"],
                          tel_families_covered=figures["families_covered"])
        if findings:
            verdict = Verdict(check_id, "telemetry", Status.FAIL,
                              "; ".join(f.message for f in findings[:6]),
                              counterexample=tuple(f.to_json() for f in findings[:10]), figures=figures)
        else:
            shown = ", ".join(f"{c.family} ({c.events} events, {len(c.exercised_by)} checks)" for c in required)
            verdict = Verdict(check_id, "telemetry", Status.PASS, f"every required family is emitted and "
                              f"exercised: {shown}", figures=figures)
    if run_streams.truncated and verdict.status is Status.PASS:
        cut = ", ".join(f"{t['path'].rsplit('/', 2)[-2]} ({t['kept']} of {t['total']} operations)"
                        for t in run_streams.truncated)
        verdict = Verdict(verdict.check_id, verdict.kind, verdict.status,
                          f"{verdict.reason}; covers the stored part of histories the bundle cut at its size "
                          f"bound: {cut}", verdict.evidence, verdict.counterexample, verdict.figures)
    spine.add_figures(**{f"{check_id.lower().replace('-', '_')}_findings": len(findings)})
    _write(spine, verdict, sources=sources, events=len(all_events), taxonomy=taxonomy.source,
           truncated_histories=list(run_streams.truncated),
           findings=[f.to_json() for f in findings[:500]], findings_total=len(findings),
           families=[c.to_json() for c in coverage])
    spine.report(verdict)


def _figures(spine: Any) -> Mapping[str, Any] | None:
    figures = dict(getattr(spine, "figures", {}) or {})
    stored = spine.bundle.get("figures.json")
    if isinstance(stored, Mapping) and isinstance(stored.get("figures"), Mapping):
        figures = {**stored["figures"], **figures}
    return figures


@pytest.mark.spine_telemetry
@pytest.mark.xdist_group("spine-phases")
def test_metric_gate(after_phases: Any, request: pytest.FixtureRequest, gate_id: str) -> None:
    spine = after_phases
    if gate_id in _gate_errors:
        spine.report(Verdict(gate_id, "metric", Status.FAIL, f"a gate file is malformed: {_gate_errors[gate_id]}"))
        return
    gate = _gates[gate_id]
    metrics_dir = _configured(request.config, "spine_metrics_dir", "SPINE_METRICS_DIR")
    verdict = judge_gate(gate, _figures(spine), metrics_dir is not None)
    if verdict.status is Status.NOT_APPLICABLE:
        spine.report(verdict)
        return
    _write(spine, verdict, sources=list(verdict.evidence),
           gate={"gate_file": str(gate.gate_file), "source_kind": gate.source_kind, "metric": gate.metric,
                 "comparator": gate.comparator, "threshold": gate.threshold})
    spine.report(verdict)


def _configured(config: pytest.Config, name: str, env: str) -> str | None:
    """An option (``--spine-...``), else an ini key, else an environment variable; None when none is set."""
    option = config.getoption(name, None)
    if option:
        return str(option)
    try:
        ini = config.getini(name)
    except ValueError:  # the ini key is not registered by this build of the plugin
        ini = None
    if ini:
        return str(ini)
    return os.environ.get(env) or None


@pytest.fixture(scope="module")
def history_report(request: pytest.FixtureRequest) -> HistoryReport | str | None:
    """The report over past runs (None when no history is configured; the error text when unusable)."""
    location = _configured(request.config, "spine_history_dir", "SPINE_HISTORY_DIR")
    if location is None:
        return None
    try:
        store = open_store(location)
        return evaluate_history(store.records(), location=store.location)
    except RunHistoryError as bad:
        return str(bad)


@pytest.mark.spine_telemetry
@pytest.mark.parametrize("check_id", list(HISTORY_CHECKS))
def test_history(spine: Any, history_report: HistoryReport | str | None, check_id: str) -> None:
    if history_report is None:
        spine.report(Verdict(check_id, "history", Status.NOT_APPLICABLE,
                             "no run history is configured (--spine-history-dir, ini spine_history_dir or "
                             "$SPINE_HISTORY_DIR); add past runs with `spine history add BUNDLE`"))
        return
    if isinstance(history_report, str):
        verdict = Verdict(check_id, "history", Status.FAIL, f"the run history cannot be judged: {history_report}")
        _write(spine, verdict)
        spine.report(verdict)
        return
    verdict = history_report.verdict(check_id)
    spine.add_figures(**{k if k.startswith("history_") else f"history_{k}": v
                         for k, v in history_report.figures().items()})
    _write(spine, verdict, history=history_report.to_json())
    spine.report(verdict)
