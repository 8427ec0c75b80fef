from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_spine.devtests import STACK_MARKERS, _two_lanes

# A stand-in for pytest: prints its lane's -m expression and exits with the code the test chose for it.
_LANE = ("import sys; expr = sys.argv[-1]; print('lane', expr); "
         "sys.exit({stack} if expr == '" + STACK_MARKERS + "' else {in_process})")


def _lanes(tmp_path: Path, stack: int, in_process: int) -> int:
    return _two_lanes(tmp_path, {}, [sys.executable, "-c", _LANE.format(stack=stack, in_process=in_process)])


def test_both_lanes_run_with_complementary_markers_and_the_background_log_is_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _lanes(tmp_path, 0, 0) == 0
    out = capsys.readouterr().out
    assert f"lane not ({STACK_MARKERS})" in out  # the in-process lane's log, printed after the stack lane
    assert "run: stack lane exit 0, in-process lane exit 0" in out
    assert (tmp_path / ".spine" / "tests-in-process.log").read_text().strip() == f"lane not ({STACK_MARKERS})"


@pytest.mark.parametrize(("stack", "in_process", "expected"), [(1, 0, 1), (0, 1, 1), (5, 0, 0), (0, 5, 0), (2, 1, 2)])
def test_either_lane_failing_fails_the_run_and_an_empty_lane_does_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], stack: int, in_process: int, expected: int) -> None:
    assert _lanes(tmp_path, stack, in_process) == expected
