"""RTDL core as a process on the real stack, and CH-CONSUMER-CRASH-BEFORE-COMMIT with a real SIGKILL: the
consumer is stopped at a named place in its code (the pause knob), killed there, restarted, and must lose
nothing and write nothing twice. The mutant ack_before_write fails the same test."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.stack.consumers import history, start_consumer, stop_consumer, wait_paused
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.gate import start_gate, stop_gate
from pytest_spine.stack.processes import kill, wait_until
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from reference_impl.adapters.kafka_bus import KafkaBus
from reference_impl.adapters.s3_store import S3ObjectStore
from reference_impl.services.ig_client import HttpIngestClient

pytestmark = pytest.mark.services

CONTEXT_CLASSES = ("context_arrival_events", "context_arrival_entities", "context_flow_anchor_fraud")
RTDL_TOPIC_KEYS = ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                   "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")
FLOWS = 12


def envelope(run_id: str, event_id: str, event_class: str, flow: str) -> dict[str, Any]:
    return {"platform_run_id": run_id, "event_class": event_class, "event_id": event_id,
            "ts_utc": "2026-01-01T00:00:00.000000Z",
            "payload": {"flow_id": flow, "amount_minor": 1_000 + len(event_id)}}


def send_flows(local_stack: SessionStack, registry: HandlesRegistry, run_id: str, base_dir: Path) -> list[str]:
    """Every flow's three context events and its traffic event through the gate process; returns the
    admitted traffic event ids (the gate is stopped again: the consumers read what it published)."""
    key = uuid.uuid4().hex
    gate = start_gate(local_stack.state, registry, platform_run_id=run_id, api_key=key, base_dir=base_dir)
    client = HttpIngestClient(gate.base_url, ingest_path=gate.ingest_path, timeout_s=10.0)
    admitted = []
    try:
        for number in range(FLOWS):
            flow = f"crash-flow-{number}"
            for index, cls in enumerate(CONTEXT_CLASSES):
                assert client.send({gate.auth_header: key}, envelope(run_id, f"{flow}-ctx{index}", cls,
                                                                      flow)).outcome == "ADMIT"
            if client.send({gate.auth_header: key}, envelope(run_id, f"{flow}-tx", "traffic_fraud",
                                                             flow)).outcome == "ADMIT":
                admitted.append(f"{flow}-tx")
    finally:
        client.close()
        stop_gate(gate)
    return admitted


def topics(registry: HandlesRegistry, keys: tuple[str, ...]) -> list[str]:
    return [registry.topic(key).name for key in keys]


def committed_and_ends(bus: KafkaBus, group: str, names: list[str]) -> tuple[dict[str, dict[int, int]],
                                                                               dict[str, dict[int, int]]]:
    return ({t: dict(bus.committed(group, t)) for t in names}, {t: dict(bus.end_offsets(t)) for t in names})


def caught_up(bus: KafkaBus, group: str, names: list[str]) -> bool:
    committed, ends = committed_and_ends(bus, group, names)
    return all(committed[t].get(p, 0) == end for t in names for p, end in ends[t].items())


def archive(local_stack: SessionStack, registry: HandlesRegistry, run_id: str, folder: str) -> dict[str, Any]:
    store = S3ObjectStore(endpoint_url=local_stack.endpoint("s3.endpoint_url"), timeout_s=10.0,
                          client_kwargs={"aws_access_key_id": LOCAL_ACCESS_KEY,
                                         "aws_secret_access_key": LOCAL_SECRET_KEY})
    bucket = registry.bucket("S3_ARCHIVE_BUCKET")
    prefix = registry.prefix("S3_ARCHIVE_PREFIX_PATTERN", platform_run_id=run_id) + folder
    return {key[len(prefix):]: json.loads(store.get(bucket, key)) for key in store.list(bucket, prefix)}


@pytest.fixture
def registry(local_stack: SessionStack) -> HandlesRegistry:
    """The stack's registry, on freshly reset topics and consumer groups (a run starts as clean as in-memory)."""
    from pytest_spine.stack.kafka import reset_topics

    loaded = load_registry(local_stack.state.registry_path)
    reset_topics(local_stack.endpoint("kafka.bootstrap"), {t.name: t.partitions for t in loaded.topics.values()},
                 list(loaded.section("consumer_groups").values()))
    return loaded


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


def test_rtdl_service_consumes_writes_once_and_stops_on_sigterm(local_stack: SessionStack, registry: HandlesRegistry,
                                                               tmp_path: Path) -> None:
    run_id = f"platform_test_{uuid.uuid4().hex[:8]}"
    admitted = send_flows(local_stack, registry, run_id, tmp_path / "gate")
    rtdl = start_consumer("rtdl", local_stack.state, registry, platform_run_id=run_id, base_dir=tmp_path / "rtdl")
    reader = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    group = registry.resolve("RTDL_CORE_CONSUMER_GROUP_ID")
    try:
        wait_until(lambda: caught_up(reader, group, topics(registry, RTDL_TOPIC_KEYS)), record=rtdl.process,
                   what="the RTDL group committed every record", timeout_s=60.0)
        assert stop_consumer(rtdl) is True  # SIGTERM: a clean stop
    finally:
        stop_consumer(rtdl)
        reader.close()
    assert "Traceback" not in Path(rtdl.process.log_path).read_text()
    inputs = archive(local_stack, registry, run_id, "rtdl_core/decision_input/")
    assert sorted(name.removesuffix(".json") for name in inputs) == sorted(admitted)
    assert {doc["value"]["degraded"] for doc in inputs.values()} == {False}  # each flow's context was joined
    assert len(archive(local_stack, registry, run_id, "rtdl_core/context_flow_anchor_fraud/")) == FLOWS
    puts = [op["value"] for op in history(rtdl.history_path) if op["f"] == "archive_put"]
    assert len(puts) == 4 * FLOWS and all(p["written"] and p["same"] for p in puts)


@pytest.mark.parametrize("mutant", [None, "ack_before_write"])
def test_rtdl_sigkilled_between_its_durable_write_and_its_commit_loses_nothing_and_writes_once(
        local_stack: SessionStack, registry: HandlesRegistry, tmp_path: Path, mutant: str | None) -> None:
    """CH-CONSUMER-CRASH-BEFORE-COMMIT on local_parity with a real SIGKILL.

    The process stops just before the durable write of its 2nd decision input: the correct consumer has
    written the 1st and committed nothing of that partition batch; ack_before_write has already committed
    past the record it has not written. Killed there and restarted, the correct one re-writes
    idempotently and loses nothing; the mutant loses the record it committed."""
    run_id = f"platform_test_{uuid.uuid4().hex[:8]}"
    admitted = send_flows(local_stack, registry, run_id, tmp_path / "gate")
    mutations = [mutant] if mutant else []
    group = registry.resolve("RTDL_CORE_CONSUMER_GROUP_ID")
    traffic = registry.topic("FP_BUS_TRAFFIC_FRAUD_V1").name
    reader = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    try:
        first = start_consumer("rtdl", local_stack.state, registry, platform_run_id=run_id,
                               base_dir=tmp_path / "rtdl", mutations=mutations, label="first",
                               pause={"point": "rtdl.before_state_write", "match": {"kind": "decision_input"},
                                      "at_hit": 2})
        try:
            paused = wait_paused(first)["context"]
            at_kill = dict(reader.committed(group, traffic))
            written_before = archive(local_stack, registry, run_id, "rtdl_core/decision_input/")
            assert kill(first.process) is True  # the crash: no shutdown hook, no commit
        finally:
            stop_consumer(first)
        assert paused["topic"] == traffic
        partition = int(paused["partition"])
        unwritten = f"{paused['key']}.json" not in written_before
        assert unwritten
        written_uncommitted = [name for name, doc in written_before.items()
                               if doc["origin"][1] == partition and doc["origin"][2] >= at_kill.get(partition, 0)]
        committed_past_unwritten = at_kill.get(partition, 0) > int(paused["offset"])
        # Where the kill landed: the correct consumer had a durable write it had not committed; the mutant had
        # committed past a record it had not written.
        assert (len(written_uncommitted) == 1, committed_past_unwritten) == \
            ((True, False) if mutant is None else (False, True))

        second = start_consumer("rtdl", local_stack.state, registry, platform_run_id=run_id,
                                base_dir=tmp_path / "rtdl", mutations=mutations, label="second")
        try:
            wait_until(lambda: caught_up(reader, group, topics(registry, RTDL_TOPIC_KEYS)), record=second.process,
                       what="the restarted RTDL group committed every record", timeout_s=60.0)
        finally:
            stop_consumer(second)
        committed, ends = committed_and_ends(reader, group, topics(registry, RTDL_TOPIC_KEYS))
    finally:
        reader.close()
    assert committed == ends  # offsets committed afterwards, on every partition
    inputs = archive(local_stack, registry, run_id, "rtdl_core/decision_input/")
    lost = sorted(set(admitted) - {name.removesuffix(".json") for name in inputs})
    puts = [op["value"] for op in history(first.history_path) if op["f"] == "archive_put"]
    written = [(p["kind"], p["key"]) for p in puts if p["written"]]
    assert len(written) == len(set(written))  # write-once: no output was written twice
    assert all(p["same"] for p in puts)  # a redelivered record re-wrote exactly what was stored
    rewrites = [(p["kind"], p["key"]) for p in puts if not p["written"]]
    if mutant is None:
        assert lost == []
        # The batch the kill interrupted was redelivered and re-written idempotently, the 1st record included.
        assert [p for p in written_uncommitted if ("decision_input", p.removesuffix(".json")) not in rewrites] == []
    else:
        assert lost == [paused["key"]]  # committed before it was written: gone after the crash
    no_loss = lost == []
    assert no_loss is (mutant is None), lost
