from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from pytest_spine.evidence.schemas import load_schema, problems
from pytest_spine.rubric.bundles import BundleRejected, load_bundle, load_verified
from pytest_spine.rubric.html import render_html
from pytest_spine.rubric.markdown import render_markdown
from pytest_spine.rubric.scorecard import MixedWeek, build_scorecard, scorecard_json
from pytest_spine.rubric.terminal import render_terminal_scorecard

V12_DOC = {"window_seconds": 3600, "figures": {
    "command_success_rate": 0.993, "duplicate_heavy_executions": 0, "poll_timeout_recovery_rate": 0.91,
    "mttr_minutes": 6.5, "traceability_ratio": 1.0}, "kpis": {"heavy_task_success_rate": 0.97, "uptime_ratio": 0.99}}
TIMELINE = {"samples": [{"t": t, "throughput": 100 - (40 if 10 <= t < 20 else 0), "latency_p50_ms": 5 + t % 3,
                         "latency_p95_ms": 20 + (60 if 10 <= t < 20 else 0)} for t in range(0, 30)],
            "faults": [{"name": "replay-flood", "start": 10, "stop": 20}]}


def _rows(gate: Any) -> dict[str, Any]:
    return {r.key: r for r in gate.rows}


def test_v12_gate_reads_the_soak_document_and_names_its_source(make_bundle: Any) -> None:
    root = make_bundle(files={"control_plane/v12_gate.json": V12_DOC})
    card = build_scorecard([load_bundle(root)]).latest
    rows = _rows(card.v12)
    assert (rows["command_success"].status, rows["command_success"].value) == ("PASS", "0.993")
    assert rows["command_success"].evidence == ("control_plane/v12_gate.json#command_success_rate",)
    assert (rows["poll_timeout_recovery"].status, rows["poll_timeout_recovery"].value) == ("FAIL", "0.91")
    assert rows["duplicate_heavy"].status == "PASS"
    assert rows["control_invariants"].status == "PASS"
    assert "verdicts.json#CP-STATE-LEGAL" in rows["control_invariants"].evidence
    assert rows["traceability"].status == "PASS"
    assert card.v12.status == "FAIL"  # poll-timeout recovery 91 % < 95 %
    kpis = _rows(card.kpis)
    assert kpis["heavy_task_success"].status == "PASS"
    assert kpis["uptime"].status == "FAIL"
    assert kpis["audit_score"].status == "NOT_MEASURED"


def test_v12_gate_without_a_soak_is_not_measured_never_invented(make_bundle: Any) -> None:
    root = make_bundle(figures={})
    rows = _rows(build_scorecard([load_bundle(root)]).latest.v12)
    for key in ("command_success", "duplicate_heavy", "poll_timeout_recovery", "mttr"):
        assert rows[key].status == "NOT_MEASURED"
        assert rows[key].value == "not measured"
        assert "control_plane/v12_gate.json is absent" in rows[key].reason
    assert "--spine-soak=DURATION" in build_scorecard([load_bundle(root)]).latest.v12.note
    assert rows["control_invariants"].status == "PASS"  # decided by CP-* verdicts, which are in the bundle


def test_theta03_rows_come_from_security_verdicts_and_figures(make_bundle: Any, kit: Any) -> None:
    verdicts = kit.verdicts_of({"SEC-QUARANTINE-REACTION": "FAIL"})
    verdicts = [v for v in verdicts if v["id"] != "SEC-LINEAGE-UUIDV7"]
    rows = _rows(build_scorecard([load_bundle(make_bundle(verdicts=verdicts))]).latest.theta03)
    assert (rows["replay_rejection"].status, rows["replay_rejection"].value) == ("PASS", "0.9995")
    assert rows["replay_rejection"].threshold == ">= 99.9 % within 30 s skew"
    assert rows["anomaly_reaction"].status == "FAIL"
    assert rows["anomaly_reaction"].evidence[0] == "verdicts.json#SEC-QUARANTINE-REACTION"
    assert rows["email_lineage"].status == "FAIL"
    assert "missing evidence is FAIL" in rows["email_lineage"].reason
    assert rows["release_health"].status == "PASS"


def test_spine_green_needs_p0_to_p11_and_teardown(make_bundle: Any, kit: Any) -> None:
    green = build_scorecard([load_bundle(make_bundle(run_id="g"))]).latest
    assert (green.spine_green.status, green.spine_green.value) == ("PASS", "GREEN")
    failed = kit.verdicts_of({"P12-nothing_left_running": "FAIL", "P7-receipts_reconcile": "FAIL"})
    red = build_scorecard([load_bundle(make_bundle(run_id="r", verdicts=failed))]).latest
    assert (red.spine_green.status, red.spine_green.value) == ("FAIL", "NOT GREEN")
    assert red.spine_green.reason.startswith("failed at P7, P12")
    assert red.spine_green.evidence[0] == "verdicts.json#P7-receipts_reconcile"
    missing = [v for v in kit.verdicts_of() if not v["id"].startswith("P9-")]
    gone = build_scorecard([load_bundle(make_bundle(run_id="m", verdicts=missing))]).latest
    assert _rows(gone.phases)["P9"].status == "FAIL"
    assert "missing evidence is FAIL" in _rows(gone.phases)["P9"].reason


def test_weekly_table_and_trend_over_two_weeks(make_bundle: Any, kit: Any) -> None:
    week1 = make_bundle(run_id="w1", when="2026-02-10T09:00:00Z",
                        verdicts=kit.verdicts_of({"SEC-RATE-LIMIT": "FAIL", "TEL-FAMILIES": "FAIL"}))
    week2 = make_bundle(run_id="w2", when="2026-02-17T09:00:00Z")
    card = build_scorecard([load_bundle(week2), load_bundle(week1)])
    assert [c.run_id for c in card.runs] == ["w1", "w2"]
    trend = card.trend()
    assert trend[1]["score_delta"]["security"] == 3
    assert trend[1]["score_delta"]["measurement"] == 2
    assert trend[1]["total_delta"] == round(card.runs[1].rubric.total - card.runs[0].rubric.total, 2)
    assert trend[1]["total_delta"] > 0


def test_two_runs_in_one_week_are_refused_by_name(make_bundle: Any) -> None:
    a = load_bundle(make_bundle(run_id="monday", when="2026-02-16T09:00:00Z"))
    b = load_bundle(make_bundle(run_id="tuesday", when="2026-02-17T09:00:00Z"))
    with pytest.raises(MixedWeek, match=r"run 'monday'.*run 'tuesday'.*both fall in week 2026-W08"):
        build_scorecard([a, b])
    with pytest.raises(MixedWeek, match="is given twice"):
        build_scorecard([a, a])


def test_json_scorecard_validates_against_its_schema(make_bundle: Any) -> None:
    files = {"control_plane/v12_gate.json": V12_DOC, "scenarios/CH-REPLAY-FLOOD-seed=3/timeline.json": TIMELINE}
    card = build_scorecard([load_bundle(make_bundle(files=files))])
    document = scorecard_json(card, "2026-02-17T10:00:00.000000Z")
    assert problems(document, load_schema("scorecard")) == []
    run = document["runs"][0]
    assert run["rubric"]["total"] == 100.0
    assert run["scenarios"] == ["CH-REPLAY-FLOOD-seed=3"]
    assert document["weekly"][0]["points"]["outcomes"] == 25.0
    broken = json.loads(json.dumps(document))
    broken["runs"][0]["rubric"]["categories"][0]["score"] = 5
    assert problems(broken, load_schema("scorecard"))


def test_markdown_follows_the_seed_week_tables(make_bundle: Any, kit: Any) -> None:
    root = make_bundle(verdicts=kit.verdicts_of({"SEC-RATE-LIMIT": "FAIL"}))
    text = render_markdown(build_scorecard([load_bundle(root)]))
    assert "| Week Of | Measurement (20) | Outcomes (25) | CI/Test (15) | Security (15) | Operability (15) | " \
           "Discipline (10) | Total | Decision |" in text
    assert re.search(r"\| Security and Abuse Resistance \| 15 \| 1 \| 3\.75 \| .*Capped at 1", text)
    assert "**Total Score:** **" in text
    assert "`verdicts.json#SEC-RATE-LIMIT`" in text


def test_html_is_self_contained_and_shows_the_charts(make_bundle: Any, kit: Any, tmp_path: Path) -> None:
    week1 = make_bundle(run_id="w1", when="2026-02-10T09:00:00Z", verdicts=kit.verdicts_of({"SEC-NONCE-HWM": "FAIL"}))
    week2 = make_bundle(run_id="w2", when="2026-02-17T09:00:00Z",
                        files={"scenarios/CH-REPLAY-FLOOD-seed=3/timeline.json": TIMELINE})
    html = render_html(build_scorecard([load_bundle(week1), load_bundle(week2)]), tmp_path / "report.html")
    assert "<script" not in html
    assert not re.search(r"(src|href)=['\"]https?:", html)  # no network: nothing fetched
    assert not re.search(r"url\(", html)
    assert html.count("<svg") >= 5  # phase timeline, rubric bars, matrix, two trend charts, scenario timeline
    assert "aria-label='phase timeline'" in html
    assert "aria-label='timeline of CH-REPLAY-FLOOD-seed=3'" in html
    assert "<title>replay-flood: 10-20</title>" in html  # the shaded fault window
    assert "Weekly scorecard and trend" in html
    assert "aria-label='pass/fail matrix over weeks'" in html
    assert "<title>SEC-NONCE-HWM 2026-02-10: FAIL</title>" in html  # failing in week 1, PASS in week 2
    assert "href='evidence/runs/w2/verdicts.json'" in html  # evidence links relative to the report


def test_terminal_scorecard_after_a_run(sealed_bundle: Any) -> None:
    root = sealed_bundle()
    out = io.StringIO()
    card = render_terminal_scorecard(root, Console(file=out, width=160, no_color=True))
    text = out.getvalue()
    assert card is not None
    assert "Spine Green v0: FAIL NOT GREEN" in text
    assert "Total Score:" in text and "Phase Decision:" in text
    assert "v1.2 gate" in text and "Θ-03 acceptance gates" in text


def test_terminal_scorecard_refuses_a_tampered_bundle(sealed_bundle: Any) -> None:
    root = sealed_bundle()
    (root / "figures.json").write_text((root / "figures.json").read_text().replace("0.995", "1.0"))
    out = io.StringIO()
    assert render_terminal_scorecard(root, Console(file=out, width=200, no_color=True)) is None
    text = " ".join(out.getvalue().split())
    assert "No scorecard:" in text
    assert "figures.json: sha256 is" in text


def test_verified_load_refuses_unsealed_and_corrupt_bundles(sealed_bundle: Any, tmp_path: Path) -> None:
    root = sealed_bundle()
    (root / "manifest.json").unlink()
    with pytest.raises(BundleRejected, match=r"evidence verification rejects this bundle.*manifest.json: missing"):
        load_verified(root)
    with pytest.raises(BundleRejected, match="no such bundle directory"):
        load_verified(tmp_path / "nowhere")


def test_a_corrupt_verdicts_file_is_named(make_bundle: Any) -> None:
    root = make_bundle()
    (root / "verdicts.json").write_text("{not json")
    from pytest_spine.errors import EvidenceError

    with pytest.raises(EvidenceError, match=rf"{root}/verdicts.json cannot be read as JSON"):
        load_bundle(root)


def test_theta03_also_reads_the_simulator_metric_gates(make_bundle: Any, kit: Any) -> None:
    met = [kit.verdict("MET-REPLAY-REJECTION", figures={"value": 0.99955, "threshold": 0.999}),
           kit.verdict("MET-UNSIGNED-ACCEPTED", "FAIL", figures={"value": 2})]
    rows = _rows(build_scorecard([load_bundle(make_bundle(verdicts=met, figures={}))]).latest.theta03)
    assert (rows["replay_rejection"].status, rows["replay_rejection"].value) == ("PASS", "0.99955")
    assert rows["replay_rejection"].evidence[0] == "verdicts.json#MET-REPLAY-REJECTION"
    assert (rows["unsigned_control"].status, rows["unsigned_control"].value) == ("FAIL", "2")
    assert rows["anomaly_reaction"].reason.startswith("no SEC-QUARANTINE-REACTION or MET-QUARANTINE-REACTION verdict")


def test_kpi_rows_judge_the_operators_figures_and_say_how_to_give_the_rest(make_bundle: Any) -> None:
    operator = {"operate/kpis.json": {"source_file": "kpis.yaml", "sha256": "0" * 64, "window": "2026-W47",
                                      "source": "dashboard", "kpis": {"heavy_task_success_rate": 0.97,
                                                                      "audit_score": 91, "uptime_ratio": 0.998}}}
    rows = _rows(build_scorecard([load_bundle(make_bundle(figures={}, files=operator))]).latest.kpis)
    assert (rows["heavy_task_success"].status, rows["heavy_task_success"].value) == ("PASS", "0.97")
    assert rows["heavy_task_success"].reason == "operator figure 0.97 for 2026-W47 (meets >= 96 %)"
    assert rows["heavy_task_success"].evidence == ("operate/kpis.json#heavy_task_success_rate",)
    assert (rows["audit_score"].status, rows["audit_score"].value) == ("FAIL", "91")
    assert rows["audit_score"].reason == "operator figure 91 for 2026-W47 (misses >= 95)"
    assert rows["uptime"].status == "PASS"
    assert rows["operator_time"].status == "NOT_MEASURED"
    assert "pass the window's figures with --spine-kpis FILE" in rows["operator_time"].reason

    rows = _rows(build_scorecard([load_bundle(make_bundle(run_id="b", figures={}))]).latest.kpis)
    assert {row.status for row in rows.values()} == {"NOT_MEASURED"}


def test_theta03_unsigned_row_shows_what_the_security_gate_admitted(make_bundle: Any, kit: Any) -> None:
    leaked = [kit.verdict("SEC-UNSIGNED-REJECTED", "FAIL", figures={"unsigned_admitted": 3, "unsigned_sent": 100})]
    rows = _rows(build_scorecard([load_bundle(make_bundle(verdicts=leaked, figures={}))]).latest.theta03)
    assert (rows["unsigned_control"].status, rows["unsigned_control"].value) == ("FAIL", "3")
    held = [kit.verdict("SEC-UNSIGNED-REJECTED", figures={"unsigned_admitted": 0, "unsigned_sent": 100})]
    rows = _rows(build_scorecard([load_bundle(make_bundle(run_id="b", verdicts=held, figures={}))]).latest.theta03)
    assert (rows["unsigned_control"].status, rows["unsigned_control"].value) == ("PASS", "0")


def test_runner_timeline_without_samples_shades_progress_windows(make_bundle: Any, kit: Any) -> None:
    events = {"events": [{"progress": 0.25, "fault": "kill-consumer", "action": "inject", "ok": True},
                         {"progress": 0.5, "fault": "kill-consumer", "action": "rollback", "ok": True},
                         {"progress": 0.7, "fault": "partition", "action": "inject", "ok": True}]}
    root = make_bundle(verdicts=kit.verdicts_of({"CH-REPLAY-FLOOD-seed=3": "FAIL"}),
                       files={"scenarios/CH-REPLAY-FLOOD-seed=3/timeline.json": events})
    html = render_html(build_scorecard([load_bundle(root)]))
    assert "<title>kill-consumer: 25%-50% of the workload</title>" in html
    assert "<title>partition: 70%-100% of the workload</title>" in html  # never rolled back: runs to the end
    assert "no throughput/latency samples in this timeline" in html
    assert "CH-REPLAY-FLOOD-seed=3  FAIL" in html
