"""``spine bench drive``: GateClient against a bare http.client loop on the same sink subprocess. Figures are
printed, never judged here (performance is measured, not tested)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_spine.cli import main

LINE = r"drive: \d+ requests/s \(GateClient, {c}\) vs \d+ requests/s \(bare http\.client\): \d+\.\d\dx"


def test_bench_drive_prints_both_figures_and_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "drive", "--requests", "40", "--connections", "2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(None, 1) for line in out.splitlines() if line.strip() and ":" not in line)
    for prefix in ("", "c2_"):
        for name in ("gateclient_requests_per_second", "baseline_requests_per_second", "ratio"):
            assert prefix + name in figures, out
    assert figures["history_operations"].strip() == figures["c2_history_operations"].strip() == "80"
    assert re.search(LINE.format(c="1 connection"), out), out
    assert re.search(LINE.format(c="2 connections"), out), out


def test_bench_drive_one_connection_as_json_and_against_a_saved_run(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "drive.json"
    assert main(["bench", "drive", "--requests", "30", "--connections", "1", "--rounds", "1", "--json",
                 "--save", str(base)]) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert set(figures) == {"requests", "gateclient_requests_per_second", "baseline_requests_per_second", "ratio",
                            "history_operations"}
    assert figures["gateclient_requests_per_second"] > 0 and figures["baseline_requests_per_second"] > 0
    assert figures["history_operations"] == 60  # every send recorded: invoke, then its completion
    saved = json.loads(base.read_text())
    assert saved["bench"] == "drive" and saved["workload"]["requests"] == 30
    # A huge allowance: the comparison runs and prints its rows, whatever this machine's speed is right now.
    assert main(["bench", "drive", "--requests", "30", "--connections", "1", "--rounds", "1", "--compare", str(base),
                 "--fail-over", "1000000"]) == 0
    out = capsys.readouterr().out
    assert "gateclient_requests_per_second" in out and "0 regression(s)" in out
    assert re.search(LINE.format(c="1 connection"), out), out


@pytest.mark.parametrize("flag", ["--requests", "--connections", "--rounds"])
def test_bench_drive_refuses_a_non_positive_count(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "drive", flag, "0"]) == 2
    assert "must be positive counts" in capsys.readouterr().err
