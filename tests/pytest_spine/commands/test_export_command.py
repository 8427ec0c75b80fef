from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telemetry"))

from telemetry_builders import clean_values, write_bundle

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
