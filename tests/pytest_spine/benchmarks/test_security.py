from __future__ import annotations

import json

import pytest

from pytest_spine.cli import main


def test_bench_security_prints_its_figures_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "security", "--events", "150", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    figures = out["figures"]
    assert out["bench"] == "security" and figures["events"] == 150
    assert figures["replay_window_entries"] == 150 and figures["replay_window_bound_entries"] == 262_144
    for name in ("verify_per_s_per_core", "replay_check_per_s_per_core", "gate_admit_per_s_per_core",
                 "gate_peak_memory_mib"):
        assert figures[name] > 0


def test_bench_security_table_and_no_memory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "security", "--events", "20", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "verify_per_s_per_core" in out and "gate_peak_memory_mib" not in out


def test_bench_security_refuses_a_non_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "security", "--events", "0"]) == 2
    assert "--events must be a positive count, given: 0" in capsys.readouterr().err
