"""The decision lane as a process on the real stack: a real SIGKILL between an action's write and the offset
commit must not execute any action twice after the restart (nor lose one). The mutants double_action and
lane_ack_before_write fail the same test."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_spine.stack.consumers import history, start_consumer, stop_consumer, wait_paused
from pytest_spine.stack.processes import kill, wait_until
from reference_impl.decision_lane import action_key_for

if TYPE_CHECKING:
    from conftest import StackRun

pytestmark = pytest.mark.services

RTDL_TOPIC_KEYS = ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                   "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")
LANE_GROUP = "DECISION_LANE_CONSUMER_GROUP_ID"
FLOWS = 12


def rtdl_inputs(stack_run: StackRun, base_dir: Path) -> list[str]:
    """Flows through the gate and the RTDL process until RTDL committed everything; the admitted traffic."""
    admitted = stack_run.send_flows(FLOWS, base_dir / "gate")
    rtdl = start_consumer("rtdl", stack_run.stack.state, stack_run.registry, platform_run_id=stack_run.run_id,
                          base_dir=base_dir / "rtdl")
    try:
        wait_until(lambda: stack_run.caught_up("RTDL_CORE_CONSUMER_GROUP_ID", stack_run.topics(*RTDL_TOPIC_KEYS)),
                   record=rtdl.process, what="the RTDL group committed every record", timeout_s=60.0)
    finally:
        stop_consumer(rtdl)
    return admitted


@pytest.mark.parametrize("mutant", [None, "double_action", "lane_ack_before_write"])
def test_decision_lane_sigkilled_between_action_write_and_commit_executes_each_action_once(
        stack_run: StackRun, tmp_path: Path, mutant: str | None) -> None:
    """The lane stops just before the action of its 2nd decision: the correct lane has executed the 1st
    action (a write-once claim) and committed nothing of the batch. Killed and restarted, the batch is
    redelivered and the claim stops the 1st action running again; double_action runs it twice;
    lane_ack_before_write committed past the 2nd decision before acting and never acts on it."""
    admitted = rtdl_inputs(stack_run, tmp_path)
    state, registry, run_id = stack_run.stack.state, stack_run.registry, stack_run.run_id
    rtdl_topic = registry.topic("FP_BUS_RTDL_V1").name
    mutations = [mutant] if mutant else []
    first = start_consumer("decision_lane", state, registry, platform_run_id=run_id, base_dir=tmp_path / "lane",
                           mutations=mutations, label="first",
                           pause={"point": "decision_lane.before_action", "at_hit": 2})
    try:
        paused = wait_paused(first)["context"]
        at_kill = stack_run.offsets(LANE_GROUP, [rtdl_topic])[0][rtdl_topic]
        decisions_before = stack_run.archive("decision_lane/decisions/")
        actions_before = stack_run.archive("decision_lane/actions/")
        assert kill(first.process) is True
    finally:
        stop_consumer(first)
    paused_origin = decisions_before[f"{paused['decision_id']}.json"]["origin"]
    assert f"{paused['action_key']}.json" not in actions_before
    acted_uncommitted = [a for a in actions_before.values()
                         if decisions_before[f"{a['decision_id']}.json"]["origin"][1] == paused_origin[1]
                         and decisions_before[f"{a['decision_id']}.json"]["origin"][2]
                         >= at_kill.get(paused_origin[1], 0)]
    # Where the kill landed: an executed action whose record was not committed (correct, double_action), or a
    # commit past a decision whose action never ran (lane_ack_before_write).
    assert len(acted_uncommitted) == (0 if mutant == "lane_ack_before_write" else 1)

    second = start_consumer("decision_lane", state, registry, platform_run_id=run_id, base_dir=tmp_path / "lane",
                            mutations=mutations, label="second")
    try:
        wait_until(lambda: stack_run.caught_up(LANE_GROUP, [rtdl_topic]), record=second.process,
                   what="the restarted decision lane committed every record", timeout_s=60.0)
    finally:
        stop_consumer(second)
    committed, ends = stack_run.offsets(LANE_GROUP, [rtdl_topic])
    assert committed == ends
    decisions = stack_run.archive("decision_lane/decisions/")
    assert sorted(d["event_id"] for d in decisions.values()) == sorted(admitted)  # one decision per event
    expected_keys = {action_key_for(d["decision_id"], d["action_type"]) for d in decisions.values()}
    actions = {doc["action_key"] for doc in stack_run.archive("decision_lane/actions/").values()}
    ops = history(first.history_path)
    executions = Counter(op["value"]["action_key"] for op in ops if op["f"] == "action_execute")
    prevented = [op["value"]["action_key"] for op in ops if op["f"] == "action_duplicate_prevented"]
    missing = sorted(expected_keys - set(executions))
    doubled = sorted(key for key, count in executions.items() if count > 1)
    if mutant is None:
        assert (missing, doubled) == ([], [])
        assert actions == expected_keys
        assert {a["action_key"] for a in acted_uncommitted} <= set(prevented)  # the redelivery was refused
    elif mutant == "double_action":
        assert (missing, doubled) == ([], [a["action_key"] for a in acted_uncommitted])
    else:
        assert (missing, doubled) == ([paused["action_key"]], [])
        assert paused["action_key"] not in actions
    exactly_once = (missing, doubled) == ([], [])
    assert exactly_once is (mutant is None)
