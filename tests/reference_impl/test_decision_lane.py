from __future__ import annotations

from collections import Counter

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.decision_lane import action_key_for, decide
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig


def platform(*mutations: str) -> tuple[SpinePlatform, History, DictEvidence]:
    clock = ManualClock()
    history = History(clock)
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=60, mutations=frozenset(mutations),
                                               api_key="k" * 12), evidence=evidence, recorder=history, clock=clock)
    return p, history, evidence


def test_decisions_are_deterministic_and_degraded_inputs_go_to_review() -> None:
    item = {"event_id": "e1", "amount_minor": 100, "degraded": False}
    assert decide(item, 3) == decide(dict(item), 3)
    assert decide({**item, "degraded": True}, 3) == "REVIEW"
    assert decide({**item, "amount_minor": 499_000}, 3) == "DECLINE"
    assert action_key_for("d", "open_case") == action_key_for("d", "open_case") != action_key_for("d", "block_card")


def test_redelivery_never_executes_an_action_twice() -> None:
    p, history, evidence = platform()
    p.run_until("P9")
    executions = Counter(op.value["action_key"] for op in history if op.f == "action_execute")
    assert max(executions.values()) == 1
    summary = evidence.documents["decision_lane/action_summary.json"]
    assert (summary["max_executions_per_key"], summary["duplicates_prevented"]) == (1, 5)
    assert summary["outcomes"] == evidence.documents["decision_lane/decision_summary.json"]["decisions"] == 60


def test_double_action_mutant_executes_again_on_redelivery() -> None:
    p, _history, evidence = platform("double_action")
    p.run_until("P9")
    assert evidence.documents["decision_lane/action_summary.json"]["max_executions_per_key"] == 2
    assert p.drill("duplicate_replay")["actions_delta"] == 5


def test_audit_is_append_only_and_degrades_are_carried_into_decisions() -> None:
    p, _, evidence = platform()
    p.run_until("P9")
    audit = evidence.documents["decision_lane/audit_summary.json"]
    assert audit["records"] == 60 and audit["append_only"] == {"verified": True, "rewrites_accepted": 0}
    assert len(audit["slice"]) == 10
    assert p.drill("audit_rewrite") == {"rejected": True}
    lane = evidence.documents["decision_lane/decision_summary.json"]["degrade_counts"]
    rtdl = evidence.documents["rtdl_core/caught_up.json"]["degrade_counts"]
    assert lane == rtdl and sum(lane.values()) > 0


def test_audit_overwrite_and_hidden_degrade_mutants_show_in_the_summaries() -> None:
    p, _, evidence = platform("audit_overwrite")
    p.run_until("P9")
    assert evidence.documents["decision_lane/audit_summary.json"]["append_only"]["verified"] is False
    assert p.drill("audit_rewrite") == {"rejected": False}
    q, _, evidence2 = platform("decision_hides_degrade")
    q.run_until("P9")
    assert evidence2.documents["decision_lane/decision_summary.json"]["degrade_counts"] == {}


def test_case_timelines_and_labels_are_idempotent_and_append_only() -> None:
    p, history, evidence = platform()
    p.run_until("P10")
    case = evidence.documents["case_labels/case_summary.json"]
    labels = evidence.documents["case_labels/label_summary.json"]
    assert case["timeline_events_appended"] == case["triggers_processed"] - case["duplicates_ignored"] > 0
    assert case["duplicates_ignored"] == labels["duplicates_ignored"] == 5
    keys = Counter(op.value["idempotency_key"] for op in history if op.f == "case_append")
    assert max(keys.values()) == 1
    assert p.drill("timeline_rewrite") == {"rejected": True}


def test_case_mutants_double_append_and_overwrite() -> None:
    p, _, evidence = platform("case_double_append")
    p.run_until("P10")
    assert evidence.documents["case_labels/case_summary.json"]["max_appends_per_idempotency_key"] == 2
    q, _, evidence2 = platform("timeline_overwrite")
    q.run_until("P10")
    assert evidence2.documents["case_labels/case_summary.json"]["append_only"]["verified"] is False
