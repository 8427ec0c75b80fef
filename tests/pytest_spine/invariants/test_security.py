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
