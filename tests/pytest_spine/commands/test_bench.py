from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_spine.cli import main


def test_bench_checkers_prints_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "checkers", "--ops", "5000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["figures"]
    assert report["bench"] == "checkers"
    assert figures["operations"] >= 5000
    assert figures["drift_violations"] == 0
    assert figures["operations_per_second"] > 0
    assert figures["checker_peak_memory_mib"] > 0


def test_bench_rejects_a_bad_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "checkers", "--ops", "0"]) == 2
    assert "--ops must be a positive count, given: 0" in capsys.readouterr().err


def test_bench_ingest_prints_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ingest", "--events", "300", "--distinct", "30", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert figures["gate_duplicates"] == 300
    assert figures["gate_events_per_second"] > 0
    assert figures["recorded_events_per_second"] > 0
    assert figures["history_operations"] > 300 * 3


def test_bench_ingest_other_env_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ingest", "--env", "dev_min"]) == 2
    assert "not available in this build" in capsys.readouterr().err


def test_bench_ingest_on_local_parity_without_a_stack_names_the_fix(capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    assert main(["bench", "ingest", "--env", "local_parity", "--stack-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"no running local stack in {tmp_path / 'none'}: start one with 'spine stack up --dir " in err
    assert "--stack-dir (or $SPINE_STACK_DIR)" in err


def test_a_kind_may_print_a_summary_and_keep_where_things_are_out_of_the_workload(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import types

    from pytest_spine.commands.bench import _runner

    kind = types.SimpleNamespace(KIND="fake", NOT_WORKLOAD=("bootstrap",),
                                 run=lambda args: {"things_per_second": 10.0, "ratio": 0.875},
                                 summary=lambda figures: [f"fake: {figures['ratio']:.2f}x"])

    def args(**values: object) -> argparse.Namespace:
        given: dict[str, object] = {"json": False, "save": None, "compare": None, "fail_over": 20.0,
                                    "bench_kind": "fake", "command": "bench", "things": 5,
                                    "bootstrap": "127.0.0.1:9092"}
        return argparse.Namespace(**{**given, **values})

    saved = tmp_path / "fake.json"
    assert _runner(kind)(args(save=saved)) == 0
    assert capsys.readouterr().out.splitlines() == ["things_per_second  10.0", "ratio              0.875",
                                                    "fake: 0.88x"]
    assert json.loads(saved.read_text())["workload"] == {"things": 5}
    moved = args(compare=saved)
    moved.bootstrap = "127.0.0.1:19092"  # another broker address: the same workload
    assert _runner(kind)(moved) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "fake: 0.88x"
    assert _runner(kind)(args(json=True)) == 0
    assert json.loads(capsys.readouterr().out)["figures"]["ratio"] == 0.875  # no summary line with --json
