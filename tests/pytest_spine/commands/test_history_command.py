from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telemetry"))

from telemetry_builders import write_bundle

from pytest_spine.cli import main


def add_runs(tmp_path: Path, outcomes: list[str], check: str = "INV-DEDUPE-IDENTITY") -> Path:
    history = tmp_path / "history"
    for i, outcome in enumerate(outcomes):
        run_id = f"platform_2026010{1 + i // 10}T{i % 10:02d}0000Z_{i:08x}"
        bundle = write_bundle(tmp_path / f"b{i}", run_id=run_id,
                              verdicts=[(check, "invariant", outcome), ("P7-x", "gate", "PASS")],
                              written_at=f"2026-01-0{1 + i // 10}T{i % 10:02d}:00:00Z")
        assert main(["history", "add", str(bundle), "--history-dir", str(history)]) == 0
    return history


def test_add_then_report_a_clean_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = add_runs(tmp_path, ["PASS"] * 20)
    capsys.readouterr()
    assert main(["history", "report", "--history-dir", str(history)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out[:4]] == [["PASS", "HIST-FLAKE:"], ["PASS", "HIST-CONSECUTIVE:"],
                                                     ["PASS", "HIST-SLO-WINDOW:"], ["PASS", "HIST-ERROR-BUDGET:"]]
    assert out[-1] == f"20 runs in {history}; no automatic No-Go"


def test_mutant_history_with_a_flaky_test_at_3_of_20_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = ["PASS"] * 20
    outcomes[3] = outcomes[8] = outcomes[14] = "FAIL"
    history = add_runs(tmp_path, outcomes)
    capsys.readouterr()
    assert main(["history", "report", "--history-dir", str(history), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["flakes"] == [{"test_id": "INV-DEDUPE-IDENTITY", "runs": 20, "flaky_runs": 3, "rate": 0.15,
                                 "flaky_run_ids": [report["window"][3], report["window"][8], report["window"][14]]}]
    statuses = {v["id"]: v["status"] for v in report["verdicts"]}
    assert statuses["HIST-FLAKE"] == "FAIL" and statuses["HIST-CONSECUTIVE"] == "PASS"
    assert report["figures"]["flake_rate_max"] == 0.15


def test_three_consecutive_failures_report_no_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = add_runs(tmp_path, ["PASS"] * 5 + ["FAIL"] * 3)
    capsys.readouterr()
    assert main(["history", "report", "--history-dir", str(history), "--required", "INV-*"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  HIST-CONSECUTIVE: No-Go: required checks failing in 3 or more consecutive runs" in out
    assert out.splitlines()[-1].endswith("NO-GO")


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["history", "report", "--history-dir", str(empty)]) == 2
    assert "holds no runs" in capsys.readouterr().err
    assert main(["history", "add", "--history-dir", str(empty)]) == 2
    assert "needs a BUNDLE, a --junit FILE, or both" in capsys.readouterr().err
    history = add_runs(tmp_path, ["PASS"])
    bundle = tmp_path / "b0" / "evidence" / "runs"
    assert main(["history", "add", str(bundle.parent.parent), "--history-dir", str(history)]) == 2
    assert "already in the history" in capsys.readouterr().err
    junit = tmp_path / "other.xml"
    junit.write_text('<testsuite timestamp="2026-01-01T00:00:00"><properties>'
                     '<property name="platform_run_id" value="platform_other"/></properties>'
                     '<testcase classname="a" name="b"/></testsuite>')
    assert main(["history", "add", str(bundle.parent.parent), "--junit", str(junit),
                 "--history-dir", str(tmp_path / "h2")]) == 2
    assert "mixed run ids" in capsys.readouterr().err
    assert not (tmp_path / "h2").exists()  # nothing half-written
    assert main(["history", "report", "--history-dir", str(history), "--slo-target", "1.5"]) == 2
    assert "--slo-target in (0, 1)" in capsys.readouterr().err


def test_junit_only_runs_can_be_added(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "ci.xml"
    junit.write_text('<testsuite timestamp="2026-01-01T00:00:00"><testcase classname="e2e" name="chromium_smoke">'
                     '<failure message="x"/></testcase></testsuite>')
    assert main(["history", "add", "--junit", str(junit), "--history-dir", str(tmp_path / "h")]) == 0
    assert "added run ci (1 tests)" in capsys.readouterr().out
