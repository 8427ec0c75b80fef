from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.history import History
from pytest_spine.invariants.registry import CheckContext
from pytest_spine.verdicts import Status


class Bundle:
    def __init__(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        self.docs = dict(docs)

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        return self.docs.get(relpath)

    def list(self) -> list[str]:
        return sorted(self.docs)


def _published(h: History, offsets: range) -> None:
    for offset in offsets:
        h.append("ig", "ok", "publish", topic="events", partition=0, offset=offset, event_id=f"e{offset}")


def _anchors(start: int, end: int, stamp: str | None = "2026-01-01T00:00:00.000000Z") -> dict[str, Any]:
    return {"anchors": [{"topic": "events", "partition": 0, "start_offset": start, "end_offset": end,
                         "captured_at_utc": stamp}]}


def test_replay_anchors_pass_when_covering_and_agreeing(h: History, check: Any) -> None:
    _published(h, range(5))
    snapshot = {"topics": {"events": [{"partition": 0, "start_offset": 0, "end_offset": 5}]}}
    ctx = CheckContext(evidence=Bundle({"replay_anchors.json": _anchors(0, 5),
                                        "ingest/kafka_offsets_snapshot.json": snapshot}))
    verdict = check("INV-REPLAY-ANCHORS", h, ctx)
    assert verdict.status is Status.PASS
    assert verdict.figures["anchors"] == 1


def test_replay_anchors_fail_when_short(h: History, check: Any) -> None:
    _published(h, range(5))
    verdict = check("INV-REPLAY-ANCHORS", h, CheckContext(evidence=Bundle({"replay_anchors.json":
                                                                            _anchors(0, 4)})))
    assert verdict.status is Status.FAIL
    assert "[0, 4)" in verdict.reason
    assert [op["value"]["offset"] for op in verdict.counterexample] == [0, 4]


def test_replay_anchors_fail_when_missing_or_disagreeing(h: History, check: Any) -> None:
    _published(h, range(2))
    assert check("INV-REPLAY-ANCHORS", h, CheckContext(evidence=Bundle({}))).status is Status.FAIL
    snapshot = {"offset_ranges": [{"topic": "events", "partition": 0, "start_offset": 0, "end_offset": 9}]}
    ctx = CheckContext(evidence=Bundle({"replay_anchors.json": _anchors(0, 2),
                                        "ingest/kafka_offsets_snapshot.json": snapshot}))
    verdict = check("INV-REPLAY-ANCHORS", h, ctx)
    assert verdict.status is Status.FAIL
    assert "disagree" in verdict.reason
    no_stamp = CheckContext(evidence=Bundle({"replay_anchors.json": _anchors(0, 2, stamp=None)}))
    assert "capture timestamp" in check("INV-REPLAY-ANCHORS", h, no_stamp).reason


def test_replay_anchors_not_applicable_without_bundle(h: History, check: Any) -> None:
    verdict = check("INV-REPLAY-ANCHORS", h)
    assert verdict.status is Status.NOT_APPLICABLE
    assert "--bundle" in verdict.reason


def test_handles(h: History, check: Any) -> None:
    h.append("ig", "ok", "handle_use", kind="topic", name="fp.bus.traffic.v1")
    ctx = CheckContext(handles=frozenset({"fp.bus.traffic.v1"}))
    assert check("INV-HANDLES", h, ctx).status is Status.PASS
    assert check("INV-HANDLES", h).status is Status.NOT_APPLICABLE
    h.append("rtdl", "ok", "handle_use", kind="bucket", name="my-laptop-bucket")
    verdict = check("INV-HANDLES", h, ctx)
    assert verdict.status is Status.FAIL
    assert "'my-laptop-bucket'" in verdict.reason


def test_evidence_complete(h: History, check: Any) -> None:
    h.append("harness", "ok", "evidence_write", path="run.json", sha256="a")
    ctx = CheckContext(required_evidence=("run.json", "run_completed.json"),
                       evidence=Bundle({"run_completed.json": {}}))
    assert check("INV-EVIDENCE-COMPLETE", h, ctx).status is Status.PASS
    missing = check("INV-EVIDENCE-COMPLETE", h, CheckContext(required_evidence=("run.json", "x.json")))
    assert missing.status is Status.FAIL
    assert "x.json" in missing.reason
    assert check("INV-EVIDENCE-COMPLETE", h).status is Status.NOT_APPLICABLE
    h.append("harness", "ok", "evidence_write", path="run.json", sha256="b")
    twice = check("INV-EVIDENCE-COMPLETE", h, CheckContext(required_evidence=("run.json",)))
    assert twice.status is Status.FAIL
    assert "written twice" in twice.reason
