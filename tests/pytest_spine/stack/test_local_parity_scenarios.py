"""Packaged chaos scenarios on the local stack through the local_parity driver: they pass on the real
Kafka/S3 and fail on their mutants, as on the reference. (Beside the stack tests: it shares their stack.)"""

from __future__ import annotations

import uuid

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.stack.fixture import STACK_DIR_ENV, SessionStack
from pytest_spine.targets.local_parity import local_parity_driver
from pytest_spine.verdicts import Status

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _packaged(scenario_id: str) -> Scenario:
    found = {s.id: s for s in load_dir(packaged_dir()).scenarios}
    return found[scenario_id]


@pytest.fixture
def on_stack(local_stack: SessionStack, monkeypatch: pytest.MonkeyPatch) -> SessionStack:
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    return local_stack


@pytest.mark.parametrize(("scenario_id", "mutant", "failing"), [
    ("CH-CONSUMER-CRASH-BEFORE-COMMIT", None, None),
    ("CH-CONSUMER-CRASH-BEFORE-COMMIT", "ack_before_write", "INV-COMMIT-AFTER-WRITE"),
    ("CH-PUBLISH-AMBIGUITY", None, None),
    ("CH-PUBLISH-AMBIGUITY", "hide_publish_ambiguity", "INV-NO-PUBLISH-AMBIGUITY"),
])
def test_scenarios_on_the_real_stack_pass_and_their_mutants_fail(
        on_stack: SessionStack, scenario_id: str, mutant: str | None, failing: str | None) -> None:
    driver = local_parity_driver(f"t-lp-{uuid.uuid4().hex[:8]}", 3, mutant, History(ManualClock()))
    assert driver.name == "local_parity"
    assert type(driver.platform.bus).__name__ == "KafkaBus"
    try:
        result = run_scenario(_packaged(scenario_id), 3, driver, scale=0.25)
    finally:
        driver.close()
    assert driver.armed() == []  # rolled back
    if failing is None:
        assert result.verdict.status is Status.PASS, result.verdict.reason
    else:
        assert result.verdict.status is Status.FAIL
        assert failing in {p.check_id for p in result.parts if p.status is Status.FAIL}
        assert result.verdict.counterexample
