from __future__ import annotations

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.errors import UnknownHandle
from reference_impl.handles import DEFAULT_HANDLES
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import PlatformConfig


def test_registry_holds_the_in_scope_topics_buckets_and_ig_header() -> None:
    assert set(DEFAULT_HANDLES.topics) == {
        "FP_BUS_CONTROL_V1", "FP_BUS_TRAFFIC_FRAUD_V1", "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1",
        "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1", "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_RTDL_V1",
        "FP_BUS_AUDIT_V1", "FP_BUS_CASE_TRIGGERS_V1", "FP_BUS_LABELS_EVENTS_V1"}
    assert DEFAULT_HANDLES.topic("FP_BUS_TRAFFIC_FRAUD_V1").name == "fp.bus.traffic.fraud.v1"
    assert set(DEFAULT_HANDLES.buckets) == {"S3_ORACLE_BUCKET", "S3_EVIDENCE_BUCKET", "S3_QUARANTINE_BUCKET",
                                            "S3_ARCHIVE_BUCKET"}
    assert DEFAULT_HANDLES.ig_auth_header_name == "X-IG-Api-Key"
    assert DEFAULT_HANDLES.required_platform_run_id_env_key == "REQUIRED_PLATFORM_RUN_ID"
    assert DEFAULT_HANDLES.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id="r1") == "evidence/runs/r1/"


def test_unknown_handles_name_the_known_ones_and_the_fix() -> None:
    with pytest.raises(UnknownHandle, match=r"topic handle 'FP_BUS_NOPE' is not in the handles registry; "
                                            r"known: \['FP_BUS_AUDIT_V1'"):
        DEFAULT_HANDLES.topic("FP_BUS_NOPE")
    with pytest.raises(UnknownHandle, match=r"add it to reference_impl/handles\.py"):
        DEFAULT_HANDLES.bucket("S3_NOPE")


def test_every_name_a_full_run_uses_is_in_the_registry_and_recorded() -> None:
    clock = ManualClock()
    history = History(clock)
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, api_key="k" * 12),
                                recorder=history, clock=clock)
    p.run_until("P12")
    used = {(op.value["kind"], op.value["name"]) for op in history if op.f == "handle_use"}
    known = DEFAULT_HANDLES.known_names()
    assert {name for _, name in used} <= known
    assert {kind for kind, _ in used} == {"topic", "bucket", "prefix", "consumer_group"}
    assert set(p.bus.topics()) == {t.name for t in DEFAULT_HANDLES.topics.values()}
    assert {t.name for t in DEFAULT_HANDLES.topics.values()} <= {name for kind, name in used if kind == "topic"}


def test_hardcoded_topic_mutant_uses_a_name_outside_the_registry() -> None:
    history = History(ManualClock())
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, api_key="k" * 12,
                                               mutations=frozenset({"hardcoded_topic"})), recorder=history)
    p.run_until("P4")
    names = {op.value["name"] for op in history if op.f == "handle_use"}
    assert names - DEFAULT_HANDLES.known_names() == {"fp.bus.ig.smoke"}
