"""The packaged network-fault scenarios on the real stack through the local_parity chaos driver: Toxiproxy
toxics on the platform's links to Kafka (CH-BROKER-PARTITION) and to the S3 server (CH-S3-FAULTS), each
rolled back on schedule and recorded. They pass on the correct reference and fail on their mutants; a
workload that crashes under a toxic still has it removed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.scenarios.loader import load_dir, packaged_dir
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.stack.fixture import STACK_DIR_ENV, SessionStack
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi
from pytest_spine.targets.local_parity import local_parity_driver
from pytest_spine.verdicts import Status

pytestmark = [pytest.mark.services, pytest.mark.slow]
pytest_plugins = ["pytester"]


def _packaged(scenario_id: str) -> Scenario:
    return {s.id: s for s in load_dir(packaged_dir()).scenarios}[scenario_id]


@pytest.fixture
def toxiproxy(local_stack: SessionStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ToxiproxyApi]:
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    yield api
    api.reset()  # whatever happens above, the next test starts on a healed network


def _rollbacks(history: History) -> list[str]:
    return [str(op.value["name"]) for op in history.operations()
            if op.f == "fault" and op.type == "ok" and op.value.get("action") == "rollback"]


@pytest.mark.parametrize(("scenario_id", "mutant", "failing"), [
    ("CH-BROKER-PARTITION", None, None),
    ("CH-BROKER-PARTITION", "hide_publish_ambiguity",
     {"INV-NO-PUBLISH-AMBIGUITY", "CH-BROKER-PARTITION/publish_ambiguous"}),
    ("CH-S3-FAULTS", None, None),
    ("CH-S3-FAULTS", "evidence_put_unchecked",
     {"CH-S3-FAULTS/writes_failed", "CH-S3-FAULTS/failed_reported_pass", "CH-S3-FAULTS/fail_closed",
      "CH-S3-FAULTS/missing_after_rewrite"}),
])
def test_network_scenarios_pass_on_the_reference_and_fail_on_their_mutants(
        toxiproxy: ToxiproxyApi, scenario_id: str, mutant: str | None, failing: set[str] | None) -> None:
    history = History(ManualClock())
    driver = local_parity_driver(f"t-net-{uuid.uuid4().hex[:8]}", 3, mutant, history)
    assert "network_faults" in driver.capabilities
    try:
        result = run_scenario(_packaged(scenario_id), 3, driver)
    finally:
        driver.close()
    assert driver.armed() == []  # no toxic and no fault point left
    names = [f.name for f in _packaged(scenario_id).faults]
    assert _rollbacks(history) == names  # each toxic removed, in schedule order, and recorded
    assert [(e.fault, e.action, e.ok) for e in result.timeline] == [
        (name, action, True) for name in names for action in ("inject", "rollback")]
    statuses = {p.check_id: p.status for p in result.parts}
    assert statuses[f"{scenario_id}/rollback"] is Status.PASS
    assert statuses[f"{scenario_id}/steady-state-before"] is Status.PASS
    if failing is None:
        assert result.verdict.status is Status.PASS, result.verdict.reason
        assert statuses[f"{scenario_id}/steady-state-after"] is Status.PASS
    else:
        assert result.verdict.status is Status.FAIL
        assert failing <= {check for check, status in statuses.items() if status is Status.FAIL}
    if scenario_id == "CH-BROKER-PARTITION" and mutant is None:
        figures: dict[str, Any] = dict(result.figures)
        assert figures["events"] == figures["admitted"] == figures["on_topic"] == 10
        assert figures["publish_ambiguous"] >= 1
        assert (figures["unresolved"], figures["lost_admitted"], figures["double_admits"]) == (0, 0, 0)
    if scenario_id == "CH-S3-FAULTS" and mutant is None:
        assert result.figures["writes_failed"] >= 1  # the partition and the resets really failed writes
        assert result.figures["rewritten"] == result.figures["writes_failed"]
        assert (result.figures["half_written"], result.figures["missing_after_rewrite"]) == (0, 0)
    if scenario_id == "CH-S3-FAULTS" and mutant is not None:
        assert result.figures["failed_reported_pass"] >= 1


def test_a_workload_that_crashes_under_a_toxic_still_removes_it(toxiproxy: ToxiproxyApi) -> None:
    history = History(ManualClock())
    driver = local_parity_driver(f"t-net-crash-{uuid.uuid4().hex[:8]}", 3, None, history)
    real_ingest = driver.ingest
    seen: list[list[str]] = []

    def ingest(envelope: Any, process: str = "client-1") -> str | None:
        if envelope["event_id"] == "partition-1-0":  # sent while the latency toxic is on the bus link
            seen.append([t.name for t in toxiproxy.toxics("kafka")])
            raise RuntimeError("the client process died")
        return real_ingest(envelope, process)

    driver.ingest = ingest  # type: ignore[method-assign]
    try:
        result = run_scenario(_packaged("CH-BROKER-PARTITION"), 3, driver)
        assert toxiproxy.toxics("kafka") == []  # removed by the runner, before the driver's own reset
    finally:
        driver.close()
    assert seen == [["spine_latency_bus_downstream"]]
    assert result.verdict.status is Status.FAIL
    workload = next(p for p in result.parts if p.check_id == "CH-BROKER-PARTITION/workload")
    assert "RuntimeError: the client process died" in workload.reason
    assert _rollbacks(history) == ["slow-acks"]
    assert [(e.fault, e.action, e.ok) for e in result.timeline] == [("slow-acks", "inject", True),
                                                                    ("slow-acks", "rollback", True)]


def test_through_the_packaged_suite_on_local_parity_the_s3_scenario_runs_and_records_its_rollbacks(
        toxiproxy: ToxiproxyApi, pytester: pytest.Pytester) -> None:
    # (--spine-mutant is a reference-only session option; the mutants are measured through the engine above.)
    result = pytester.runpytest_subprocess("--spine-env=local_parity", "-k", "test_scenario",
                                           "--spine-scenario=CH-S3-FAULTS", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    bundle = next((pytester.path / "reports" / "evidence" / "runs").iterdir())
    timeline = json.loads((bundle / "scenarios" / "CH-S3-FAULTS-seed=3" / "timeline.json").read_text())
    assert timeline["rolled_back"] is True
    assert [e["action"] for e in timeline["events"]] == ["inject", "rollback"] * 4
    verdicts = {v["id"]: v["status"] for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["CH-S3-FAULTS"] == "PASS"
    assert verdicts["CH-S3-FAULTS-seed=3/rollback"] == "PASS"
    assert verdicts["CH-S3-FAULTS-seed=3/steady-state-after"] == "PASS"
    figures = json.loads((bundle / "scenarios" / "CH-S3-FAULTS-seed=3" / "result.json").read_text())["figures"]
    assert figures["writes_failed"] >= 1 and figures["half_written"] == 0
    assert toxiproxy.toxics("s3") == []
