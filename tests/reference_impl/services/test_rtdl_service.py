"""RTDL core as a process on the real stack, and CH-CONSUMER-CRASH-BEFORE-COMMIT with a real SIGKILL: the
consumer is stopped at a named place in its code (the pause knob), killed there, restarted, and must lose
nothing and write nothing twice. The mutant ack_before_write fails the same test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import load_registry
from pytest_spine.stack.consumers import history, start_consumer, stop_consumer, wait_paused
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.processes import kill, wait_until

if TYPE_CHECKING:
    from conftest import StackRun

pytestmark = pytest.mark.services

RTDL_GROUP = "RTDL_CORE_CONSUMER_GROUP_ID"
RTDL_TOPIC_KEYS = ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                   "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")
FLOWS = 12


@pytest.mark.parametrize("service", ["rtdl", "decision_lane"])
@pytest.mark.parametrize("required", ["", "platform_other"])
def test_a_consumer_without_its_run_scope_refuses_to_start(local_stack: SessionStack, tmp_path: Path,
                                                           service: str, required: str) -> None:
    registry = load_registry(local_stack.state.registry_path)
    with pytest.raises(EnvironmentFault) as caught:
        start_consumer(service, local_stack.state, registry, platform_run_id="platform_x", base_dir=tmp_path,
                       required_platform_run_id=required)
    message = str(caught.value)
    assert "exited before its ready file" in message
    expected = "REQUIRED_PLATFORM_RUN_ID is None" if required == "" else \
        "REQUIRED_PLATFORM_RUN_ID is 'platform_other'"
    assert f"{expected} but the run is 'platform_x'" in message
    assert not (tmp_path / f"{service}.ready.json").exists()


def test_rtdl_service_consumes_writes_once_and_stops_on_sigterm(stack_run: StackRun, tmp_path: Path) -> None:
    admitted = stack_run.send_flows(FLOWS, tmp_path / "gate")
    rtdl = start_consumer("rtdl", stack_run.stack.state, stack_run.registry, platform_run_id=stack_run.run_id,
                          base_dir=tmp_path / "rtdl")
    try:
        wait_until(lambda: stack_run.caught_up(RTDL_GROUP, stack_run.topics(*RTDL_TOPIC_KEYS)), record=rtdl.process,
                   what="the RTDL group committed every record", timeout_s=60.0)
        assert stop_consumer(rtdl) is True  # SIGTERM: a clean stop
    finally:
        stop_consumer(rtdl)
    assert "Traceback" not in Path(rtdl.process.log_path).read_text()
    inputs = stack_run.archive("rtdl_core/decision_input/")
    assert sorted(name.removesuffix(".json") for name in inputs) == sorted(admitted)
    assert {doc["value"]["degraded"] for doc in inputs.values()} == {False}  # each flow's context was joined
    assert len(stack_run.archive("rtdl_core/context_flow_anchor_fraud/")) == FLOWS
    puts = [op["value"] for op in history(rtdl.history_path) if op["f"] == "archive_put"]
    assert len(puts) == 4 * FLOWS and all(p["written"] and p["same"] for p in puts)


@pytest.mark.parametrize("mutant", [None, "ack_before_write"])
def test_rtdl_sigkilled_between_its_durable_write_and_its_commit_loses_nothing_and_writes_once(
        stack_run: StackRun, tmp_path: Path, mutant: str | None) -> None:
    """CH-CONSUMER-CRASH-BEFORE-COMMIT on local_parity with a real SIGKILL.

    The process stops just before the durable write of its 2nd decision input: the correct consumer has
    written the 1st and committed nothing of that partition batch; ack_before_write has already committed
    past the record it has not written. Killed there and restarted, the correct one re-writes
    idempotently and loses nothing; the mutant loses the record it committed."""
    admitted = stack_run.send_flows(FLOWS, tmp_path / "gate")
    mutations = [mutant] if mutant else []
    state, registry, run_id = stack_run.stack.state, stack_run.registry, stack_run.run_id
    traffic = registry.topic("FP_BUS_TRAFFIC_FRAUD_V1").name
    first = start_consumer("rtdl", state, registry, platform_run_id=run_id, base_dir=tmp_path / "rtdl",
                           mutations=mutations, label="first",
                           pause={"point": "rtdl.before_state_write", "match": {"kind": "decision_input"},
                                  "at_hit": 2})
    try:
        paused = wait_paused(first)["context"]
        at_kill = stack_run.offsets(RTDL_GROUP, [traffic])[0][traffic]
        written_before = stack_run.archive("rtdl_core/decision_input/")
        assert kill(first.process) is True  # the crash: no shutdown hook, no commit
    finally:
        stop_consumer(first)
    assert paused["topic"] == traffic
    partition = int(paused["partition"])
    assert f"{paused['key']}.json" not in written_before
    written_uncommitted = [name for name, doc in written_before.items()
                           if doc["origin"][1] == partition and doc["origin"][2] >= at_kill.get(partition, 0)]
    committed_past_unwritten = at_kill.get(partition, 0) > int(paused["offset"])
    # Where the kill landed: the correct consumer had a durable write it had not committed; the mutant had
    # committed past a record it had not written.
    assert (len(written_uncommitted), committed_past_unwritten) == ((1, False) if mutant is None else (0, True))

    second = start_consumer("rtdl", state, registry, platform_run_id=run_id, base_dir=tmp_path / "rtdl",
                            mutations=mutations, label="second")
    try:
        wait_until(lambda: stack_run.caught_up(RTDL_GROUP, stack_run.topics(*RTDL_TOPIC_KEYS)),
                   record=second.process, what="the restarted RTDL group committed every record", timeout_s=60.0)
    finally:
        stop_consumer(second)
    committed, ends = stack_run.offsets(RTDL_GROUP, stack_run.topics(*RTDL_TOPIC_KEYS))
    assert committed == ends  # offsets committed afterwards, on every partition
    inputs = stack_run.archive("rtdl_core/decision_input/")
    lost = sorted(set(admitted) - {name.removesuffix(".json") for name in inputs})
    puts = [op["value"] for op in history(first.history_path) if op["f"] == "archive_put"]
    written = [(p["kind"], p["key"]) for p in puts if p["written"]]
    assert len(written) == len(set(written))  # write-once: no output was written twice
    assert all(p["same"] for p in puts)  # a redelivered record re-wrote exactly what was stored
    rewrites = {(p["kind"], p["key"]) for p in puts if not p["written"]}
    if mutant is None:
        assert lost == []
        # The batch the kill interrupted was redelivered and re-written idempotently, its written record included.
        assert {("decision_input", name.removesuffix(".json")) for name in written_uncommitted} <= rewrites
    else:
        assert lost == [paused["key"]]  # committed before it was written: gone after the crash
    no_loss = lost == []
    assert no_loss is (mutant is None), lost
