from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.errors import ScopeMismatch
from reference_impl.faultpoints import FaultPoints
from reference_impl.handles import DEFAULT_HANDLES
from reference_impl.ig import AdmissionStore, IngestGate, payload_hash
from reference_impl.memory_bus import InMemoryBus
from reference_impl.memory_store import InMemoryObjectStore
from reference_impl.ports import PublishTimeout
from reference_impl.runtime import DictEvidence, PlatformConfig, Runtime

KEY = "test-key-123456"
HEADERS = {"X-IG-Api-Key": KEY}


def runtime(*mutations: str, run_id: str = "run-1", bus: InMemoryBus | None = None,
            store: InMemoryObjectStore | None = None) -> tuple[Runtime, History]:
    clock = ManualClock()
    faults = FaultPoints()
    history = History(clock)
    bus = bus or InMemoryBus(faults)
    store = store or InMemoryObjectStore(faults)
    for topic in DEFAULT_HANDLES.topics.values():
        if topic.name not in bus.topics():
            bus.create_topic(topic.name, topic.partitions)
    for bucket in DEFAULT_HANDLES.buckets.values():
        store.create_bucket(bucket)
    config = PlatformConfig(run_id, seed=3, mutations=frozenset(mutations), api_key=KEY)
    return Runtime(config, bus=bus, store=store, evidence=DictEvidence(), recorder=history, clock=clock,
                   faults=bus.faults), history


def gate(*mutations: str, run_id: str = "run-1", admission: AdmissionStore | None = None,
         **kw: Any) -> IngestGate:
    rt, _ = runtime(*mutations, run_id=run_id, **kw)
    return IngestGate(rt, required_platform_run_id=run_id, api_key=KEY, admission=admission)


def envelope(event_id: str = "e1", run_id: str = "run-1", **payload: Any) -> dict[str, Any]:
    return {"platform_run_id": run_id, "event_class": "traffic_fraud", "event_id": event_id,
            "ts_utc": "2026-01-01T00:00:00.000000Z", "payload": {"flow_id": "f1", "amount_minor": 5, **payload}}


def test_writer_boundary_missing_key_401_wrong_key_403_right_key_200() -> None:
    ig = gate()
    assert ig.send({}, envelope()).status_code == 401
    assert ig.send({"X-IG-Api-Key": "nope"}, envelope()).status_code == 403
    ok = ig.send(HEADERS, envelope())
    assert (ok.status_code, ok.outcome, ok.receipt_seq) == (200, "ADMIT", 1)
    assert ig.stats.rejected == {401: 1, 403: 1}


def test_auth_bypass_mutant_admits_without_a_key() -> None:
    assert gate("auth_bypass").send({}, envelope()).outcome == "ADMIT"


def test_run_scope_foreign_envelope_is_409_and_a_mismatched_daemon_refuses_to_start() -> None:
    ig = gate()
    resp = ig.send(HEADERS, envelope(run_id="run-2"))
    assert resp.status_code == 409 and "fail closed" in str(resp.error)
    rt, history = runtime()
    with pytest.raises(ScopeMismatch, match="REQUIRED_PLATFORM_RUN_ID is 'run-2' but the run is 'run-1'"):
        IngestGate(rt, required_platform_run_id="run-2", api_key=KEY)
    with pytest.raises(ScopeMismatch):
        IngestGate(rt, required_platform_run_id=None, api_key=KEY)
    fails = [op.value for op in history if op.f == "scope_check" and op.type == "fail"]
    assert [(v["required"], v["observed"]) for v in fails] == [("run-2", "run-1"), (None, "run-1")]


def test_dedupe_is_exactly_the_run_class_id_tuple_on_a_shared_admission_store() -> None:
    shared = AdmissionStore()
    ig1 = gate(admission=shared)
    ig2 = gate(run_id="run-2", admission=shared)
    assert ig1.send(HEADERS, envelope()).outcome == "ADMIT"
    assert ig1.send(HEADERS, envelope()).outcome == "DUPLICATE"
    assert ig2.send(HEADERS, envelope(run_id="run-2")).outcome == "ADMIT"  # another run: a new event
    other_class = {**envelope(), "event_class": "context_arrival_events"}
    assert ig1.send(HEADERS, other_class).outcome == "ADMIT"  # another class: a new event
    assert ig1.stats.published == 2


def test_dedupe_ignores_run_id_mutant_swallows_the_other_runs_event() -> None:
    shared = AdmissionStore()
    gate("dedupe_ignores_run_id", admission=shared).send(HEADERS, envelope())
    second = gate("dedupe_ignores_run_id", run_id="run-2", admission=shared).send(HEADERS, envelope(run_id="run-2"))
    assert second.outcome == "DUPLICATE"


def test_changed_payload_is_an_anomaly_kept_in_quarantine_and_never_overwrites() -> None:
    ig = gate()
    original = envelope()
    ig.send(HEADERS, original)
    changed = envelope(amount_minor=6)
    resp = ig.send(HEADERS, changed)
    assert resp.outcome == "ANOMALY"
    assert ig.payload_of(("run-1", "traffic_fraud", "e1")) == payload_hash(original)
    item = ig.stats.quarantine_items[0]
    kept = json.loads(ig.rt.store.get(ig.quarantine_bucket, item["payload_key"]))
    assert kept["envelope"]["payload"]["amount_minor"] == 6 and kept["reason"] == "payload_mismatch"
    assert ig.stats.published == 1


def test_payload_overwrite_mutant_admits_and_replaces_the_original() -> None:
    ig = gate("payload_overwrite")
    ig.send(HEADERS, envelope())
    assert ig.send(HEADERS, envelope(amount_minor=6)).outcome == "ADMIT"
    assert ig.payload_of(("run-1", "traffic_fraud", "e1")) == payload_hash(envelope(amount_minor=6))


def test_invalid_envelope_is_quarantined_with_its_payload() -> None:
    ig = gate()
    broken = envelope()
    broken.pop("ts_utc")
    resp = ig.send(HEADERS, broken)
    assert (resp.status_code, resp.outcome) == (200, "QUARANTINE")
    item = ig.stats.quarantine_items[0]
    assert item["reason"] == "ts_utc missing or not a non-empty string"
    assert ig.rt.store.exists(ig.quarantine_bucket, item["payload_key"])


def test_quarantine_drops_payload_mutant_keeps_no_payload() -> None:
    ig = gate("quarantine_drops_payload")
    broken = envelope()
    broken.pop("ts_utc")
    ig.send(HEADERS, broken)
    assert ig.stats.quarantine_items[0]["payload_key"] is None


def test_publish_timeout_is_ambiguous_and_a_retry_resolves_it() -> None:
    ig = gate()
    ig.rt.faults.arm("bus.produce.after_append", PublishTimeout("no ack"))
    first = ig.send(HEADERS, envelope())
    assert (first.status_code, first.outcome) == (202, "PUBLISH_AMBIGUOUS")
    retry = ig.send(HEADERS, envelope())
    assert retry.outcome == "ADMIT"
    assert [e["outcome"] for e in ig.receipts.entries()] == ["PUBLISH_AMBIGUOUS", "ADMIT"]


def test_hide_publish_ambiguity_mutant_answers_admit_on_a_timeout() -> None:
    ig = gate("hide_publish_ambiguity")
    ig.rt.faults.arm("bus.produce.after_append", PublishTimeout("no ack"))
    assert ig.send(HEADERS, envelope()).outcome == "ADMIT"


def test_receipts_are_append_only_and_mutable_receipts_mutant_rewrites() -> None:
    ig = gate()
    ig.send(HEADERS, envelope())
    ig.send(HEADERS, envelope())
    assert ig.try_rewrite_receipt(1) is True
    assert ig.receipts.status().verified is True
    bad = gate("mutable_receipts")
    bad.send(HEADERS, envelope())
    bad.send(HEADERS, envelope())
    assert bad.receipts.status().to_json() == {"verified": False, "rewrites_accepted": 1, "rewrites_refused": 0}
    assert bad.try_rewrite_receipt(1) is False


def test_receipts_record_the_history_vocabulary() -> None:
    ig = gate()
    ig.send(HEADERS, envelope())
    history = ig.rt.recorder
    assert isinstance(history, History)
    ops = [(op.process, op.type, op.f) for op in history if op.f in ("publish", "receipt_append")]
    assert ops == [("ig", "invoke", "publish"), ("ig", "ok", "publish"), ("ig", "ok", "receipt_append")]
    receipt = next(op.value for op in history if op.f == "receipt_append")
    assert receipt["payload_hash"] == payload_hash(envelope()) and receipt["seq"] == 1


def test_a_bus_failure_is_a_retryable_503_without_a_receipt_and_the_retry_admits() -> None:
    ig = gate()
    ig.rt.faults.arm("bus.produce.before_append", ConnectionError("broker down"))
    failed = ig.send(HEADERS, envelope())
    assert (failed.status_code, failed.outcome, len(ig.receipts)) == (503, None, 0)
    assert ig.send(HEADERS, envelope()).outcome == "ADMIT"
    assert (ig.stats.attempts, len(ig.receipts)) == (1, 1)


def test_a_quarantine_store_failure_is_a_retryable_503_and_keeps_nothing_half_written() -> None:
    ig = gate()
    broken = envelope()
    broken.pop("ts_utc")
    ig.rt.faults.arm("store.put.before", OSError("s3 503"))
    assert ig.send(HEADERS, broken).status_code == 503
    assert (ig.stats.attempts, len(ig.receipts)) == (0, 0)
    assert ig.send(HEADERS, broken).outcome == "QUARANTINE"
