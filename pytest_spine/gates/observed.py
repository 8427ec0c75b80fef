"""PASS criteria grounded in what the harness itself observed of a platform's substrate: the records on its
topics, the broker's watermarks, its groups' committed offsets and members, its objects. Each one
cross-checks what the platform's evidence attests against that observation. On a target that exposes no
substrate (the in-process reference) they are NOT_APPLICABLE with the reason, never PASS."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from pytest_spine.gates.catalogue import GateContext, Result, criterion
from pytest_spine.gates.phases import OUTCOMES

EXAMPLES = 5


def _snapshot(ctx: GateContext) -> dict[tuple[str, int], Mapping[str, Any]]:
    topics = ctx.field("ingest/kafka_offsets_snapshot.json", "topics")
    return {(t, int(p["partition"])): p for t, parts in topics.items() for p in parts}


# ----------------------------------------------------------------------------------------- P1
@criterion("P1", "evidence_of_this_run", "Every evidence file under the run's prefix is valid and names this run "
           "(none re-stamped)", basis="observed")
def evidence_of_this_run(ctx: GateContext) -> Result:
    obs = ctx.observed()
    refused = dict(obs.evidence_problems)
    ok = bool(obs.evidence_imported) and not refused
    return Result(ok, f"{len(obs.evidence_imported)} evidence files of run {ctx.platform_run_id} imported as written"
                  if ok else f"evidence refused: {refused or 'no evidence files under the run prefix'}",
                  tuple(sorted(refused)[:EXAMPLES]),
                  tuple({"file": f, "problem": why} for f, why in sorted(refused.items())[:EXAMPLES]))


# ----------------------------------------------------------------------------------------- P3
@criterion("P3", "stream_view_rows_observed", "stream_sort's row counts equal the rows in the stream_view objects",
           ("oracle/stream_sort_summary.json",), basis="recomputed")
def stream_view_rows_observed(ctx: GateContext) -> Result:
    obs = ctx.observed()
    outputs: Mapping[str, Any] = ctx.field("oracle/stream_sort_summary.json", "outputs")
    wrong = {o: {"summary_rows_out": s.get("rows_out"), "rows_in_objects": obs.stream_view_rows.get(o)}
             for o, s in sorted(outputs.items()) if s.get("rows_out") != obs.stream_view_rows.get(o)}
    ok = bool(outputs) and not wrong and not obs.stream_view_problems
    return Result(ok, f"{sum(obs.stream_view_rows.values())} stream_view rows counted in the objects match the "
                  f"summary for {len(outputs)} outputs" if ok else
                  f"stream_view rows do not match the objects: {wrong}; {obs.stream_view_problems[:3]}",
                  ("oracle/stream_sort_summary.json",))


# ----------------------------------------------------------------------------------------- P5
@criterion("P5", "ready_on_topic", "The READY record the receipt points to is on the control topic, for this run",
           ("sr/ready_publish_receipt.json",), basis="observed")
def ready_on_topic(ctx: GateContext) -> Result:
    obs = ctx.observed()
    receipt = ctx.doc("sr/ready_publish_receipt.json")
    topic, partition, offset = receipt.get("topic"), receipt.get("partition"), receipt.get("offset")
    view = obs.topics.get(str(topic))
    found = view.ready.get((partition, offset)) if view is not None and isinstance(partition, int) \
        and isinstance(offset, int) else None
    ok = found is not None and found.get("scenario_run_id") == receipt.get("scenario_run_id")
    seen = sorted(view.ready) if view is not None else []
    return Result(ok, f"READY for {receipt.get('scenario_run_id')} observed at {topic}[{partition}]@{offset}" if ok
                  else f"no READY of this run at {topic}[{partition}]@{offset}; READY records of the run observed "
                  f"at {seen[:EXAMPLES] or 'none'}", ("sr/ready_publish_receipt.json",))


# ----------------------------------------------------------------------------------------- P7
@criterion("P7", "receipts_match_objects", "The receipt summary equals the receipt objects, and every answer the "
           "harness got has its receipt", ("ingest/receipt_summary.json",), basis="recomputed")
def receipts_match_objects(ctx: GateContext) -> Result:
    obs = ctx.observed()
    summary = ctx.doc("ingest/receipt_summary.json")
    attested = {o: int(summary.get("counts_by_outcome", {}).get(o, 0)) for o in OUTCOMES}
    counted = obs.receipts_by_outcome()
    recount = {o: int(counted.get(o, 0)) for o in OUTCOMES}
    by_seq = {r.get("receipt_seq"): r for r in obs.receipts}
    unmatched: list[dict[str, Any]] = []
    answered = 0
    for op in ctx.history():
        if op.f != "ingest" or op.type != "ok" or op.value.get("receipt_seq") is None:
            continue
        answered += 1
        receipt = by_seq.get(op.value.get("receipt_seq"))
        matches = receipt is not None and receipt.get("outcome") == op.value.get("outcome") and \
            receipt.get("event_id") == op.value.get("event_id")
        if not matches and len(unmatched) < EXAMPLES:
            unmatched.append({"answer": {k: op.value.get(k) for k in ("event_id", "outcome", "receipt_seq")},
                              "receipt": dict(receipt) if receipt else None})
    listed = summary.get("receipts", {}).get("count")
    ok = attested == recount and listed == len(obs.receipts) and not unmatched and not obs.receipt_problems \
        and bool(obs.receipts)
    return Result(ok, f"{len(obs.receipts)} receipt objects, by outcome {dict(recount)}, equal the summary; "
                  f"{answered} answers to the harness each have their receipt" if ok else
                  f"receipts do not match: summary {attested} (count {listed}), objects {recount} "
                  f"({len(obs.receipts)}); answers without their receipt {len(unmatched)}; "
                  f"{obs.receipt_problems[:2]}", ("ingest/receipt_summary.json",), tuple(unmatched),
                  figures={"receipt_objects": len(obs.receipts), "answers": answered})


@criterion("P7", "tuple_published_once", "Each dedupe tuple appears at most once on the gate's topics",
           basis="observed")
def tuple_published_once(ctx: GateContext) -> Result:
    obs = ctx.observed()
    counts: Counter[Any] = Counter()
    for view in obs.topics.values():
        counts.update(view.tuples)
    doubled = [(ident, n) for ident, n in counts.items() if n > 1]
    examples = tuple({"platform_run_id": i[0], "event_class": i[1], "event_id": i[2], "records": n,
                      "at": sorted(f"{t}[{p}]@{o}" for t, view in obs.topics.items()
                                   for p, o in view.tuple_offsets.get(i, []))} for i, n in doubled[:EXAMPLES])
    ok = bool(counts) and not doubled
    return Result(ok, f"{len(counts)} tuples of the run, each published once" if ok else
                  (f"{len(doubled)} tuples published more than once (duplicate)" if doubled else
                   "no records of this run observed on the gate's topics"), (), examples,
                  figures={"tuples": len(counts), "published_twice": len(doubled)})


@criterion("P7", "traffic_in_run_scope", "Within the run's offsets, every record on the gate's topics belongs to "
           "the run", ("ingest/kafka_offsets_snapshot.json",), basis="observed")
def traffic_in_run_scope(ctx: GateContext) -> Result:
    obs = ctx.observed()
    snapshot = _snapshot(ctx)
    intruders: list[dict[str, Any]] = []
    for (topic, partition), part in snapshot.items():
        view = obs.topics.get(topic)
        if view is None:
            continue
        lo = int(part["start_offset"])
        hi = int(part["end_offset"])
        for (b_topic, b_part), marks in obs.bracket_before.items():  # a run the harness drove: from its bracket
            if (b_topic, b_part) == (topic, partition):
                lo = min(lo, marks.high)
        inside = [o for o in view.foreign_by_partition.get(partition, []) if lo <= o < hi]
        for offset in inside[:EXAMPLES]:
            example = next((f for f in view.foreign if f["partition"] == partition and f["offset"] == offset),
                           {"topic": topic, "partition": partition, "offset": offset})
            intruders.append(dict(example))
    ok = bool(snapshot) and not intruders
    return Result(ok, f"every record in the run's {len(snapshot)} partition ranges belongs to run "
                  f"{ctx.platform_run_id}" if ok else f"records of another run (or unreadable) inside the run's "
                  f"offsets: {len(intruders)}", ("ingest/kafka_offsets_snapshot.json",), tuple(intruders[:EXAMPLES]))


@criterion("P7", "offsets_snapshot_matches_broker", "The offsets snapshot brackets exactly the run's records as the "
           "broker holds them", ("ingest/kafka_offsets_snapshot.json",), basis="observed")
def offsets_snapshot_matches_broker(ctx: GateContext) -> Result:
    obs = ctx.observed()
    snapshot = _snapshot(ctx)
    wrong: list[dict[str, Any]] = []
    for view in obs.topics.values():
        if not view.tuples:
            continue  # not one of the gate's topics
        for partition, offsets in sorted(view.run_offsets.items()):
            part = snapshot.get((view.name, partition))
            observed = {"first": min(offsets), "end": max(offsets) + 1,
                        "high_watermark": view.watermarks[partition].high if partition in view.watermarks else None}
            if part is None or int(part["start_offset"]) != observed["first"] or \
                    int(part["end_offset"]) != observed["end"]:
                wrong.append({"topic": view.name, "partition": partition, "snapshot": dict(part) if part else None,
                              "observed": observed})
    flagged = {(w["topic"], w["partition"]) for w in wrong}
    for (topic, partition), part in snapshot.items():
        view = obs.topics.get(topic)
        marks = view.watermarks.get(partition) if view is not None else None
        run = view.run_offsets.get(partition) if view is not None else None
        empty_range = int(part["end_offset"]) <= int(part["start_offset"])
        if (topic, partition) not in flagged and (marks is None or int(part["end_offset"]) > marks.high
                                                  or (not empty_range and not run)):
            wrong.append({"topic": topic, "partition": partition, "snapshot": dict(part),
                          "observed": {"high_watermark": marks.high if marks else None,
                                       "run_records": len(run or [])}})
    ok = bool(snapshot) and not wrong
    return Result(ok, f"{len(snapshot)} partitions of the snapshot match the run's records on the broker" if ok else
                  f"{len(wrong)} partitions where the snapshot disagrees with the broker (inconsistent offsets)",
                  ("ingest/kafka_offsets_snapshot.json",), tuple(wrong[:EXAMPLES]))


@criterion("P7", "quarantine_holds_payload", "Every QUARANTINE and ANOMALY receipt's object exists and holds what "
           "was received", ("ingest/quarantine_summary.json",), basis="observed")
def quarantine_holds_payload(ctx: GateContext) -> Result:
    obs = ctx.observed()
    summary = ctx.doc("ingest/quarantine_summary.json")
    expected = sum(1 for r in obs.receipts if r.get("outcome") in ("QUARANTINE", "ANOMALY"))
    problems = list(obs.quarantine_problems)
    if summary.get("count") != expected:
        problems.append(f"quarantine summary counts {summary.get('count')}, receipts show {expected}")
    ok = not problems and not obs.receipt_problems
    return Result(ok, f"{expected} quarantined/anomalous receipts, each object holds its envelope" if ok else
                  f"quarantine objects without their payload: {problems[:EXAMPLES]}",
                  ("ingest/quarantine_summary.json",), figures={"quarantined": expected})


# ----------------------------------------------------------------------------------------- P8
def _lane_inputs(obs: Any, lane: Any) -> dict[tuple[str, int], list[int]]:
    found: dict[tuple[str, int], list[int]] = {}
    for topic in lane.inputs:
        view = obs.topics.get(topic)
        if view is not None:
            for partition, offsets in view.run_offsets.items():
                found[(topic, partition)] = sorted(offsets)
    return found


@criterion("P8", "lane_commits_match_outputs", "No lane committed past its work: every input below a committed "
           "offset has its output", basis="observed")
def lane_commits_match_outputs(ctx: GateContext) -> Result:
    obs = ctx.observed()
    lost: list[dict[str, Any]] = []
    judged = 0
    for lane in obs.lanes.values():
        outputs = obs.topics.get(lane.output)
        sources = outputs.sources if outputs is not None else set()
        for (topic, partition), offsets in _lane_inputs(obs, lane).items():
            committed = lane.committed.get((topic, partition))
            for offset in offsets:
                if committed is not None and offset < committed:
                    judged += 1
                    if (topic, partition, offset) not in sources and len(lost) < EXAMPLES:
                        lost.append({"group": lane.group_id, "input": f"{topic}[{partition}]@{offset}",
                                     "committed": committed, "output_topic": lane.output})
    ok = judged > 0 and not lost
    return Result(ok, f"{judged} committed inputs across {len(obs.lanes)} lanes each have their output" if ok else
                  (f"lanes committed past their work (lost writes): {len(lost)}+ inputs committed without an output"
                   if lost else "no committed inputs of this run observed"), (), tuple(lost),
                  figures={"committed_inputs": judged})


@criterion("P8", "lanes_caught_up_observed", "Every lane's committed offsets reach the end of the run's inputs",
           basis="observed")
def lanes_caught_up_observed(ctx: GateContext) -> Result:
    obs = ctx.observed()
    behind: list[dict[str, Any]] = []
    for lane in obs.lanes.values():
        for (topic, partition), offsets in _lane_inputs(obs, lane).items():
            committed = lane.committed.get((topic, partition))
            if committed is None or committed < offsets[-1] + 1:
                behind.append({"group": lane.group_id, "partition": f"{topic}[{partition}]",
                               "committed": committed, "last_run_offset": offsets[-1]})
    ok = bool(obs.lanes) and not behind
    return Result(ok, f"{len(obs.lanes)} lanes committed to the end of the run's inputs" if ok else
                  f"lanes behind the run's inputs (unseen): {behind[:EXAMPLES] or 'no lanes declared'}",
                  (), tuple(behind[:EXAMPLES]))


# ----------------------------------------------------------------------------------------- P11
@criterion("P11", "replay_anchors_on_broker", "Every replay anchor lies within its partition's offsets on the "
           "broker", ("replay_anchors.json",), basis="observed")
def replay_anchors_on_broker(ctx: GateContext) -> Result:
    obs = ctx.observed()
    anchors = ctx.field("replay_anchors.json", "anchors")
    wrong: list[dict[str, Any]] = []
    for anchor in anchors:
        topic, partition = str(anchor.get("topic")), anchor.get("partition")
        view = obs.topics.get(topic)
        marks = view.watermarks.get(partition) if view is not None and isinstance(partition, int) else None
        if marks is None or not isinstance(anchor.get("end_offset"), int) or anchor["end_offset"] > marks.high \
                or int(anchor.get("start_offset", -1)) < marks.low:
            wrong.append({"anchor": dict(anchor), "broker": [marks.low, marks.high] if marks else None})
    ok = bool(anchors) and not wrong
    return Result(ok, f"{len(anchors)} anchors within the broker's offsets" if ok else
                  f"{len(wrong)} anchors outside the broker's offsets (past the end or before the start)",
                  ("replay_anchors.json",), tuple(wrong[:EXAMPLES]))
