from __future__ import annotations

from typing import Any

from pytest_spine.clock import ManualClock
from pytest_spine.history import History, Operation
from pytest_spine.invariants.security import (
    event_count_mismatch,
    is_uuid7,
    lineage_order_violations,
    lineage_violations,
    replay_tally,
    unsigned_admitted,
)

V7 = "019b76da-a800-7000-98a7-dbefd82c07cd"
V4 = "3f1c2a4e-9b6d-4c1e-8f7a-2b3c4d5e6f70"


def ops(*rows: tuple[str, str, dict[str, Any]]) -> list[Operation]:
    history = History(ManualClock())
    for op_type, f, value in rows:
        history.append("security", op_type, f, **value)  # type: ignore[arg-type]
    return history.operations()


def admit(op_type: str, **value: Any) -> tuple[str, str, dict[str, Any]]:
    return (op_type, "control_admit", {"lineage_id": V7, **value})


def test_replays_are_attempts_on_an_already_admitted_key() -> None:
    history = ops(admit("ok", author="a", nonce=1), admit("fail", author="a", nonce=1, reason="replay"),
                  admit("ok", author="a", nonce=1), admit("fail", author="a", nonce=2, reason="bad_signature"),
                  admit("fail", author="a", nonce=1, reason="rate_limited"))
    tally = replay_tally(history)
    assert (tally.attempts, tally.rejected, tally.ratio) == (2, 1, 0.5)
    assert tally.admitted[0].index == 2


def test_unsigned_admitted_and_event_mismatch() -> None:
    history = ops(admit("ok", signed=False), admit("ok", signed=True), admit("fail", reason="rate_limited"),
                  ("ok", "event", {"name": "flow.rate.drop", "lineage_id": V7, "payload": {"lineage_id": V7}}))
    assert [op.index for op in unsigned_admitted(history)] == [0]
    assert event_count_mismatch(history, frozenset({"rate_limited"}), "flow.rate.drop") == (1, 1)


def test_lineage_must_be_v7_and_the_same_inside_the_payload() -> None:
    history = ops(("ok", "event", {"name": "x", "lineage_id": V7, "payload": {"lineage_id": V7}}),
                  ("ok", "event", {"name": "y", "lineage_id": V4, "payload": {"lineage_id": V4}}),
                  ("ok", "event", {"name": "z", "lineage_id": V7, "payload": {}}),
                  admit("fail", reason="x", lineage_id=None))
    assert [op.index for op in lineage_violations(history)] == [1, 2, 3]
    assert is_uuid7(V7) and not is_uuid7(V4)


def test_lineage_order() -> None:
    assert lineage_order_violations(["a", "b", "b", "a"]) == [(2, "b", "b"), (3, "b", "a")]


# -- the registered history checkers over real drill histories ----------------------------------------------
import pytest  # noqa: E402

from pytest_spine.invariants.registry import CheckContext, get, run_checks  # noqa: E402
from pytest_spine.targets.reference_security import run_drill  # noqa: E402
from pytest_spine.verdicts import Status  # noqa: E402

HISTORY_IDS = ("SEC-UNSIGNED-REJECTED", "SEC-SIG-TAMPER", "SEC-REPLAY-REJECT", "SEC-NONCE-HWM", "SEC-RATE-LIMIT",
               "SEC-PAYLOAD-CAP", "SEC-QUARANTINE-REACTION", "SEC-INSECURE-FLAG", "SEC-LINEAGE-UUIDV7")
SMALL = {"SEC-REPLAY-REJECT": {"replays": 1200, "memory_nonces": 10, "measure_bytes": False},
         "SEC-PAYLOAD-CAP": {"examples": 60}}


def verdicts_over(drill: str, mutant: str | None = None) -> dict[str, Status]:
    result = run_drill(drill, seed=2, mutant=mutant, **SMALL.get(drill, {}))
    specs = [get(check_id) for check_id in HISTORY_IDS]
    return {v.check_id: v.status for v in run_checks(result.operations, CheckContext(), specs)}


@pytest.mark.parametrize("drill", HISTORY_IDS)
def test_history_checkers_never_fail_a_reference_drill(drill: str) -> None:
    statuses = verdicts_over(drill)
    assert statuses[drill] is Status.PASS
    if drill == "SEC-INSECURE-FLAG":
        # The insecure drill's own history shows what insecure mode does: unsigned messages got in.
        assert statuses.pop("SEC-UNSIGNED-REJECTED") is Status.FAIL
    assert all(s in (Status.PASS, Status.NOT_APPLICABLE) for s in statuses.values()), statuses


@pytest.mark.parametrize(("mutant", "drill", "check_id"), [
    ("accept_unsigned", "SEC-UNSIGNED-REJECTED", "SEC-UNSIGNED-REJECTED"),
    ("no_replay_window", "SEC-REPLAY-REJECT", "SEC-REPLAY-REJECT"),
    ("no_replay_window", "SEC-REPLAY-REJECT", "SEC-NONCE-HWM"),
    ("rate_drop_silent", "SEC-RATE-LIMIT", "SEC-RATE-LIMIT"),
    ("quarantine_never_triggers", "SEC-QUARANTINE-REACTION", "SEC-QUARANTINE-REACTION"),
    ("insecure_mode_silent", "SEC-INSECURE-FLAG", "SEC-INSECURE-FLAG"),
    ("lineage_not_v7", "SEC-LINEAGE-UUIDV7", "SEC-LINEAGE-UUIDV7"),
])
def test_history_checkers_fail_on_their_mutant(mutant: str, drill: str, check_id: str) -> None:
    assert verdicts_over(drill, mutant)[check_id] is Status.FAIL


def test_a_history_without_security_decisions_is_not_applicable() -> None:
    history = ops(("ok", "ingest", {"event_id": "e1"}))
    statuses = {v.check_id: v.status for v in run_checks(history, CheckContext(),
                                                         [get(c) for c in HISTORY_IDS])}
    assert set(statuses.values()) == {Status.NOT_APPLICABLE}


def test_sig_failure_without_its_event_fails() -> None:
    history = ops(admit("fail", node="n", reason="bad_signature", detail="x"))
    [verdict] = run_checks(history, CheckContext(), [get("SEC-SIG-TAMPER")])
    assert verdict.status is Status.FAIL and "1 signature failures, 0 security.sig_fail" in verdict.reason
