from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import load_registry
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.gate import gate_stats, start_gate, stop_gate
from pytest_spine.stack.processes import is_running
from reference_impl.services.ig_client import HttpIngestClient

pytestmark = pytest.mark.services


def _envelope(run_id: str, event_id: str, amount: int = 1) -> dict[str, object]:
    return {"platform_run_id": run_id, "event_class": "traffic_fraud", "event_id": event_id,
            "ts_utc": "2026-01-01T00:00:00.000000Z", "payload": {"flow_id": f"flow-{event_id}", "amount": amount}}


def test_gate_service_enforces_the_key_dedupes_publishes_and_records(local_stack: SessionStack,
                                                                    tmp_path: Path) -> None:
    registry = load_registry(local_stack.state.registry_path)
    run_id = f"platform_test_{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex
    gate = start_gate(local_stack.state, registry, platform_run_id=run_id, api_key=key, base_dir=tmp_path,
                      port=None)
    client = HttpIngestClient(gate.base_url, ingest_path=gate.ingest_path, timeout_s=10.0)
    try:
        assert client.health(gate.health_path) == (200, {"status": "ok", "platform_run_id": run_id,
                                                         "task_id": "ig-1"})
        assert client.send({}, _envelope(run_id, "e1")).status_code == 401
        assert client.send({gate.auth_header: "wrong"}, _envelope(run_id, "e1")).status_code == 403
        assert client.send({gate.auth_header: key}, _envelope("platform_other", "e1")).status_code == 409
        first = client.send({gate.auth_header: key}, _envelope(run_id, "e1"))
        assert (first.status_code, first.outcome, first.receipt_seq) == (200, "ADMIT", 1)
        assert first.partition is not None and first.offset is not None
        again = client.send({gate.auth_header: key}, _envelope(run_id, "e1"))
        assert (again.status_code, again.outcome) == (200, "DUPLICATE")
        changed = client.send({gate.auth_header: key}, _envelope(run_id, "e1", amount=2))
        assert changed.outcome == "ANOMALY"
        assert gate_stats(gate) == {"attempts": 3, "published": 1, "by_outcome": {"ADMIT": 1, "DUPLICATE": 1,
                                    "ANOMALY": 1}, "rejected": {"401": 1, "403": 1, "409": 1}, "receipts": 3,
                                    "local_files": False}
        receipts = receipt_objects(local_stack, registry, run_id)  # one write-once object per receipt
        assert [(r["receipt_seq"], r["outcome"], r["event_id"]) for r in receipts] == [
            (1, "ADMIT", "e1"), (2, "DUPLICATE", "e1"), (3, "ANOMALY", "e1")]
        assert receipts[2]["payload_key"] and all(r["platform_run_id"] == run_id for r in receipts)
    finally:
        client.close()
        stop_gate(gate)
    assert not is_running(gate.process)
    ops = [json.loads(line) for line in Path(gate.history_path).read_text().splitlines()]
    publishes = [op for op in ops if op["f"] == "publish" and op["type"] == "ok"]
    assert [(op["process"], op["value"]["event_id"], op["value"]["topic"]) for op in publishes] == [
        ("ig", "e1", "fp.bus.traffic.fraud.v1")]
    assert api_key_absent(Path(gate.config_path), key)
    assert api_key_absent(Path(gate.history_path), key)


def receipt_objects(stack: SessionStack, registry: Any, run_id: str) -> list[dict[str, Any]]:
    from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
    from reference_impl.adapters.s3_store import S3ObjectStore
    from reference_impl.handles import DEFAULT_HANDLES

    credentials = {"aws_access_key_id": LOCAL_ACCESS_KEY, "aws_secret_access_key": LOCAL_SECRET_KEY}
    store = S3ObjectStore(endpoint_url=stack.endpoint("s3.endpoint_url"), timeout_s=10.0, client_kwargs=credentials)
    prefix = DEFAULT_HANDLES.prefix("S3_RECEIPTS_PREFIX_PATTERN", platform_run_id=run_id)
    bucket = registry.bucket("S3_EVIDENCE_BUCKET")
    return [json.loads(store.get(bucket, key)) for key in store.list(bucket, prefix)]


def api_key_absent(path: Path, key: str) -> bool:
    return key not in path.read_text()


def test_gate_without_the_run_scope_refuses_to_start(local_stack: SessionStack, tmp_path: Path) -> None:
    registry = load_registry(local_stack.state.registry_path)
    with pytest.raises(EnvironmentFault) as caught:
        start_gate(local_stack.state, registry, platform_run_id="platform_x", api_key="k", base_dir=tmp_path,
                   required_platform_run_id="")
    message = str(caught.value)
    assert "exited before GET /v1/ops/health answers 200" in message
    assert "REQUIRED_PLATFORM_RUN_ID is None but the run is 'platform_x'" in message


@pytest.mark.parametrize("mutant", [None, "restart_forgets_admissions"])
def test_a_sigkilled_gate_restarts_without_publishing_an_admitted_event_twice(local_stack: SessionStack,
                                                                             tmp_path: Path,
                                                                             mutant: str | None) -> None:
    from pytest_spine.stack.processes import kill
    from reference_impl.adapters.kafka_bus import KafkaBus

    registry = load_registry(local_stack.state.registry_path)
    run_id = f"platform_test_{uuid.uuid4().hex[:8]}"
    key = uuid.uuid4().hex
    first = start_gate(local_stack.state, registry, platform_run_id=run_id, api_key=key, base_dir=tmp_path / "a")
    client = HttpIngestClient(first.base_url, ingest_path=first.ingest_path, timeout_s=10.0)
    try:
        assert [client.send({first.auth_header: key}, _envelope(run_id, f"e{i}")).outcome for i in range(3)] == \
            ["ADMIT"] * 3
        assert kill(first.process) is True  # the crash: no shutdown hook runs
        assert client.send({first.auth_header: key}, _envelope(run_id, "e3")).status_code == 503
    finally:
        client.close()
    second = start_gate(local_stack.state, registry, platform_run_id=run_id, api_key=key, base_dir=tmp_path / "b",
                        mutations=[mutant] if mutant else [])
    client = HttpIngestClient(second.base_url, ingest_path=second.ingest_path, timeout_s=10.0)
    try:
        # The sender resends everything it sent: the admitted ones are duplicates, the new one is admitted.
        outcomes = [client.send({second.auth_header: key}, _envelope(run_id, f"e{i}")).outcome for i in range(4)]
    finally:
        client.close()
        stop_gate(second)
    if mutant is None:
        assert outcomes == ["DUPLICATE", "DUPLICATE", "DUPLICATE", "ADMIT"]
        assert "recovered 3 admissions" in Path(second.process.log_path).read_text()
    else:
        assert outcomes == ["ADMIT"] * 4  # the forgetful gate admits (and publishes) e0..e2 again
    reader = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    try:
        mine = [dict(r.value)["event_id"] for r in reader.poll(f"reader-{run_id}", "fp.bus.traffic.fraud.v1", 10_000)
                if dict(r.value).get("platform_run_id") == run_id]
    finally:
        reader.close()
    exactly_once = sorted(mine) == ["e0", "e1", "e2", "e3"]
    assert exactly_once is (mutant is None), sorted(mine)
