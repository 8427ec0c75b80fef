from __future__ import annotations

from typing import Any

from pytest_spine.history import History
from pytest_spine.verdicts import Status


def test_stream_view_first(h: History, check: Any) -> None:
    h.append("wsp", "ok", "stream_read", platform_run_id="r1", output_id="o1", source="stream_view")
    assert check("INV-STREAM-VIEW-FIRST", h).status is Status.PASS
    h.append("wsp", "ok", "stream_read", platform_run_id="r1", output_id="o2", source="raw")
    verdict = check("INV-STREAM-VIEW-FIRST", h)
    assert verdict.status is Status.FAIL
    assert "'o2'" in verdict.reason and "'raw'" in verdict.reason


def test_ready_before_stream_passes(h: History, check: Any) -> None:
    h.append("sr", "ok", "ready_publish", platform_run_id="r1", scenario_run_id="s", topic="ready",
             partition=0, offset=0)
    h.append("wsp", "ok", "stream_start", platform_run_id="r1", ready_offset=0)
    assert check("INV-READY-BEFORE-STREAM", h).status is Status.PASS


def test_ready_before_stream_fails_without_ready(h: History, check: Any) -> None:
    h.append("wsp", "ok", "stream_start", platform_run_id="r1", ready_offset=None)
    h.append("sr", "ok", "ready_publish", platform_run_id="r1", topic="ready", partition=0, offset=0)
    verdict = check("INV-READY-BEFORE-STREAM", h)
    assert verdict.status is Status.FAIL
    assert "no READY" in verdict.reason


def test_ready_before_stream_refused_start_is_fine(h: History, check: Any) -> None:
    h.append("wsp", "fail", "stream_start", platform_run_id="r1", ready_offset=None)
    assert check("INV-READY-BEFORE-STREAM", h).status is Status.PASS


def _consume(h: History, offset: int, write: bool) -> None:
    where = {"group": "rtdl", "topic": "events", "partition": 0, "offset": offset}
    h.append("rtdl", "ok", "consume", event_id=f"e{offset}", **where)
    if write:
        h.append("rtdl", "ok", "state_write", key=f"e{offset}", **where)


def test_commit_after_write_passes(h: History, check: Any) -> None:
    for offset in range(3):
        _consume(h, offset, write=True)
    h.append("rtdl", "ok", "offset_commit", group="rtdl", topic="events", partition=0, offset=3)
    verdict = check("INV-COMMIT-AFTER-WRITE", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["offset_commits"] == 1


def test_commit_after_write_fails_on_ack_before_write(h: History, check: Any) -> None:
    _consume(h, 0, write=True)
    _consume(h, 1, write=False)
    h.append("rtdl", "ok", "offset_commit", group="rtdl", topic="events", partition=0, offset=2)
    h.append("rtdl", "ok", "state_write", group="rtdl", topic="events", partition=0, offset=1, key="e1")
    verdict = check("INV-COMMIT-AFTER-WRITE", h)
    assert verdict.status is Status.FAIL
    assert "the record at offset 1 was consumed but not yet written" in verdict.reason
    assert [op["f"] for op in verdict.counterexample] == ["consume", "offset_commit"]


def test_explicit_degrade_passes(h: History, check: Any) -> None:
    h.append("rtdl", "ok", "join", event_id="e1", context="missing", missing=["profile"])
    h.append("rtdl", "ok", "degrade", event_id="e1", reason="context_missing:profile")
    h.append("decision_lane", "ok", "decision", decision_id="d1", event_id="e1", outcome="review",
             degraded=True)
    h.append("rtdl", "ok", "join", event_id="e2", context="present", missing=[])
    h.append("decision_lane", "ok", "decision", decision_id="d2", event_id="e2", outcome="allow",
             degraded=False)
    verdict = check("INV-EXPLICIT-DEGRADE", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["degrades"] == 1


def test_explicit_degrade_fails_on_silent_default(h: History, check: Any) -> None:
    h.append("rtdl", "ok", "join", event_id="e1", context="missing", missing=["profile"])
    h.append("decision_lane", "ok", "decision", decision_id="d1", event_id="e1", outcome="allow",
             degraded=False)
    verdict = check("INV-EXPLICIT-DEGRADE", h)
    assert verdict.status is Status.FAIL
    assert "no degrade was recorded" in verdict.reason


def test_explicit_degrade_fails_without_reason_or_never(h: History, check: Any) -> None:
    h.append("rtdl", "ok", "join", event_id="e1", context="missing", missing=["profile"])
    h.append("rtdl", "ok", "degrade", event_id="e1", reason="")
    assert "no reason" in check("INV-EXPLICIT-DEGRADE", h).reason
    h.append("rtdl", "ok", "join", event_id="e2", context="missing", missing=["profile"])
    verdict = check("INV-EXPLICIT-DEGRADE", h)
    assert verdict.status is Status.FAIL


def test_commit_after_write_fails_on_commit_before_consume(h: History, check: Any) -> None:
    where = {"group": "rtdl", "topic": "events", "partition": 0}
    h.append("rtdl", "ok", "offset_commit", offset=1, **where)  # ack_before_write: committed first
    h.append("rtdl", "ok", "consume", offset=0, event_id="e0", **where)
    h.append("rtdl", "ok", "state_write", offset=0, key="e0", **where)
    verdict = check("INV-COMMIT-AFTER-WRITE", h)
    assert verdict.status is Status.FAIL
    assert "not even consumed yet" in verdict.reason


def test_commit_after_write_allows_redelivery_and_restart(h: History, check: Any) -> None:
    where = {"group": "lane", "topic": "rtdl", "partition": 0}
    for offset in range(4):
        _consume_at(h, where, offset)
    h.append("lane", "ok", "offset_commit", offset=4, **where)
    for offset in range(2, 4):  # seek back two, process again, commit again
        _consume_at(h, where, offset)
    h.append("lane", "ok", "offset_commit", offset=4, **where)
    assert check("INV-COMMIT-AFTER-WRITE", h).status is Status.PASS


def _consume_at(h: History, where: dict[str, Any], offset: int) -> None:
    h.append("lane", "ok", "consume", offset=offset, event_id=f"e{offset}", **where)
    h.append("lane", "ok", "state_write", offset=offset, key=f"e{offset}", **where)
