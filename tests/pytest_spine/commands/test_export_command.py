from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telemetry"))

from telemetry_builders import clean_values, op_lines, write_bundle, write_jsonl

from pytest_spine.cli import main

SPINE = Path(sys.executable).with_name("spine")  # the venv's console script, whether or not it is on PATH


def test_spine_export_csv_through_the_console_script(pytester: pytest.Pytester) -> None:
    write_bundle(pytester.path / "reports", figures={"replay_rejection_ratio": 0.9995}, events=clean_values())
    result = pytester.run(SPINE, "export", str(pytester.path / "reports"), "--format", "csv",
                          "--out", str(pytester.path / "out"))
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["wrote */out/metrics.csv", "wrote */out/verdicts.csv", "wrote */out/events.csv"])
    assert (pytester.path / "out" / "events.csv").read_text().count("\n") == 6


def test_spine_export_refuses_to_overwrite(pytester: pytest.Pytester) -> None:
    bundle = write_bundle(pytester.path / "reports", events=clean_values())
    (pytester.path / "out").mkdir()
    (pytester.path / "out" / "metrics.parquet").write_bytes(b"x")
    result = pytester.run(SPINE, "export", str(bundle), "--format", "parquet", "--out", str(pytester.path / "out"))
    assert result.ret == 2
    result.stderr.fnmatch_lines(["spine: error: */metrics.parquet already exist: export never overwrites*"])


def test_a_truncated_history_exports_its_stored_part_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = write_bundle(tmp_path, events=clean_values())
    write_jsonl(bundle / "scenarios" / "CH-X-seed=1" / "history.jsonl.gz",
                [*op_lines(clean_values()[:2]), {"truncated": True, "kept": 3, "total": 30}])
    assert main(["export", str(bundle), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "CH-X-seed=1/history.jsonl.gz was cut at the bundle's size bound" in out
    assert (tmp_path / "out" / "events.csv").read_text().count("\n") == 1 + 5 + 2
