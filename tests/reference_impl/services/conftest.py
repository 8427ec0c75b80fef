from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.stack.fixture import SessionStack, services_stack_dir, session_stack

CONTEXT_CLASSES = ("context_arrival_events", "context_arrival_entities", "context_flow_anchor_fraud")


@pytest.fixture(scope="session")
def local_stack(pytestconfig: pytest.Config) -> Iterator[SessionStack]:
    """A running native stack (Kafka, S3 server, Toxiproxy): reused when already up, else started here."""
    directory = services_stack_dir(pytestconfig.rootpath)
    with session_stack("native", stack_dir=directory, services=("kafka", "s3", "toxiproxy")) as stack:
        yield stack


class StackRun:
    """One run's traffic and observations over the real stack, read over the direct endpoints."""

    def __init__(self, stack: SessionStack, registry: HandlesRegistry) -> None:
        from reference_impl.adapters.kafka_bus import KafkaBus

        self.stack = stack
        self.registry = registry
        self.run_id = f"platform_test_{uuid.uuid4().hex[:8]}"
        self.bus = KafkaBus(stack.endpoint("kafka.bootstrap"), timeout_s=10.0)

    def send_flows(self, flows: int, base_dir: Path) -> list[str]:
        """Every flow's three context events and its traffic event through the gate process; returns the
        admitted traffic event ids (the gate is stopped again: the consumers read what it published)."""
        from pytest_spine.stack.gate import start_gate, stop_gate
        from reference_impl.services.ig_client import HttpIngestClient

        key = uuid.uuid4().hex
        gate = start_gate(self.stack.state, self.registry, platform_run_id=self.run_id, api_key=key,
                          base_dir=base_dir)
        client = HttpIngestClient(gate.base_url, ingest_path=gate.ingest_path, timeout_s=10.0)
        admitted = []
        try:
            for number in range(flows):
                flow = f"crash-flow-{number}"
                for index, cls in enumerate(CONTEXT_CLASSES):
                    outcome = client.send({gate.auth_header: key}, self.envelope(f"{flow}-ctx{index}", cls, flow))
                    assert outcome.outcome == "ADMIT", outcome
                if client.send({gate.auth_header: key},
                               self.envelope(f"{flow}-tx", "traffic_fraud", flow)).outcome == "ADMIT":
                    admitted.append(f"{flow}-tx")
        finally:
            client.close()
            stop_gate(gate)
        return admitted

    def envelope(self, event_id: str, event_class: str, flow: str) -> dict[str, Any]:
        return {"platform_run_id": self.run_id, "event_class": event_class, "event_id": event_id,
                "ts_utc": "2026-01-01T00:00:00.000000Z",
                "payload": {"flow_id": flow, "amount_minor": 1_000 + len(event_id)}}

    def topics(self, *keys: str) -> list[str]:
        return [self.registry.topic(key).name for key in keys]

    def offsets(self, group_key: str, names: list[str]) -> tuple[dict[str, dict[int, int]], dict[str, dict[int, int]]]:
        """(committed, end offsets) of the registry's group ``group_key`` over ``names``."""
        group = self.registry.resolve(group_key)
        return ({t: dict(self.bus.committed(group, t)) for t in names},
                {t: dict(self.bus.end_offsets(t)) for t in names})

    def caught_up(self, group_key: str, names: list[str]) -> bool:
        committed, ends = self.offsets(group_key, names)
        return all(committed[t].get(p, 0) == end for t in names for p, end in ends[t].items())

    def archive(self, folder: str) -> dict[str, Any]:
        """The run's archive objects under ``folder`` (name -> document)."""
        return self.objects("S3_ARCHIVE_BUCKET", "S3_ARCHIVE_PREFIX_PATTERN", folder)

    def evidence(self) -> dict[str, Any]:
        """The run's objects under its S3 evidence prefix (relative path -> document)."""
        return self.objects("S3_EVIDENCE_BUCKET", "S3_EVIDENCE_PREFIX_PATTERN", "")

    def objects(self, bucket_key: str, prefix_key: str, folder: str) -> dict[str, Any]:
        from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
        from reference_impl.adapters.s3_store import S3ObjectStore

        store = S3ObjectStore(endpoint_url=self.stack.endpoint("s3.endpoint_url"), timeout_s=10.0,
                              client_kwargs={"aws_access_key_id": LOCAL_ACCESS_KEY,
                                             "aws_secret_access_key": LOCAL_SECRET_KEY})
        bucket = self.registry.bucket(bucket_key)
        prefix = self.registry.prefix(prefix_key, platform_run_id=self.run_id) + folder
        return {key[len(prefix):]: json.loads(store.get(bucket, key)) for key in store.list(bucket, prefix)}


@pytest.fixture
def stack_run(local_stack: SessionStack) -> Iterator[StackRun]:
    """A fresh run id on freshly reset topics and consumer groups (a run starts as clean as in-memory)."""
    from pytest_spine.stack.kafka import reset_topics

    registry = load_registry(local_stack.state.registry_path)
    reset_topics(local_stack.endpoint("kafka.bootstrap"), {t.name: t.partitions for t in registry.topics.values()},
                 list(registry.section("consumer_groups").values()))
    run = StackRun(local_stack, registry)
    try:
        yield run
    finally:
        run.bus.close()
