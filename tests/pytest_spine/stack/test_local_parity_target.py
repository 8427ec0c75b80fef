"""The local_parity target over the real stack. (Kept beside the stack tests: it shares their session stack.)"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.errors import TargetUnavailable
from pytest_spine.handles import default_registry_path
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.targets.base import PHASE_IDS, RunSpec
from pytest_spine.targets.local_parity import LocalParityTarget
from pytest_spine.targets.reference import ReferenceTarget
from reference_impl.runtime import DictEvidence


class ListRecorder:
    def __init__(self) -> None:
        self.ops: list[tuple[str, str, str, dict[str, Any]]] = []

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self.ops.append((process, type, f, value))


def _run(target: Any, mutant: str | None = None) -> tuple[dict[str, Any], ListRecorder, DictEvidence]:
    evidence, recorder = DictEvidence(), ListRecorder()
    run = RunSpec(platform_run_id=f"platform_20260101T000000Z_{uuid.uuid4().hex[:8]}", seed=7, mutant=mutant)
    target.start(run, evidence, recorder)
    outcomes: dict[str, Any] = {}
    try:
        for phase in PHASE_IDS:
            outcomes[phase] = target.run_phase(phase)
            if not outcomes[phase].completed:
                break
    finally:
        target.stop()
    return outcomes, recorder, evidence


def test_without_a_running_stack_the_target_is_unavailable_with_the_fix(tmp_path: Path) -> None:
    target = LocalParityTarget(stack_dir=tmp_path)
    with pytest.raises(TargetUnavailable, match=r"no running local stack in .*; start it with 'spine stack up "
                                                r"--dir .*' \(or set SPINE_STACK_DIR\)"):
        target.start(RunSpec(platform_run_id="platform_x", seed=0), DictEvidence(), ListRecorder())
    target.stop()  # safe after a failed start


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.parametrize("mutant", [None, "consumer_not_caught_up"])
def test_local_parity_runs_the_same_phase_machine_as_reference(local_stack: SessionStack,
                                                              mutant: str | None) -> None:
    real, real_ops, real_evidence = _run(LocalParityTarget(stack_dir=local_stack.state.stack_dir), mutant)
    ref, ref_ops, ref_evidence = _run(ReferenceTarget(), mutant)
    assert [(p, o.completed) for p, o in real.items()] == [(p, o.completed) for p, o in ref.items()]
    assert all(o.completed for o in real.values()) and list(real) == list(PHASE_IDS)
    assert sorted(real_evidence.documents) == sorted(ref_evidence.documents)
    # The same seed gives the same work on Kafka as in memory, and the P8 gate facts agree: the mutant's lag
    # shows on the real broker too. (Under the mutant, which partitions the half-budget drains first depends on
    # how the broker hands out fetches, so the per-partition maximum may differ by a record or two.)
    assert real["P8"].facts["processed"] == ref["P8"].facts["processed"]
    if mutant is None:
        assert real["P8"].facts == ref["P8"].facts and real["P8"].facts["max_lag"] == 0
    else:
        assert real["P8"].facts["max_lag"] > 0 and ref["P8"].facts["max_lag"] > 0
    published = [op for op in real_ops.ops if op[2] == "publish" and op[1] == "ok"]
    assert len(published) == len([op for op in ref_ops.ops if op[2] == "publish" and op[1] == "ok"])
    assert {op[3]["topic"] for op in published} <= {
        "fp.bus.traffic.fraud.v1", "fp.bus.context.arrival_events.v1", "fp.bus.context.arrival_entities.v1",
        "fp.bus.context.flow_anchor.fraud.v1"}


@pytest.mark.services
def test_wrong_partition_count_in_the_registry_is_named_and_fails_p0(local_stack: SessionStack,
                                                                     tmp_path: Path) -> None:
    document = yaml.safe_load(default_registry_path().read_text())
    document["topics"]["FP_BUS_AUDIT_V1"]["partitions"] = 2
    handles = tmp_path / "handles.yaml"
    handles.write_text(yaml.safe_dump(document))
    target = LocalParityTarget(stack_dir=local_stack.state.stack_dir, handles=handles, reset_topics=False)
    evidence, recorder = DictEvidence(), ListRecorder()
    target.start(RunSpec(platform_run_id=f"platform_20260101T000000Z_{uuid.uuid4().hex[:8]}", seed=1), evidence,
                 recorder)
    try:
        assert target.preflight_problems == [
            "topic handle FP_BUS_AUDIT_V1: topic 'fp.bus.audit.v1' has 1 partitions, the registry pins 2"]
        assert target.describe()["preflight_problems"] == target.preflight_problems
        assert target.run_phase("P(-1)").completed
        p0 = target.run_phase("P0")
        assert p0.completed is False
        assert p0.error == "ValueError: topic 'fp.bus.audit.v1' exists with 1 partitions, asked 2"
    finally:
        target.stop()


@pytest.mark.services
def test_network_faults_are_rolled_back_by_stop_even_after_a_failure(local_stack: SessionStack) -> None:
    target = LocalParityTarget(stack_dir=local_stack.state.stack_dir)
    target.start(RunSpec(platform_run_id=f"platform_20260101T000000Z_{uuid.uuid4().hex[:8]}", seed=1),
                 DictEvidence(), ListRecorder())
    assert target.toxiproxy is not None
    api = target.toxiproxy
    with pytest.raises(RuntimeError, match="the scenario failed"):
        try:
            api.add_toxic("kafka", "latency", name="slow_broker", latency=500)
            api.set_enabled("s3", False)
            raise RuntimeError("the scenario failed")
        finally:
            target.stop()
    assert api.toxics("kafka") == []
    assert api.proxies()["s3"]["enabled"] is True
    substrate = LocalParityTarget(stack_dir=local_stack.state.stack_dir)
    substrate.start(RunSpec(platform_run_id=f"platform_20260101T000000Z_{uuid.uuid4().hex[:8]}", seed=1),
                    DictEvidence(), ListRecorder())
    try:
        assert substrate.probe("substrate")["problems"] == []
        assert substrate.describe()["bus"] == "KafkaBus"
        assert substrate.not_applicable()["P0-forbidden_infra_absent"].startswith("the local stack runs on 127.0.0.1")
    finally:
        substrate.stop()
