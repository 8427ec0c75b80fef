from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_spine.cli import main
from pytest_spine.history import dump_compressed
from pytest_spine.targets.reference_control_plane import run_control_plane


def test_ops_prints_a_healthy_status_for_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    assert "control plane ops status (memory store, CP-BASELINE seed=3)" in out
    assert "  health         OK" in out
    assert "  jobs           11: REQUESTED 0 · APPROVED 0 · QUEUED 0 · RUNNING 0 · SUCCEEDED 7" in out
    assert "retry_budget_exhausted job-4" in out


def test_ops_json_shows_a_stale_running_job_of_a_broken_plane(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ops", "--json", "--workload", "CH-RESTART-DURING-RUNNING", "--mutant",
                 "lease_never_expires"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert [row["job_id"] for row in status["stale_running"]] == ["job-1"]
    assert status["stale_running"][0]["owner"] == "worker-1"
    assert status["healthy"] is False and status["jobs_lost"] == []


def test_ops_reads_a_stored_history_and_names_lost_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_control_plane("CH-SUCCESS-THEN-REPORTING-FAILURE", seed=3, mutant="silent_job_loss")
    data, _, _ = dump_compressed(list(run.operations), 10**8)
    path = tmp_path / "history.jsonl.gz"
    path.write_bytes(data)
    assert main(["ops", "--history", str(path)]) == 1
    out = capsys.readouterr().out
    assert "    LOST  job-1, job-2 (created, no longer in the store)" in out


def test_ops_refuses_a_history_without_a_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"index": 0, "time": 1.0, "process": "wsp", "type": "ok", "f": "ingest", "value": {}}\n')
    assert main(["ops", "--history", str(path)]) == 2
    assert "holds no cp_snapshot with an ops status" in capsys.readouterr().err
