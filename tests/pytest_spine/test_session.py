"""The gate decision (docs/ci.md) and the exit status that says it: non-zero exactly when it is No-Go."""

from __future__ import annotations

import pytest

from pytest_spine.session import GateDecision, decide_gate
from pytest_spine.settings import exit_status_for
from pytest_spine.verdicts import Status, Verdict


def v(check_id: str, status: Status) -> Verdict:
    return Verdict(check_id, "gate", status, f"{check_id} {status.value}")


def decide(verdicts: list[Verdict], failed_items: int = 0, run_problem: str | None = None,
           no_go: tuple[str, ...] = ()) -> GateDecision:
    return decide_gate(verdicts, failed_items=failed_items, run_problem=run_problem, rubric_decision="Stay in Phase 1",
                       rubric_no_go=no_go)


def test_every_check_passing_or_not_applicable_is_go() -> None:
    decision = decide([v("P7-a", Status.PASS), v("P0-b", Status.NOT_APPLICABLE)])
    assert decision.go and decision.label == "Go"
    assert decision.reasons == ("all 1 checks that ran passed (1 not applicable)",)
    assert decision.to_json() == {"decision": "Go", "reasons": list(decision.reasons),
                                  "rubric_decision": "Stay in Phase 1"}


@pytest.mark.parametrize("status", [Status.FAIL, Status.BLOCKED, Status.UNKNOWN])
def test_any_failing_verdict_is_no_go_and_named(status: Status) -> None:
    decision = decide([v("P7-a", Status.PASS), v("INV-DEDUPE-IDENTITY", status)])
    assert not decision.go and decision.label == "No-Go"
    assert decision.reasons == (f"1 check(s) did not pass: INV-DEDUPE-IDENTITY {status.value}",)


def test_a_failed_item_without_a_failing_verdict_is_still_no_go() -> None:
    # A check that crashed before it recorded its verdict: missing evidence, never hidden behind a Go.
    decision = decide([v("P7-a", Status.PASS)], failed_items=1)
    assert not decision.go and decision.reasons == ("1 test item(s) failed or errored",)


def test_the_rubric_automatic_no_go_and_an_unfinished_run_are_no_go() -> None:
    decision = decide([v("P7-a", Status.PASS)], no_go=("An open Sev-1 incident (open_sev1_incidents = 1)",))
    assert decision.reasons == ("rubric automatic No-Go: An open Sev-1 incident (open_sev1_incidents = 1)",)
    decision = decide([v("P7-a", Status.PASS)], run_problem="the run was interrupted")
    assert not decision.go and decision.reasons == ("the run was interrupted",)


def test_nothing_checked_is_no_go() -> None:
    decision = decide([])
    assert not decision.go and "nothing was verified" in decision.reasons[0]


def test_many_failures_are_listed_in_order_and_bounded() -> None:
    decision = decide([v(f"INV-{n:02d}", Status.FAIL) for n in range(15, 0, -1)])
    assert decision.reasons[0].startswith("15 check(s) did not pass: INV-01 FAIL; INV-02 FAIL")
    assert decision.reasons[0].endswith("(and 3 more)")


@pytest.mark.parametrize(("go", "pytest_status", "expected"), [
    (True, 0, 0),
    (False, 0, 1),  # every item passed but, e.g., a gate evaluated outside the selection failed
    (False, 1, 1),
    (False, 2, 2),  # interrupted stays interrupted
    (False, 3, 3),
    (False, 4, 4),
    (False, 5, 5),
])
def test_the_exit_status_is_non_zero_exactly_when_no_go(go: bool, pytest_status: int, expected: int) -> None:
    assert exit_status_for(GateDecision(go, ("why",)), pytest_status) == expected
