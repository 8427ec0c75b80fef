from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pytest_spine.scenarios.soak import Iteration
from pytest_spine.scenarios.soak_progress import PLAIN_EVERY_S, PLAIN_FIRST, _plain
from pytest_spine.verdicts import Status


class _Reporter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_line(self, line: str) -> None:
        self.lines.append(line)


def _config(reporter: _Reporter) -> Any:
    return SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda name: reporter))


def test_plain_progress_prints_the_first_iterations_then_one_line_per_interval_and_every_failure() -> None:
    reporter = _Reporter()
    now = [0.0]
    on_iteration, _ = _plain(_config(reporter), 60.0, lambda it: f"replay {it.seed}", monotonic=lambda: now[0])
    for number in range(1, 61):  # one iteration a second for a minute; number 40 fails
        now[0] = float(number)
        status = Status.FAIL if number == 40 else Status.PASS
        on_iteration(Iteration(number, "CH-X", 1000 + number, status, "broken" if number == 40 else "", 1.0),
                     60.0 - now[0])
    printed = [int(line.split()[2]) for line in reporter.lines if line.startswith("soak: iteration ")]
    # The first PLAIN_FIRST, then one per PLAIN_EVERY_S of monotonic time, and the failure (with its replay).
    assert (PLAIN_FIRST, PLAIN_EVERY_S) == (3, 10.0)
    assert printed == [1, 2, 3, 13, 23, 33, 40, 50, 60]
    failure = next(line for line in reporter.lines if line.startswith("soak: iteration 40 "))
    assert "FAIL" in failure and "seed 1040: broken; replay with: replay 1040" in failure
    assert "1 failed so far" in reporter.lines[-1]
