from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reference_impl.handles import CONTEXT_OUTPUTS, TRAFFIC_OUTPUT
from reference_impl.oracle import generate_world, is_ordered
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig


def platform(*mutations: str, seed: int = 3, traffic: int = 40) -> tuple[SpinePlatform, DictEvidence]:
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=seed, traffic_events=traffic,
                                               mutations=frozenset(mutations), api_key="k" * 12),
                                evidence=evidence)
    return p, evidence


def test_world_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    a, b, c = generate_world(7, 50), generate_world(7, 50), generate_world(8, 50)
    assert a == b
    assert a.outputs[TRAFFIC_OUTPUT] != c.outputs[TRAFFIC_OUTPUT]
    assert len(a.outputs[TRAFFIC_OUTPUT]) == 50


def test_world_lacks_some_context_so_rtdl_must_degrade() -> None:
    world = generate_world(3, 40)
    flows = {r["flow_id"] for r in world.outputs[TRAFFIC_OUTPUT]}
    for output_id in CONTEXT_OUTPUTS:
        have = {r["flow_id"] for r in world.outputs[output_id]}
        assert have | set(world.missing_context[output_id]) == flows
    assert world.missing_context["flow_anchor_fraud"] and world.missing_context["arrival_entities"]


def test_raw_inputs_are_unsorted_and_stream_view_is_sorted_by_the_pinned_key() -> None:
    p, evidence = platform()
    assert [r.completed for r in p.run_until("P3")] == [True] * 5
    oracle = p.oracle
    assert oracle is not None
    raw, _, _ = oracle.read_raw(TRAFFIC_OUTPUT)
    assert not is_ordered(raw, "ts_utc")
    summary = evidence.documents["oracle/stream_sort_summary.json"]["outputs"]
    assert {o: (s["sort_key"], s["ordered"], s["rows_in"] == s["rows_out"]) for o, s in summary.items()} == {
        "traffic_fraud": ("ts_utc", True, True), "arrival_events": ("ts_utc", True, True),
        "arrival_entities": ("ts_utc", True, True), "flow_anchor_fraud": ("flow_id", True, True)}
    assert evidence.documents["oracle/checker_pass.json"]["status"] == "PASS"


def test_checker_fails_closed_per_output() -> None:
    p, _ = platform()
    p.run_until("P3")
    oracle = p.oracle
    assert oracle is not None
    p.store.delete(oracle.bucket, oracle.receipt_key("arrival_events"))
    result = oracle.checker()
    assert result["status"] == "FAIL"
    assert result["outputs"]["arrival_events"] == {"status": "FAIL", "input_present": True,
                                                   "stream_view_present": True, "manifest_present": True,
                                                   "receipt_present": False, "ordered": True}
    assert result["outputs"]["traffic_fraud"]["status"] == "PASS"


def test_per_output_rerun_touches_only_that_output() -> None:
    p, _ = platform()
    p.run_until("P3")
    oracle = p.oracle
    assert oracle is not None
    touched: list[str] = []

    def collect(ctx: Mapping[str, Any]) -> None:
        touched.append(str(ctx["key"]))

    p.faults.arm("store.put.before", collect, times=None)
    p.faults.arm("store.delete.before", collect, times=None)
    oracle.rerun_output("arrival_entities")
    p.faults.disarm()
    assert touched and all("arrival_entities" in key for key in touched)
    assert oracle.checker()["status"] == "PASS"


def test_rerun_resorts_everything_mutant_is_caught_by_the_drill() -> None:
    good, _ = platform()
    good.run_until("P3")
    assert good.drill("per_output_rerun") == {"output_id": "flow_anchor_fraud", "rerun_ok": True,
                                              "others_untouched": True, "checker_status": "PASS",
                                              "failure_detected": True}
    bad, _ = platform("rerun_resorts_everything")
    bad.run_until("P3")
    assert bad.drill("per_output_rerun")["others_untouched"] is False


def test_checker_always_pass_mutant_does_not_notice_a_lost_manifest() -> None:
    bad, _ = platform("checker_always_pass")
    bad.run_until("P3")
    assert bad.drill("per_output_rerun")["failure_detected"] is False


def test_seed_snapshot_counts_what_was_written() -> None:
    p, evidence = platform(traffic=30)
    p.run_until("P3")
    snapshot = evidence.documents["oracle/seed_snapshot.json"]["outputs"]
    assert snapshot[TRAFFIC_OUTPUT]["rows"] == 30 and snapshot[TRAFFIC_OUTPUT]["objects"] == 2
    assert snapshot["arrival_events"]["rows"] == 30  # arrival events are never missing
    assert snapshot["flow_anchor_fraud"]["rows"] < 30
