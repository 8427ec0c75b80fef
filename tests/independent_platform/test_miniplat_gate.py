"""miniplat's gate keeps the ingest contract over HTTP (docs/verifying-your-platform.md §3.1): 401/403 without
or with a wrong key, 409 for another run, 413 over the cap, ADMIT/DUPLICATE/QUARANTINE/ANOMALY with one
receipt object each, quarantine objects holding what was received; a restarted gate rebuilds its dedupe
table from the topic and never publishes a tuple twice."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.independent_platform.evidence_check import s3_client
from tests.independent_platform.launcher import PlatformHandle, make_platform

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformHandle]:
    from pytest_spine.stack.fixture import running_stack

    stack_dir = Path(os.environ.get("SPINE_STACK_DIR", ROOT / ".spine" / "stack"))
    if running_stack(stack_dir) is None:
        pytest.skip(f"no running local stack in {stack_dir}")
    handle = make_platform(stack_dir, tmp_path_factory.mktemp("miniplat-gate"), f"indie-gate-{uuid.uuid4().hex[:12]}")
    try:
        handle.start()
        yield handle
        handle.teardown()
    finally:
        handle.kill_all()
        left = handle.alive()
        handle.destroy()
        assert not left


def post(handle: PlatformHandle, body: Any, key: str | None = "own", raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-IG-Api-Key"] = handle.api_key if key == "own" else key
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{handle.base_url}/v1/ingest", data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def envelope(handle: PlatformHandle, event_id: str, amount: int = 100, run_id: str | None = None) -> dict[str, Any]:
    return {"platform_run_id": run_id or handle.run_id, "event_class": "traffic_fraud", "event_id": event_id,
            "ts_utc": "2026-01-01T00:00:00.000000Z", "payload": {"flow_id": f"f-{event_id}", "amount_minor": amount}}


def records_of(handle: PlatformHandle, event_id: str) -> list[tuple[int, int]]:
    from confluent_kafka import Consumer, TopicPartition

    topic = handle.config()["topics"]["FP_BUS_TRAFFIC_FRAUD_V1"]["name"]
    consumer = Consumer({"bootstrap.servers": handle.kafka_bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    found = []
    try:
        for p in range(3):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            seen = low
            deadline = time.monotonic() + 10
            while seen < high and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                seen = message.offset() + 1
                value = json.loads(message.value())
                if value.get("event_id") == event_id and value.get("platform_run_id") == handle.run_id:
                    found.append((p, message.offset()))
    finally:
        consumer.close()
    return found


def test_health_names_the_run(gate: PlatformHandle) -> None:
    with urllib.request.urlopen(f"{gate.base_url}/v1/ops/health", timeout=5) as answer:
        assert answer.status == 200
        assert json.loads(answer.read())["platform_run_id"] == gate.run_id


def test_refusals(gate: PlatformHandle) -> None:
    assert post(gate, envelope(gate, "r1"), key=None)[0] == 401
    assert post(gate, envelope(gate, "r1"), key="not-the-key")[0] == 403
    assert post(gate, envelope(gate, "r1", run_id="another-run"))[0] == 409
    big = envelope(gate, "r2")
    big["payload"]["blob"] = "x" * (64 * 1024)
    assert post(gate, big)[0] == 413
    assert records_of(gate, "r1") == [] and records_of(gate, "r2") == []


def test_outcomes_receipts_and_quarantine(gate: PlatformHandle) -> None:
    cfg = gate.config()
    status, first = post(gate, envelope(gate, "e1"))
    assert status == 200 and first["outcome"] == "ADMIT" and isinstance(first["offset"], int)
    assert post(gate, envelope(gate, "e1"))[1]["outcome"] == "DUPLICATE"
    anomaly = post(gate, envelope(gate, "e1", amount=999))[1]
    assert anomaly["outcome"] == "ANOMALY"
    unreadable = post(gate, None, raw=b"{not json")[1]
    assert unreadable["outcome"] == "QUARANTINE"
    assert records_of(gate, "e1") == [(first["partition"], first["offset"])]
    s3 = s3_client(gate.s3_endpoint_url)
    try:
        prefix = cfg["prefixes"]["receipts"].format(platform_run_id=gate.run_id)
        receipt = json.loads(s3.get_object(Bucket=cfg["buckets"]["evidence"],
                                           Key=f"{prefix}{anomaly['receipt_seq']:012d}.json")["Body"].read())
        assert receipt["outcome"] == "ANOMALY" and receipt["platform_run_id"] == gate.run_id
        held = json.loads(s3.get_object(Bucket=cfg["buckets"]["quarantine"], Key=receipt["payload_key"])["Body"].read())
        assert held["envelope"]["payload"]["amount_minor"] == 999
        q_receipt = json.loads(s3.get_object(Bucket=cfg["buckets"]["evidence"],
                                             Key=f"{prefix}{unreadable['receipt_seq']:012d}.json")["Body"].read())
        held = json.loads(s3.get_object(Bucket=cfg["buckets"]["quarantine"],
                                        Key=q_receipt["payload_key"])["Body"].read())
        assert held["envelope"] == "{not json"
    finally:
        s3.close()


def test_a_restarted_gate_never_publishes_twice(gate: PlatformHandle) -> None:
    status, first = post(gate, envelope(gate, "restart-1"))
    assert status == 200 and first["outcome"] == "ADMIT"
    pid = gate.pids()["gate"]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while "gate" in gate.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "gate" not in gate.alive()
    gate.start()
    assert gate.pids()["gate"] != pid
    again = post(gate, envelope(gate, "restart-1"))[1]
    assert again["outcome"] == "DUPLICATE" and again["receipt_seq"] > first["receipt_seq"]
    assert len(records_of(gate, "restart-1")) == 1
