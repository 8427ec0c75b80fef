from __future__ import annotations

from typing import Any

from pytest_spine.history import History
from pytest_spine.verdicts import Status


def test_append_only_passes_on_increasing_appends_and_refused_rewrite(h: History, check: Any) -> None:
    for seq in (1, 2, 3):
        h.append("decision_lane", "ok", "audit_append", seq=seq, idempotency_key=f"k{seq}")
    h.append("drill", "fail", "audit_rewrite", seq=2)
    verdict = check("INV-APPEND-ONLY", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["appends"] == 3
    assert verdict.figures["rewrites_refused"] == 1


def test_append_only_fails_on_rewrite(h: History, check: Any) -> None:
    h.append("decision_lane", "ok", "label_append", seq=1)
    h.append("drill", "ok", "label_rewrite", seq=1)
    verdict = check("INV-APPEND-ONLY", h)
    assert verdict.status is Status.FAIL
    assert "label_rewrite" in verdict.reason
    assert verdict.counterexample[0]["f"] == "label_rewrite"


def test_append_only_fails_on_repeated_seq(h: History, check: Any) -> None:
    h.append("ig", "ok", "receipt_append", seq=1, platform_run_id="r1")
    h.append("ig", "ok", "receipt_append", seq=1, platform_run_id="r1")
    verdict = check("INV-APPEND-ONLY", h)
    assert verdict.status is Status.FAIL
    assert [op["index"] for op in verdict.counterexample] == [0, 1]


def test_append_only_unknown_rewrite_is_unknown_not_pass(h: History, check: Any) -> None:
    h.append("drill", "info", "case_rewrite", key="c1")
    assert check("INV-APPEND-ONLY", h).status is Status.UNKNOWN


def test_idempotent_actions(h: History, check: Any) -> None:
    h.append("decision_lane", "ok", "action_execute", action_key="a1", decision_id="d1")
    h.append("decision_lane", "ok", "action_execute", action_key="a2", decision_id="d2")
    assert check("INV-IDEMPOTENT-ACTIONS", h).status is Status.PASS
    h.append("decision_lane", "ok", "action_execute", action_key="a1", decision_id="d1")
    verdict = check("INV-IDEMPOTENT-ACTIONS", h)
    assert verdict.status is Status.FAIL
    assert "'a1'" in verdict.reason
    assert [op["index"] for op in verdict.counterexample] == [0, 2]


def test_single_writer_passes_with_lock_discipline(h: History, check: Any) -> None:
    h.append("reporter-1", "ok", "lock_acquire", lock="close:r1", holder="reporter-1")
    h.append("reporter-2", "fail", "lock_acquire", lock="close:r1", holder="reporter-2")
    h.append("reporter-1", "ok", "closure_write", holder="reporter-1", path="run_completed.json")
    h.append("reporter-1", "ok", "lock_release", lock="close:r1", holder="reporter-1")
    verdict = check("INV-SINGLE-WRITER", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["closure_writers"] == 1


def test_single_writer_fails_on_two_holders(h: History, check: Any) -> None:
    h.append("reporter-1", "ok", "lock_acquire", lock="close:r1", holder="reporter-1")
    h.append("reporter-2", "ok", "lock_acquire", lock="close:r1", holder="reporter-2")
    verdict = check("INV-SINGLE-WRITER", h)
    assert verdict.status is Status.FAIL
    assert "two reporters" in verdict.reason


def test_single_writer_fails_on_write_without_lock(h: History, check: Any) -> None:
    h.append("reporter-2", "ok", "closure_write", holder="reporter-2", path="run_completed.json")
    verdict = check("INV-SINGLE-WRITER", h)
    assert verdict.status is Status.FAIL
    assert "without holding" in verdict.reason


def test_single_writer_fails_on_second_closure_writer(h: History, check: Any) -> None:
    for reporter in ("reporter-1", "reporter-2"):
        h.append(reporter, "ok", "lock_acquire", lock="close:r1", holder=reporter)
        h.append(reporter, "ok", "closure_write", holder=reporter, path="run_completed.json")
        h.append(reporter, "ok", "lock_release", lock="close:r1", holder=reporter)
    verdict = check("INV-SINGLE-WRITER", h)
    assert verdict.status is Status.FAIL
    assert "exactly one reporter" in verdict.reason
