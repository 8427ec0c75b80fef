"""Every mutant breaks something a check can see: for each one, the document field or probe result that
shows the breakage, asserted broken under the mutant and intact on the correct platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.canonical import digest_of
from reference_impl.errors import UnknownMutant
from reference_impl.mutants import MUTANTS, resolve
from reference_impl.platform import SpinePlatform
from reference_impl.ports import PublishTimeout
from reference_impl.runtime import DictEvidence, PlatformConfig


class Run:
    def __init__(self, mutant: str | None) -> None:
        clock = ManualClock()
        self.history = History(clock)
        self.evidence = DictEvidence()
        mutations = frozenset({mutant}) if mutant else frozenset()
        self.p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=5, traffic_events=30, mutations=mutations,
                                                        api_key="k" * 12),
                                         evidence=self.evidence, recorder=self.history, clock=clock)

    def until(self, phase: str) -> Run:
        self.p.run_until(phase)
        return self

    def doc(self, relpath: str) -> dict[str, Any]:
        return self.evidence.documents.get(relpath, {})

    def failed(self, phase: str) -> bool:
        report = self.p.reports.get(phase)
        return report is not None and not report.completed


def _ambiguity_hidden(r: Run) -> bool:
    r.until("P6")
    assert r.p.ig is not None
    r.p.faults.arm("bus.produce.after_append", PublishTimeout("no ack"), times=1)
    resp = r.p.ig.send(r.p.auth_headers(), r.p.smoke_envelope())
    return resp.outcome == "ADMIT"


def _evidence_failure_hidden(r: Run) -> bool:
    from reference_impl.evidence_objects import EvidenceObjects, EvidenceWriteFailed

    writer = EvidenceObjects(r.until("P2").p.rt)
    r.p.faults.arm("store.put.before", ConnectionError("store unreachable"), times=1)
    try:
        writer.put("chaos/doc-1.json", {"n": 1})
    except EvidenceWriteFailed:
        return False
    return writer.status()["status"] == "PASS"


def _case_appends_doubled(r: Run) -> bool:
    return r.until("P12").doc("case_labels/case_summary.json")["max_appends_per_idempotency_key"] > 1


# mutant -> how the breakage shows (True = broken)
SHOWS: dict[str, Callable[[Run], bool]] = {
    "dedupe_ignores_run_id": lambda r: r.until("P7").p.drill("dedupe_other_run")["second_outcome"] != "ADMIT",
    "payload_overwrite": lambda r: r.until("P7").p.drill("payload_change")["original_intact"] is False,
    "stream_without_ready": lambda r: r.until("P5").p.drill("stream_without_ready")["refused"] is False,
    "stream_raw_oracle": lambda r: r.until("P6").doc("wsp/wsp_start.json")["source"] == "raw",
    "ack_before_write": lambda r: r.until("P8").doc("rtdl_core/caught_up.json")["commit_violations"] > 0,
    "silent_degrade": lambda r: r.until("P8").doc("rtdl_core/caught_up.json")["degrade_counts"] == {},
    "reporter_without_lock": lambda r: r.until("P11").p.drill("second_reporter")["acquired"] is True,
    "double_action": lambda r: r.until("P9").doc("decision_lane/action_summary.json")["max_executions_per_key"] > 1,
    "mutable_receipts": lambda r: r.until("P7").doc("ingest/receipt_summary.json")["append_only"]["verified"] is False,
    "missing_replay_anchors": lambda r: len({a["topic"] for a in r.until("P11").doc("replay_anchors.json")["anchors"]})
    < len(r.p.config.handles.topics),
    "entrypoint_missing": lambda r: r.until("P(-1)").failed("P(-1)"),
    "topic_missing": lambda r: r.until("P0").failed("P0"),
    "unstable_config_digest": lambda r: r.until("P1").doc("run.json")["config_digest"]
    != digest_of(r.doc("run.json")["config"]),
    "run_json_incomplete": lambda r: "image" not in r.until("P1").doc("run.json")["config"],
    "pack_not_running": lambda r: r.until("P2").failed("P2"),
    "scope_not_enforced": lambda r: r.until("P2").p.drill("run_scope_mismatch")["rejected"] is False,
    "duplicate_consumer": lambda r: max(r.until("P2").doc("operate/daemons_ready.json")["consumer_groups"]
                                        .values()) > 1,
    "checker_always_pass": lambda r: r.until("P3").p.drill("per_output_rerun")["failure_detected"] is False,
    "receipt_not_written": lambda r: r.until("P3").failed("P3"),
    "unsorted_stream_view": lambda r: not r.until("P3").doc("oracle/stream_sort_summary.json")["outputs"]
    ["traffic_fraud"]["ordered"],
    "rerun_resorts_everything": lambda r: r.until("P3").p.drill("per_output_rerun")["others_untouched"] is False,
    "auth_bypass": lambda r: r.until("P4").doc("ingest/ig_ready.json")["auth_check"]["pass"] is False,
    "publish_smoke_broken": lambda r: r.until("P4").doc("ingest/ig_ready.json")["kafka_smoke"]["read_back"] is False,
    "ig_s3_denied": lambda r: r.until("P4").doc("ingest/ig_ready.json")["s3_smoke"]["ok"] is False,
    "local_file_persistence": lambda r: r.until("P4").doc("ingest/ig_ready.json")["persistence"]["local_files"],
    "ready_without_pointers": lambda r: r.until("P5").doc("sr/ready_publish_receipt.json")["pointers"] == {},
    "sr_ignores_lease": lambda r: r.until("P5").p.drill("sr_conflicting_lease")["refused"] is False,
    "nonretryable_skipped": lambda r: r.until("P6").p.drill("nonretryable_stop")["stopped"] is False,
    "wsp_direct_publish": lambda r: any(op.f == "publish" and op.process != "ig" for op in r.until("P6").history),
    "admit_without_publish": lambda r: any(sum(p["end_offset"] for p in parts) == 0 for parts in r.until("P7")
                                           .doc("ingest/kafka_offsets_snapshot.json")["topics"].values()),
    "sr_ignores_gates": lambda r: r.until("P5").doc("sr/sr_pass.json")["gates"]["checker_pass"] is False,
    "scenario_id_from_run": lambda r: r.until("P5").doc("sr/sr_pass.json")["scenario_run_id"]
    != r.p.drill("derive_scenario_run_id")["scenario_run_id"],
    "ready_wrong_run_id": lambda r: [op.value["platform_run_id"] for op in r.until("P5").history
                                     if op.f == "ready_publish"] != ["run-1"],
    "malformed_rejected_not_quarantined": lambda r: r.until("P6").failed("P6"),
    "receipts_unbalanced": lambda r: (lambda s: s["receipts"]["count"] != s["total_attempts"])(
        r.until("P7").doc("ingest/receipt_summary.json")),
    "publish_ack_lost": lambda r: r.until("P7").doc("ingest/receipt_summary.json")["counts_by_outcome"]
    ["PUBLISH_AMBIGUOUS"] > 0,
    "hide_publish_ambiguity": _ambiguity_hidden,
    "quarantine_drops_payload": lambda r: (lambda q: q["payloads_persisted"] != q["count"])(
        r.until("P7").doc("ingest/quarantine_summary.json")),
    "hardcoded_topic": lambda r: r.until("P11").doc("obs/environment_conformance.json")["checks"]
    ["topics_from_registry_only"] is False,
    "consumer_not_caught_up": lambda r: r.until("P8").doc("rtdl_core/caught_up.json")["max_lag"] > 0,
    "origin_offsets_incomplete": lambda r: len(r.until("P8").doc("rtdl_core/offsets_snapshot.json")["topics"]
                                               ["fp.bus.traffic.fraud.v1"]) < 3,
    "rtdl_write_failures": lambda r: r.until("P8").doc("rtdl_core/caught_up.json")["write_failures"] > 0,
    "decision_lane_stalled": lambda r: r.until("P9").doc("decision_lane/decision_summary.json")["decisions"] == 0,
    "audit_overwrite": lambda r: r.until("P9").p.drill("audit_rewrite")["rejected"] is False,
    "decision_hides_degrade": lambda r: r.until("P9").doc("decision_lane/decision_summary.json")["degrade_counts"]
    != r.doc("rtdl_core/caught_up.json")["degrade_counts"],
    "case_double_append": _case_appends_doubled,
    "timeline_overwrite": lambda r: r.until("P10").p.drill("timeline_rewrite")["rejected"] is False,
    "case_writes_dropped": lambda r: r.until("P10").doc("case_labels/case_summary.json")
    ["timeline_events_appended"] == 0,
    "closure_marker_missing": lambda r: "run_completed.json" not in r.until("P11").evidence.documents,
    "closure_incomplete": lambda r: "reconciliation.json" not in r.until("P11").evidence.documents,
    "daemon_left_running": lambda r: r.until("P12").p.drill("running_daemons")["running"] != [],
    "evidence_put_unchecked": _evidence_failure_hidden,
    "evidence_purged_on_teardown": lambda r: r.until("P12").doc("teardown/teardown_proof.json")
    ["evidence_preserved"] is False,
}


def test_the_table_covers_every_mutant() -> None:
    assert sorted(SHOWS) == sorted(MUTANTS)


@pytest.mark.parametrize("mutant", sorted(SHOWS))
def test_mutant_breakage_shows_and_the_correct_platform_is_intact(mutant: str) -> None:
    assert SHOWS[mutant](Run(mutant)) is True, f"{mutant} did not show its breakage"
    assert SHOWS[mutant](Run(None)) is False, f"the correct platform looks broken by the {mutant} observation"


def test_every_mutant_is_described_and_names_what_it_breaks() -> None:
    for mutant in MUTANTS.values():
        assert mutant.description and mutant.component and mutant.breaks, mutant.name


def test_unknown_mutant_names_the_known_ones() -> None:
    assert resolve({"double_action"}) == frozenset({"double_action"})
    with pytest.raises(UnknownMutant, match=r"unknown mutant 'nope'; known mutants: .*double_action"):
        resolve({"nope"})
