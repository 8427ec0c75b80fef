"""run_instance: a driver whose teardown fails (a consumer process survived) still has the history stored, and
the failure is not swallowed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.errors import EnvironmentFault
from pytest_spine.history import History
from pytest_spine.scenarios import execute
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.reference_driver import ReferenceDriver


def test_a_failing_close_still_stores_the_history_and_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def factory(platform_run_id: str, seed: int, mutant: str | None, history: History) -> Any:
        driver = ReferenceDriver.standalone(platform_run_id, seed, mutant, history=history)

        def close() -> None:
            raise EnvironmentFault("consumer processes survived the scenario's teardown: ['rtdl pid 4242']")

        driver.close = close  # type: ignore[method-assign]
        return driver

    monkeypatch.setitem(execute._DRIVERS, "reference", factory)
    spine = SimpleNamespace(settings=SimpleNamespace(env="reference", platform_run_id="p", mutant=None,
                                                     allow_destructive=False),
                            run=SimpleNamespace(workload_scale=0.1))
    scenario = {s.id: s for s in load_dir(packaged_dir()).scenarios}["CH-LATE-CONTEXT"]
    stored: list[int] = []
    history = History(ManualClock())
    with pytest.raises(EnvironmentFault, match=r"survived the scenario's teardown: \['rtdl pid 4242'\]"):
        execute.run_instance(spine, scenario, 3, history, on_close=lambda: stored.append(len(history)))
    assert len(stored) == 1 and stored[0] > 0
