"""Scorecards from a real bundle: a whole ``pytest --spine-env=reference`` session, then every format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_spine.cli import main
from pytest_spine.evidence.schemas import load_schema, problems


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    evidence = tmp_path_factory.mktemp("reference")
    pytester_dir = tmp_path_factory.mktemp("session")
    done = subprocess.run([sys.executable, "-m", "pytest", "--spine-env=reference", f"--spine-evidence-dir={evidence}",
                           "-q", "-p", "no:cacheprovider"], cwd=pytester_dir,
                          capture_output=True, text=True, timeout=600, check=False)
    runs = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(runs) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    return runs[0], done.stdout


@pytest.mark.slow
def test_the_run_ends_with_the_terminal_scorecard(reference_run: tuple[Path, str]) -> None:
    bundle, stdout = reference_run
    tail = stdout[stdout.rfind("pytest-spine"):]
    assert "Scorecard run" in tail and bundle.name in tail, tail[-3000:]
    assert "Phase Decision:" in tail, tail[-3000:]
    assert "Spine Green v0:" in tail


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["terminal", "json", "md", "html"])
def test_every_format_renders_from_the_real_bundle(reference_run: tuple[Path, str], tmp_path: Path,
                                                    fmt: str) -> None:
    bundle, _ = reference_run
    out = tmp_path / f"scorecard.{fmt}"
    assert main(["scorecard", str(bundle), "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text()
    assert bundle.name in text
    if fmt == "json":
        document = json.loads(text)
        assert problems(document, load_schema("scorecard")) == []
        run = document["runs"][0]
        assert run["env"] == "reference"
        assert len(run["phases"]["rows"]) == 14
        assert {r["key"] for r in run["v12_gate"]["rows"]} >= {"command_success", "control_invariants", "mttr"}
        assert 0 <= run["rubric"]["total"] <= 100
    if fmt == "html":
        assert "<script" not in text and "aria-label='phase timeline'" in text
