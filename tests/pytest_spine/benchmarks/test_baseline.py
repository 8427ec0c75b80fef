"""Benchmark baselines: which way is better, what counts as a regression, and the refusals (another workload,
another kind, an existing --save file) that keep a nightly comparison honest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pytest_spine.benchmarks._baseline import compare, direction, load, record, refuse_existing, save
from pytest_spine.cli import main
from pytest_spine.errors import ConfigError


def args(**values: object) -> argparse.Namespace:
    return argparse.Namespace(func=None, json=False, save=None, compare=None, fail_over=20.0, bench_kind="checkers",
                              command="bench", **values)


@pytest.mark.parametrize(("figure", "better"), [
    ("operations_per_second", "higher"), ("gate_events_per_second", "higher"), ("seconds", "lower"),
    ("checker_peak_memory_mib", "lower"), ("p95_latency_ms", "lower"), ("operations", None),
    ("drift_violations", None)])
def test_direction_is_read_from_the_name(figure: str, better: str | None) -> None:
    assert direction(figure) == better


def test_a_figure_worse_by_more_than_the_allowance_is_a_regression_and_only_that() -> None:
    baseline = record("checkers", args(ops=1000, seed=0), {"operations_per_second": 1000.0, "seconds": 1.0,
                                                           "peak_mib": 100.0, "operations": 1000})
    rows = {r.figure: r for r in compare(baseline, "checkers", args(ops=1000, seed=0),
                                         {"operations_per_second": 790.0, "seconds": 1.15, "peak_mib": 80.0,
                                          "operations": 1000}, fail_over_pct=20.0)}
    assert rows["operations_per_second"].regression and rows["operations_per_second"].change_pct == pytest.approx(-21.0)
    assert not rows["seconds"].regression and rows["seconds"].verdict == "ok"  # 15 % slower: within 20 %
    assert not rows["peak_mib"].regression  # better
    assert rows["operations"].verdict == "-"  # a count is shown, never judged
    assert [r.figure for r in rows.values() if r.regression] == ["operations_per_second"]


def test_another_workload_is_not_compared() -> None:
    baseline = record("checkers", args(ops=1000, seed=0), {"seconds": 1.0})
    with pytest.raises(ConfigError, match=r"another checkers workload \(ops: 1000 then, 5000 now\)"):
        compare(baseline, "checkers", args(ops=5000, seed=0), {"seconds": 1.0})


def test_where_things_are_and_secrets_stay_out_of_the_record() -> None:
    saved = record("control_plane", args(jobs=10, dsn="postgresql://u:hunter2@h/db", stack_dir="/x"), {"a": 1})
    assert saved["workload"] == {"jobs": 10}
    assert "hunter2" not in json.dumps(saved)


def test_save_is_write_once_and_load_checks_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "nightly" / "checkers.json"
    save(path, record("checkers", args(ops=1), {"seconds": 1.0}))
    with pytest.raises(ConfigError, match="never overwritten"):
        refuse_existing(path)
    with pytest.raises(ConfigError, match="never overwritten"):
        save(path, {})
    assert load(path, "checkers")["figures"] == {"seconds": 1.0}
    with pytest.raises(ConfigError, match="holds a 'checkers' benchmark, not 'security'"):
        load(path, "security")
    with pytest.raises(ConfigError, match="no such file; make a baseline with --save"):
        load(tmp_path / "absent.json", "checkers")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read as a saved benchmark"):
        load(tmp_path / "junk.json", "checkers")


def test_the_command_saves_compares_and_exits_1_on_a_regression(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    assert main(["bench", "checkers", "--ops", "20000", "--no-memory", "--save", str(base)]) == 0
    saved = json.loads(base.read_text())
    assert saved["bench"] == "checkers" and saved["workload"]["ops"] == 20000
    capsys.readouterr()

    # A baseline 100x faster than anything this machine does: today's run is a regression (both timing figures;
    # 100x is far beyond the noise of a loaded machine, which a small workload's timings do show).
    measured = dict(saved["figures"])
    saved["figures"] = {**measured, "operations_per_second": measured["operations_per_second"] * 100,
                        "seconds": measured["seconds"] / 100}
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps(saved))
    assert main(["bench", "checkers", "--ops", "20000", "--no-memory", "--compare", str(fast), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["comparison"]["regressions"] == ["operations_per_second", "seconds"]
    verdicts = {row["figure"]: row["verdict"] for row in report["comparison"]["figures"]}
    assert verdicts["operations"] == "-" and verdicts["drift_violations"] == "-"

    # A baseline 100x slower: no regression, exit 0.
    saved["figures"] = {**measured, "operations_per_second": measured["operations_per_second"] / 100,
                        "seconds": measured["seconds"] * 100}
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(saved))
    assert main(["bench", "checkers", "--ops", "20000", "--no-memory", "--compare", str(slow)]) == 0
    assert "0 regression(s) over 20 % against" in capsys.readouterr().out


def test_the_command_refuses_before_measuring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    assert main(["bench", "checkers", "--ops", "3000", "--save", str(taken)]) == 2
    assert "the file exists and a saved benchmark is never overwritten" in capsys.readouterr().err
    assert taken.read_text() == "{}"
    other = tmp_path / "other.json"
    assert main(["bench", "checkers", "--ops", "3000", "--no-memory", "--save", str(other)]) == 0
    assert main(["bench", "checkers", "--ops", "4000", "--no-memory", "--compare", str(other)]) == 2
    assert "ops: 3000 then, 4000 now" in capsys.readouterr().err
