from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_spine.cli import main


def test_validate_packaged_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "validate"]) == 0
    out = capsys.readouterr().out
    assert "5 valid, 0 rejected" in out or ", 0 rejected" in out
    assert "CH-REPLAY-FLOOD" in out


def test_validate_names_file_place_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "CH-LATE-CONTEXT.yaml"
    bad.write_text("id: CH-LATE-CONTEXT\ndescription: too short but valid enough\nworkload: {generator: late_context}\n"
                   "faults: []\ninvariants: [INV-EXPLICIT-DEGRADE]\nthresholds: ['late_flows >>= 1']\n",
                   encoding="utf-8")
    assert main(["scenarios", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"INVALID {bad}: at line 6 (thresholds[0]):" in out
    assert "0 valid, 1 rejected" in out


def test_validate_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "validate", str(tmp_path / "nope.yaml")]) == 1
    assert "no such file" in capsys.readouterr().out


def test_plan_prints_workload_faults_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "plan", "CH-REPLAY-FLOOD", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "CH-REPLAY-FLOOD-seed=7" in out
    assert "replay_flood(events=1000, replays=100000, payload_mutation_ratio=0.01, wrong_run_sends=0" in out
    assert "rollback: disarm (always)" in out
    assert "replay_rejection_ratio >= 0.999" in out


def test_plan_json_and_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "plan", "CH-LATE-CONTEXT", "--json"]) == 0
    plans = json.loads(capsys.readouterr().out)
    assert plans[0]["faults"][0]["rollback"] == "disarm"
    assert main(["scenarios", "plan", "CH-NOPE"]) == 2
    assert "unknown scenario id(s) CH-NOPE" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["id"] for row in listed["scenarios"]} >= {"CH-PUBLISH-AMBIGUITY", "CH-CONCURRENT-REPORTERS"}
