from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_spine.clock import ManualClock, utc_iso
from pytest_spine.evidence.contract import PHASE_FILES
from pytest_spine.history import History
from reference_impl.errors import PhaseOrderError, UnknownDrill
from reference_impl.platform import PHASE_IDS, SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig

SCHEMAS = Path(__file__).resolve().parents[2] / "pytest_spine" / "data" / "schemas" / "evidence"


def platform(seed: int = 3, traffic: int = 200, run_id: str = "run-1") -> tuple[SpinePlatform, History, DictEvidence]:
    clock = ManualClock()
    history = History(clock)
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig(run_id, seed=seed, traffic_events=traffic, api_key="k" * 12),
                                evidence=evidence, recorder=history, clock=clock)
    return p, history, evidence


def stamped(doc: dict[str, Any]) -> dict[str, Any]:
    """What the harness's writer adds to every document before validating it."""
    return {**doc, "platform_run_id": "run-1", "written_at_utc": utc_iso(0), "schema_version": 1}


def test_all_phases_complete_and_every_document_validates_against_its_schema() -> None:
    p, _, evidence = platform()
    started = time.perf_counter()
    reports = p.run_until("P12")
    elapsed = time.perf_counter() - started
    print(f"all phases P(-1)..P12, 200 traffic events: {elapsed:.3f} s")  # a figure, not an assertion
    assert [(r.phase_id, r.completed, r.error) for r in reports] == [(ph, True, None) for ph in PHASE_IDS]
    for relpath, doc in evidence.documents.items():
        schema = json.loads((SCHEMAS / (relpath.removesuffix(".json").replace("/", "__") + ".schema.json"))
                            .read_text())
        errors = sorted(e.message for e in Draft202012Validator(schema).iter_errors(stamped(doc)))
        assert errors == [], f"{relpath}: {errors}"


def test_each_phase_writes_exactly_the_files_of_the_evidence_contract() -> None:
    p, _, _ = platform(traffic=30)
    written = {r.phase_id: tuple(r.evidence_paths) for r in p.run_until("P12")}
    assert {ph: set(files) for ph, files in written.items()} == {ph: set(f) for ph, f in PHASE_FILES.items()}


def test_schemas_reject_a_document_missing_a_contract_field() -> None:
    p, _, evidence = platform(traffic=30)
    p.run_until("P7")
    schema = json.loads((SCHEMAS / "ingest__receipt_summary.schema.json").read_text())
    doc = stamped(dict(evidence.documents["ingest/receipt_summary.json"]))
    del doc["counts_by_outcome"]
    messages = [e.message for e in Draft202012Validator(schema).iter_errors(doc)]
    assert messages == ["'counts_by_outcome' is a required property"]


def test_same_seed_gives_the_same_evidence() -> None:
    a, _, ev_a = platform(seed=11, traffic=40)
    b, _, ev_b = platform(seed=11, traffic=40)
    a.run_until("P12")
    b.run_until("P12")
    assert ev_a.documents == ev_b.documents
    c, _, ev_c = platform(seed=12, traffic=40)
    c.run_until("P12")
    assert ev_c.documents["ingest/kafka_offsets_snapshot.json"] != ev_a.documents["ingest/kafka_offsets_snapshot.json"]


def test_phases_run_only_in_canonical_order_and_once() -> None:
    p, _, _ = platform(traffic=30)
    with pytest.raises(PhaseOrderError, match=r"phase P1 needs P0 completed first .* P0 is not run"):
        p.run_phase("P1")
    p.run_until("P0")
    with pytest.raises(PhaseOrderError, match="phase P0 already completed for run 'run-1'"):
        p.run_phase("P0")
    with pytest.raises(PhaseOrderError, match="unknown phase id 'P13'"):
        p.run_phase("P13")


def test_a_failed_phase_reports_why_and_blocks_the_next() -> None:
    p, _, _ = platform(traffic=30)
    p.run_until("P4")
    p.store.delete(p.config.handles.buckets["S3_ORACLE_BUCKET"],
                   p.rt.handles.prefix("ORACLE_CHECKER_RESULT_PATTERN", platform_run_id="run-1"))
    report = p.run_phase("P5")
    assert report.completed is False and report.error is not None and "oracle gates not met" in report.error
    with pytest.raises(PhaseOrderError, match="P5 is FAILED"):
        p.run_phase("P6")


def test_run_scope_mismatch_at_p2_fails_closed() -> None:
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, api_key="k" * 12,
                                               required_platform_run_id="run-0"))
    report = p.run_until("P2")[-1]
    assert report.phase_id == "P2" and report.completed is False
    assert report.facts["run_scope_enforced"] is False and p.ig is None


def test_the_api_key_never_reaches_evidence_or_history() -> None:
    secret = "s3cr3t-api-key-value"
    clock = ManualClock()
    history = History(clock)
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, api_key=secret),
                                evidence=evidence, recorder=history, clock=clock)
    p.run_until("P12")
    for drill in ("unauthenticated_ingest", "authenticated_ingest", "dedupe_other_run"):
        p.drill(drill)
    assert secret not in json.dumps(evidence.documents, default=str)
    assert secret not in json.dumps([op.to_json() for op in history], default=str)


def test_drills_on_the_correct_platform() -> None:
    p, _, _ = platform(traffic=30)
    p.run_until("P12")
    assert p.drill("unauthenticated_ingest") == {"status_code": 401}
    assert p.drill("wrong_key_ingest") == {"status_code": 403}
    assert p.drill("authenticated_ingest") == {"status_code": 200, "outcome": "ADMIT"}
    assert p.drill("run_scope_mismatch") == {"rejected": True, "status_code": 409, "components": {
        "ig": True, "rtdl_core": True, "decision_lane": True, "case_labels": True}}
    assert p.drill("dedupe_other_run") == {"first_outcome": "ADMIT", "second_outcome": "ADMIT"}
    assert p.drill("duplicate_replay") == {"replayed": 5, "outcomes": {"DUPLICATE": 5}, "published_delta": 0,
                                           "actions_delta": 0}
    assert p.drill("payload_change") == {"outcome": "ANOMALY", "original_intact": True}
    assert p.drill("receipt_rewrite") == {"rejected": True}
    assert p.drill("stream_without_ready") == {"refused": True}
    assert p.drill("sr_conflicting_lease") == {"refused": True}
    assert p.drill("running_daemons") == {"running": []}
    assert p.drill("derive_scenario_run_id")["scenario_run_id"] == p.scenario_run_id
    with pytest.raises(UnknownDrill, match=r"unknown drill 'nope'; known drills: .*audit_rewrite"):
        p.drill("nope")


def test_drills_do_not_move_the_runs_offsets_or_receipts() -> None:
    p, _history, _ = platform(traffic=30)
    p.run_until("P7")
    assert p.ig is not None
    ends = {t: dict(p.bus.end_offsets(t)) for t in p.ingest_topics()}
    receipts = len(p.ig.receipts)
    for drill in ("authenticated_ingest", "dedupe_other_run", "duplicate_replay", "payload_change",
                  "nonretryable_stop"):
        p.drill(drill)
    assert {t: dict(p.bus.end_offsets(t)) for t in p.ingest_topics()} == ends
    assert len(p.ig.receipts) == receipts
    assert p.run_until("P12")[-1].completed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"platform_run_id": ""}, "platform_run_id must be a non-empty string, given: ''"),
    ({"traffic_events": 2}, "traffic_events must be an integer >= 4"),
    ({"replayed_slice": -1}, "replayed_slice must be between 0 and traffic_events"),
    ({"mutations": frozenset({"nope"})}, "unknown mutant 'nope'; known mutants: "),
])
def test_bad_config_is_refused_naming_the_field(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"platform_run_id": "run-1", "api_key": "k" * 12}
    with pytest.raises((ValueError, KeyError), match=re.escape(message)):
        PlatformConfig(**{**base, **kwargs})
