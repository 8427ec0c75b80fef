from __future__ import annotations

import pytest

from pytest_spine.cli import main


def test_bench_control_plane_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "control_plane", "--jobs", "25"]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    assert figures["store"].strip() == "memory"
    assert figures["jobs"].strip() == "25" and figures["commands"].strip() == "75"
    assert figures["worker_steps"].strip() == "25"
    assert figures["checks_failed"].strip() == "0"


def test_bench_control_plane_refuses_a_non_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "control_plane", "--jobs", "0"]) == 2
    assert "--jobs must be a positive count, given: 0" in capsys.readouterr().err
