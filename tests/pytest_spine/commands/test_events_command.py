from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# Shared builders live beside the telemetry tests (the project imports tests with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telemetry"))

from telemetry_builders import clean_values, event_value, op_lines, write_bundle, write_jsonl

from pytest_spine.cli import main


def test_a_clean_history_lints_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "run.jsonl.gz", op_lines(clean_values()))
    assert main(["events", "lint", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "1 streams, 5 events: clean"


def test_findings_exit_1_with_machine_readable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_jsonl(tmp_path / "events.jsonl", [
        event_value("security.sig_fail", "security", "2", trace_id="t"),
        event_value("security.sig_fail", "security", "1", trace_id="t"),
        event_value("billing.charge", "ingest"),
        event_value("ingest.admit", "ingest", payload={"auth": "Bearer abcdefghijklmnopqrstuvwxyz"}),
    ])
    assert main(["events", "lint", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["counts"] == {"bearer_token": 1, "unknown_name": 1, "version_decreased": 1}
    assert [(f["code"], f["where"]) for f in report["files"][0]["findings"]] == [
        ("version_decreased", f"{bad}:2"), ("unknown_name", f"{bad}:3"), ("bearer_token", f"{bad}:4")]
    assert "abcdefghijklmnopqrstuvwxyz" not in json.dumps(report)


def test_a_bundle_directory_is_linted_through_its_histories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = write_bundle(tmp_path, events=[*clean_values(), event_value("evidence.write", "evidence", "0")])
    assert main(["events", "lint", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert "version_below_minimum" in out and "version_decreased" in out
    assert out.splitlines()[-1] == "1 streams, 6 events: 2 findings"


def test_a_truncated_history_is_linted_up_to_its_cut_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "h.jsonl.gz", [*op_lines(clean_values()), {"truncated": True, "kept": 6,
                                                                           "total": 90}])
    assert main(["events", "lint", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"note: {path} was cut at the bundle's size bound (6 of 90 operations stored): linted the stored part",
        "1 streams, 5 events: clean"]


def test_no_events_at_all_is_a_failure_not_a_clean_lint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["events", "lint", str(empty), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"no_events": 1} and report["ok"] is False


def test_run_id_option_fails_closed_on_other_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "run.jsonl", op_lines(clean_values()))
    assert main(["events", "lint", str(path), "--run-id", "platform_other", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["counts"] == {"run_id_mismatch": 5}


def test_unreadable_sources_and_taxonomies_exit_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", op_lines(clean_values()))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"name": \n')
    assert main(["events", "lint", str(good), str(broken)]) == 2
    captured = capsys.readouterr()
    assert f"{broken}:1: not a JSON line" in captured.err and captured.out == ""
    taxonomy = tmp_path / "tax.yaml"
    taxonomy.write_text("taxonomy_version: 1\ncategories: []\nfamilies: {}\n")
    assert main(["events", "lint", str(good), "--taxonomy", str(taxonomy)]) == 2
    assert f"{taxonomy}: at categories" in capsys.readouterr().err
