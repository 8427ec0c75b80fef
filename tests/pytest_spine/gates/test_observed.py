"""The observation-grounded criteria, fed crafted observations and documents directly: each one passes on a
consistent run and fails, in its own logic, on the inconsistency it exists to find; on a target with nothing
observed it is NOT_APPLICABLE, never PASS."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from pytest_spine.drive.envelope import payload_hash
from pytest_spine.gates.catalogue import GateContext, all_criteria
from pytest_spine.gates.runner import PhaseRunner
from pytest_spine.history import History
from pytest_spine.observe.groups import GroupState
from pytest_spine.observe.substrate import LaneView, Observations, TopicView, observe_topic
from pytest_spine.observe.topics import TopicRecord, Watermarks
from pytest_spine.targets.base import PhaseOutcome
from pytest_spine.verdicts import Status

RUN = "platform_run_a"
TRAFFIC, RTDL, CONTROL = "t.traffic", "t.rtdl", "t.control"


def _record(topic: str, partition: int, offset: int, value: Any, **headers: str) -> TopicRecord:
    return TopicRecord(topic, partition, offset, None, headers, value, 10)


def _event(n: int, run: str = RUN) -> dict[str, Any]:
    return {"platform_run_id": run, "event_class": "traffic_fraud", "event_id": f"e{n}", "payload": {"n": n}}


def world(events: int = 4, *, duplicate: bool = False, foreign_at: int | None = None,
          lost_output: int | None = None, committed: int | None = None) -> Observations:
    """A consistent run: ``events`` records on traffic[0], one RTDL output each, the lane committed to the end."""
    obs = Observations(RUN)
    values = [_event(n) for n in range(events)]
    if duplicate:
        values.append(_event(0))
    if foreign_at is not None:
        values.insert(foreign_at, _event(99, run="platform_other"))
    traffic = TopicView(TRAFFIC, watermarks={0: Watermarks(0, len(values))})
    observe_topic(traffic, [_record(TRAFFIC, 0, i, v, payload_hash=payload_hash(v["payload"]))
                            for i, v in enumerate(values)], RUN, ingest=True, lane_output=False, control=False)
    outputs = [{"platform_run_id": RUN, "event_id": v["event_id"], "source": {"topic": TRAFFIC, "partition": 0,
                                                                          "offset": i}}
               for i, v in enumerate(values) if v["platform_run_id"] == RUN and i != lost_output]
    rtdl = TopicView(RTDL, watermarks={0: Watermarks(0, len(outputs))})
    observe_topic(rtdl, [_record(RTDL, 0, i, v) for i, v in enumerate(outputs)], RUN, ingest=False,
                  lane_output=True, control=False)
    control = TopicView(CONTROL, watermarks={0: Watermarks(0, 1)})
    observe_topic(control, [_record(CONTROL, 0, 0, {"platform_run_id": RUN, "message_type": "READY",
                                                    "scenario_run_id": "s" * 64})], RUN, ingest=False,
                  lane_output=False, control=True)
    obs.topics = {TRAFFIC: traffic, RTDL: rtdl, CONTROL: control}
    end = len(values)
    obs.lanes = {"RTDL_CORE_CONSUMER_GROUP_ID": LaneView(
        "RTDL_CORE_CONSUMER_GROUP_ID", "g-rtdl", (TRAFFIC,), RTDL,
        {(TRAFFIC, 0): end if committed is None else committed}, GroupState("g-rtdl", "EMPTY", ()))}
    obs.receipts = [{"receipt_seq": i + 1, "platform_run_id": RUN, "event_id": f"e{i}", "outcome": "ADMIT"}
                    for i in range(events)]
    obs.evidence_imported = ["run.json"]
    return obs


def documents(obs: Observations) -> dict[str, Mapping[str, Any]]:
    """The evidence a correct platform writes for the observed run."""
    run_records = obs.topics[TRAFFIC].run_offsets.get(0, [])
    counts = {o: 0 for o in ("ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS")}
    for r in obs.receipts:
        counts[str(r["outcome"])] += 1
    part = {"partition": 0, "start_offset": min(run_records), "end_offset": max(run_records) + 1}
    return {
        "ingest/receipt_summary.json": {"counts_by_outcome": counts, "receipts": {"count": len(obs.receipts)}},
        "ingest/kafka_offsets_snapshot.json": {"topics": {TRAFFIC: [part]}},
        "ingest/quarantine_summary.json": {"count": 0},
        "replay_anchors.json": {"anchors": [{"topic": TRAFFIC, **part}]},
        "sr/ready_publish_receipt.json": {"topic": CONTROL, "partition": 0, "offset": 0, "scenario_run_id": "s" * 64},
        "oracle/stream_sort_summary.json": {"outputs": {"traffic_fraud": {"rows_out": 4}}},
    }


def judge(check_id: str, obs: Observations | None, docs: Mapping[str, Mapping[str, Any]],
          history: History | None = None) -> tuple[Status, str]:
    criterion = {c.check_id: c for c in all_criteria()}[check_id]
    ctx = GateContext(PhaseOutcome(criterion.phase, True), {}, docs.get, lambda: sorted(docs),
                      lambda name: {}, RUN, (history or History()).operations, observed_fn=lambda: obs)
    runner = PhaseRunner(lambda: None, docs.get, lambda: sorted(docs), History(), RUN)  # type: ignore[arg-type]
    verdict = runner._decide(criterion, ctx, PhaseOutcome(criterion.phase, True), {})
    assert verdict.basis in ("observed", "recomputed")
    return verdict.status, verdict.reason


Mutation = Callable[[Observations, dict[str, Any]], None]


def _set(path: str, key: str, value: Any) -> Mutation:
    def apply(obs: Observations, docs: dict[str, Any]) -> None:
        docs[path] = {**docs[path], key: value}
    return apply


def _anchor_past_end(obs: Observations, docs: dict[str, Any]) -> None:
    anchor = dict(docs["replay_anchors.json"]["anchors"][0], end_offset=obs.topics[TRAFFIC].watermarks[0].high + 1)
    docs["replay_anchors.json"] = {"anchors": [anchor]}


def _snapshot_short(obs: Observations, docs: dict[str, Any]) -> None:
    part = dict(docs["ingest/kafka_offsets_snapshot.json"]["topics"][TRAFFIC][0], end_offset=2)
    docs["ingest/kafka_offsets_snapshot.json"] = {"topics": {TRAFFIC: [part]}}


def _summary_misses_duplicates(obs: Observations, docs: dict[str, Any]) -> None:
    obs.receipts.append({"receipt_seq": 99, "platform_run_id": RUN, "event_id": "e0", "outcome": "DUPLICATE"})
    docs["ingest/receipt_summary.json"] = {**docs["ingest/receipt_summary.json"],
                                           "receipts": {"count": len(obs.receipts)}}


def _quarantine_without_payload(obs: Observations, docs: dict[str, Any]) -> None:
    obs.receipts.append({"receipt_seq": 50, "platform_run_id": RUN, "event_id": "bad", "outcome": "QUARANTINE",
                         "payload_key": "q/1.json"})
    obs.quarantine_problems.append("receipt 50: s3://q/q/1.json holds no envelope")
    docs["ingest/quarantine_summary.json"] = {"count": 1}


def _ready_elsewhere(obs: Observations, docs: dict[str, Any]) -> None:
    docs["sr/ready_publish_receipt.json"] = {**docs["sr/ready_publish_receipt.json"], "offset": 1}


def _foreign_evidence(obs: Observations, docs: dict[str, Any]) -> None:
    obs.evidence_problems["run_completed.json"] = "it names platform_run_id 'platform_other' (never re-stamped)"


def _stream_view_short(obs: Observations, docs: dict[str, Any]) -> None:
    obs.stream_view_rows["traffic_fraud"] = 3


CASES: list[tuple[str, Callable[[], Observations], Mutation | None]] = [
    ("P7-tuple_published_once", lambda: world(duplicate=True), None),
    ("P7-traffic_in_run_scope", lambda: world(foreign_at=2), None),
    ("P7-offsets_snapshot_matches_broker", world, _snapshot_short),
    ("P7-receipts_match_objects", world, _summary_misses_duplicates),
    ("P7-quarantine_holds_payload", world, _quarantine_without_payload),
    ("P8-lane_commits_match_outputs", lambda: world(lost_output=1), None),
    ("P8-lanes_caught_up_observed", lambda: world(committed=2), None),
    ("P11-replay_anchors_on_broker", world, _anchor_past_end),
    ("P5-ready_on_topic", world, _ready_elsewhere),
    ("P1-evidence_of_this_run", world, _foreign_evidence),
    ("P3-stream_view_rows_observed", world, _stream_view_short),
]


@pytest.mark.parametrize(("check_id", "bad_world", "mutate"), CASES, ids=[c[0] for c in CASES])
def test_each_observed_criterion_passes_a_consistent_run_and_fails_its_inconsistency(
        check_id: str, bad_world: Callable[[], Observations], mutate: Mutation | None) -> None:
    good = world()
    good.stream_view_rows["traffic_fraud"] = 4
    status, reason = judge(check_id, good, documents(good))
    assert status is Status.PASS, reason
    bad = bad_world()
    bad.stream_view_rows["traffic_fraud"] = 4
    docs = dict(documents(world()))
    if mutate is not None:
        mutate(bad, docs)
    status, reason = judge(check_id, bad, docs)
    assert status is Status.FAIL, reason


def test_nothing_observed_is_not_applicable_never_pass() -> None:
    observed = [c.check_id for c in all_criteria() if c.check_id in {case[0] for case in CASES}]
    assert len(observed) == len(CASES)
    for check_id in observed:
        criterion = {c.check_id: c for c in all_criteria()}[check_id]
        ctx = GateContext(PhaseOutcome(criterion.phase, True), {}, {}.get, list, lambda name: {}, RUN,
                          History().operations)
        runner = PhaseRunner(lambda: None, {}.get, list, History(), RUN)  # type: ignore[arg-type]
        verdict = runner._decide(criterion, ctx, PhaseOutcome(criterion.phase, True), {})
        assert verdict.status is Status.NOT_APPLICABLE, (check_id, verdict)
        assert "exposes no substrate" in verdict.reason


def test_an_empty_topic_is_never_a_pass() -> None:
    obs = world()
    obs.topics[TRAFFIC] = TopicView(TRAFFIC, watermarks={0: Watermarks(0, 0)})
    status, _ = judge("P7-tuple_published_once", obs, documents(world()))
    assert status is Status.FAIL
    obs.lanes = {}
    status, _ = judge("P8-lanes_caught_up_observed", obs, documents(world()))
    assert status is Status.FAIL
