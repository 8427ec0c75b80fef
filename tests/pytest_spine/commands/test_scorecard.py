from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.cli import main
from pytest_spine.clock import ManualClock
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.evidence.schemas import load_schema, problems

# The scenario runner's timeline (plan + inject/rollback events) with throughput/latency samples beside it.
TIMELINE = {"scenario": "CH-BROKER-PARTITION", "instance": "CH-BROKER-PARTITION-seed=1", "seed": 1,
            "plan": {"workload": {}, "faults": [], "invariants": [], "thresholds": {}},
            "events": [{"progress": 0.3, "fault": "broker-partition", "action": "inject", "ok": True},
                       {"progress": 0.6, "fault": "broker-partition", "action": "rollback", "ok": True}],
            "samples": [{"t": t, "throughput": 50.0 if 5 <= t < 9 else 120.0, "latency_p50_ms": 4.0,
                         "latency_p95_ms": 90.0 if 5 <= t < 9 else 15.0} for t in range(15)]}


def _verdict(check_id: str, kind: str, status: str = "PASS") -> dict[str, Any]:
    return {"id": check_id, "kind": kind, "status": status, "reason": f"{check_id} {status}"}


def _bundle(where: Path, run_id: str, when: str, security: str = "PASS") -> Path:
    """A sealed bundle verification accepts: the phases that owe contract files are recorded FAILed."""
    clock = ManualClock(dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC).timestamp())
    bundle = EvidenceBundle.create(where, run_id, clock=clock)
    verdicts = [_verdict("P(-1)-entrypoints_importable", "gate"), _verdict("P0-topics_exist", "gate"),
                *(_verdict(f"P{n}-criterion", "gate", "FAIL") for n in range(1, 13)),
                _verdict("SEC-UNSIGNED-REJECTED", "security"), _verdict("SEC-SIG-TAMPER", "security"),
                _verdict("SEC-REPLAY-REJECT", "security", security), _verdict("INV-DEDUPE-IDENTITY", "invariant"),
                _verdict("CP-STATE-LEGAL", "control_plane"), _verdict("TEL-TAXONOMY", "telemetry"),
                _verdict("CH-BROKER-PARTITION-seed=1", "scenario")]
    bundle.put("verdicts.json", {"verdicts": verdicts})
    bundle.put("figures.json", {"figures": {"replay_rejection_ratio": 0.9993}})
    bundle.put("control_plane/v12_gate.json", {"figures": {"command_success_rate": 0.992,
                                                           "duplicate_heavy_executions": 0}})
    bundle.put("scenarios/CH-BROKER-PARTITION-seed=1/timeline.json", TIMELINE)
    bundle.seal("complete", "test")
    return bundle.root


@pytest.fixture
def week1(tmp_path: Path) -> Path:
    return _bundle(tmp_path / "a", "platform_w1", "2026-02-10T09:00:00", security="FAIL")


@pytest.fixture
def week2(tmp_path: Path) -> Path:
    return _bundle(tmp_path / "b", "platform_w2", "2026-02-17T09:00:00")


def test_terminal_scorecard_of_one_bundle(week2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", str(week2)]) == 0
    out = capsys.readouterr().out
    assert "Scorecard run platform_w2 (unknown, 2026-02-17)" in out
    assert "Spine Green v0: FAIL NOT GREEN - failed at P1, P2" in out
    assert "Phase Decision: Stay in Phase 1 (Metric Hardening)" in out
    assert "control_plane/v12_gate.json#command_success_rate" in out


def test_json_of_two_weeks_validates_and_trends(week1: Path, week2: Path, tmp_path: Path) -> None:
    out = tmp_path / "scorecard.json"
    assert main(["scorecard", str(week2), str(week1), "--format", "json", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert problems(document, load_schema("scorecard")) == []
    assert [w["platform_run_id"] for w in document["weekly"]] == ["platform_w1", "platform_w2"]
    assert [w["scores"]["security"] for w in document["weekly"]] == [1, 2]
    assert document["trend"][1]["score_delta"]["security"] == 1
    v12 = {r["key"]: r for r in document["runs"][1]["v12_gate"]["rows"]}
    assert (v12["command_success"]["status"], v12["command_success"]["value"]) == ("PASS", "0.992")
    assert v12["mttr"]["status"] == "NOT_MEASURED"


def test_markdown_and_html(week1: Path, week2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scorecard", str(week1), str(week2), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "| Week Of | Measurement (20) |" in md
    assert "| 2026-02-10 |" in md and "| 2026-02-17 |" in md
    html_path = tmp_path / "report.html"
    assert main(["scorecard", str(week1), str(week2), "--format", "html", "--out", str(html_path)]) == 0
    html = html_path.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert "timeline of CH-BROKER-PARTITION-seed=1" in html
    assert "<title>broker-partition: 4.2-8.4</title>" in html  # progress 0.3-0.6 of the sampled 0-14 s


def test_out_is_write_once(week2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "card.md"
    out.write_text("earlier report")
    assert main(["scorecard", str(week2), "--format", "md", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "earlier report"


def test_a_bundle_verification_rejects_gets_no_scorecard(week2: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = week2 / "verdicts.json"
    verdicts.write_text(verdicts.read_text().replace('"FAIL"', '"PASS"'))
    out = tmp_path / "card.html"
    assert main(["scorecard", str(week2), "--format", "html", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "evidence verification rejects this bundle, so no scorecard is made" in err
    assert "verdicts.json: sha256 is" in err
    assert not out.exists()  # nothing half-written


def test_corrupt_bundle_is_named(week2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (week2 / "figures.json").write_text("{broken")
    assert main(["scorecard", str(week2)]) == 2
    err = capsys.readouterr().err
    assert str(week2) in err and "figures.json" in err


def test_runs_of_one_week_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monday = _bundle(tmp_path / "m", "platform_mon", "2026-02-16T09:00:00")
    tuesday = _bundle(tmp_path / "t", "platform_tue", "2026-02-17T09:00:00")
    assert main(["scorecard", str(monday), str(tuesday)]) == 2
    err = capsys.readouterr().err
    assert "run 'platform_mon'" in err and "run 'platform_tue'" in err and "week 2026-W08" in err


def test_a_bad_rubric_file_is_named(week2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("version: 1\ncategories: {}\n")
    assert main(["scorecard", str(week2), "--rubric", str(rubric)]) == 2
    err = capsys.readouterr().err
    assert f"rubric file {rubric} does not validate" in err


def test_through_the_console_script(pytester: pytest.Pytester, week2: Path) -> None:
    spine = Path(sys.executable).with_name("spine")
    result = pytester.run(spine, "scorecard", str(week2), "--format", "md")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["# Reliability scorecard", "*## Run platform_w2 (unknown, 2026-02-17)*"])
