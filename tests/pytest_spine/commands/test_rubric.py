from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pytest_spine.cli import main

WEEK_1 = ["measurement=2", "outcomes=1", "ci=3", "security=1", "operability=2", "discipline=3"]
WEEK_2 = ["measurement=3", "outcomes=1", "ci=3", "security=2", "operability=2", "discipline=3"]


def test_week_1_prints_the_table_total_and_decision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rubric", "score", *WEEK_1]) == 0
    out = capsys.readouterr().out
    assert "Measurement Completeness" in out and "10.00" in out and "6.25" in out and "11.25" in out
    assert "Total Score: 46.25 / 100" in out
    assert "Phase Decision: Stay in Phase 1 (Metric Hardening)" in out


def test_week_2_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rubric", "score", *WEEK_2, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 55.0
    assert result["decision"] == "Stay in Phase 1"
    assert [c["points"] for c in result["categories"]] == [15.0, 6.25, 11.25, 7.5, 7.5, 7.5]


def test_no_go_condition_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    scores = [f"{k}=4" for k in ("measurement", "outcomes", "ci", "security", "operability", "discipline")]
    assert main(["rubric", "score", *scores, "--no-go", "sev1"]) == 0
    out = capsys.readouterr().out
    assert "Total Score: 100.00 / 100" in out
    assert "Phase Decision: No-Go" in out
    assert "An open Sev-1 reliability or security incident" in out


@pytest.mark.parametrize(("args", "message"), [
    (["measurement=5", *WEEK_1[1:]], "measurement must be an integer from 0 to 4"),
    (["speed=2", *WEEK_1], "unknown category 'speed'"),
    (WEEK_1[:5], "scores are missing for discipline"),
])
def test_bad_scores_exit_2_with_a_named_error(capsys: pytest.CaptureFixture[str], args: list[str],
                                              message: str) -> None:
    assert main(["rubric", "score", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spine: error: ")
    assert message in err


def test_through_the_console_script(pytester: pytest.Pytester) -> None:
    spine = Path(sys.executable).with_name("spine")  # the venv's console script, whether or not it is on PATH
    result = pytester.run(spine, "rubric", "score", *WEEK_1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["Total Score: 46.25 / 100", "Phase Decision: Stay in Phase 1 (Metric Hardening)"])


def test_validate_the_packaged_rubric_and_a_broken_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_spine.rubric.mapping import DEFAULT_RUBRIC

    assert main(["rubric", "validate", str(DEFAULT_RUBRIC)]) == 0
    out = capsys.readouterr().out
    assert "valid (measurement=20, outcomes=25, ci=15, security=15, operability=15, discipline=10;" in out
    broken = tmp_path / "rubric.yaml"
    broken.write_text(DEFAULT_RUBRIC.read_text().replace("weight: 25", "weight: 35"))
    assert main(["rubric", "validate", str(broken)]) == 2
    assert f"rubric file {broken}: category weights must sum to 100, they sum to 110" in capsys.readouterr().err


def test_score_with_the_weights_of_a_rubric_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_spine.rubric.mapping import DEFAULT_RUBRIC

    reweighted = tmp_path / "rubric.yaml"
    text = DEFAULT_RUBRIC.read_text().replace("weight: 25", "weight: 15").replace("weight: 10", "weight: 20")
    reweighted.write_text(text)
    assert main(["rubric", "score", *WEEK_1, "--rubric", str(reweighted), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # outcomes 1/4 x 15 = 3.75 and discipline 3/4 x 20 = 15 replace 6.25 and 7.50
    assert result["total"] == 46.25 - 6.25 - 7.5 + 3.75 + 15.0
