"""What the harness saw of a platform's substrate after (and, when it drove the run, before) a run: the
records of the run on every observed topic, the watermarks, the lanes' committed offsets and members, the
receipt, quarantine and stream_view objects, and the run's evidence files as read from the evidence bucket.

``Observations`` is the only thing observation-grounded checks read. It holds summaries whose size grows
with the run's records and objects, not with anything the platform chooses to report about itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.drive.envelope import identity, payload_hash
from pytest_spine.observe.groups import GroupObserver, GroupState
from pytest_spine.observe.topics import TopicObserver, TopicRecord, Watermarks

TopicPartitionKey = tuple[str, int]
Dedupe = tuple[str, str, str]
MAX_EXAMPLES = 5


@dataclass(slots=True)
class TopicView:
    """One topic's records as the harness read them, reduced to what the checks judge."""

    name: str
    watermarks: dict[int, Watermarks] = field(default_factory=dict)
    run_offsets: dict[int, list[int]] = field(default_factory=dict)  # partition -> offsets of this run's records
    foreign: list[dict[str, Any]] = field(default_factory=list)  # records of another run (first few)
    foreign_by_partition: dict[int, list[int]] = field(default_factory=dict)
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    tuples: Counter[Dedupe] = field(default_factory=Counter)
    tuple_offsets: dict[Dedupe, list[tuple[int, int]]] = field(default_factory=dict)
    tuple_hashes: dict[Dedupe, str] = field(default_factory=dict)  # recomputed payload hash of the first record
    hash_mismatches: list[dict[str, Any]] = field(default_factory=list)  # header hash != recomputed
    sources: set[tuple[str, int, int]] = field(default_factory=set)  # lane outputs: input records they derive from
    ready: dict[tuple[int, int], Mapping[str, Any]] = field(default_factory=dict)  # (partition, offset) -> READY
    records: int = 0

    def run_records(self) -> int:
        return sum(len(v) for v in self.run_offsets.values())


@dataclass(frozen=True, slots=True)
class LaneView:
    group_key: str
    group_id: str
    inputs: tuple[str, ...]
    output: str
    committed: Mapping[TopicPartitionKey, int | None]
    state: GroupState | None


@dataclass(slots=True)
class Observations:
    platform_run_id: str
    topics_on_broker: dict[str, int] = field(default_factory=dict)
    topics: dict[str, TopicView] = field(default_factory=dict)
    lanes: dict[str, LaneView] = field(default_factory=dict)
    lanes_during_run: dict[str, GroupState] = field(default_factory=dict)  # when the harness drove the run
    bracket_before: dict[TopicPartitionKey, Watermarks] = field(default_factory=dict)
    buckets: dict[str, bool] = field(default_factory=dict)  # bucket handle -> exists
    receipts: list[Mapping[str, Any]] = field(default_factory=list)
    receipt_problems: list[str] = field(default_factory=list)
    quarantine: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)  # payload_key -> object
    quarantine_problems: list[str] = field(default_factory=list)
    stream_view_rows: dict[str, int] = field(default_factory=dict)  # output_id -> rows counted in objects
    stream_view_problems: list[str] = field(default_factory=list)
    evidence_keys: list[str] = field(default_factory=list)
    evidence_problems: dict[str, str] = field(default_factory=dict)  # relpath -> why it was not imported
    evidence_imported: list[str] = field(default_factory=list)
    gate_health: Mapping[str, Any] | None = None
    database: dict[str, int] | None = None  # rows per declared table, read in one read-only snapshot
    answers: list[Mapping[str, Any]] = field(default_factory=list)  # the gate's answers to the harness
    notes: list[str] = field(default_factory=list)

    def receipts_by_outcome(self) -> Counter[str]:
        return Counter(str(r.get("outcome")) for r in self.receipts)

    def published(self, ident: Dedupe) -> tuple[int, str | None]:
        """How many records the tuple has on the observed topics, and the payload hash of the first."""
        count, first = 0, None
        for view in self.topics.values():
            count += view.tuples.get(ident, 0)
            first = first or view.tuple_hashes.get(ident)
        return count, first

    def topic_end(self, topic: str, partition: int) -> int | None:
        view = self.topics.get(topic)
        marks = view.watermarks.get(partition) if view else None
        return marks.high if marks else None

    def summary(self) -> dict[str, Any]:
        """A bounded, JSON-able account of what was observed (written to the bundle)."""
        return {
            "topics_on_broker": dict(sorted(self.topics_on_broker.items())),
            "topics": {name: {"records_read": v.records, "run_records": v.run_records(),
                              "foreign_records": sum(len(x) for x in v.foreign_by_partition.values()),
                              "unreadable_records": len(v.unreadable),
                              "watermarks": {str(p): [m.low, m.high] for p, m in sorted(v.watermarks.items())},
                              "tuples_published_more_than_once": sum(1 for n in v.tuples.values() if n > 1)}
                       for name, v in sorted(self.topics.items())},
            "lanes": {key: {"group_id": lane.group_id, "state": lane.state.state if lane.state else None,
                            "members": len(lane.state.members) if lane.state else None,
                            "committed": {f"{t}[{p}]": o for (t, p), o in sorted(lane.committed.items())}}
                      for key, lane in sorted(self.lanes.items())},
            "buckets": dict(sorted(self.buckets.items())),
            "receipts": {"objects": len(self.receipts), "by_outcome": dict(sorted(self.receipts_by_outcome().items())),
                         "problems": self.receipt_problems[:MAX_EXAMPLES]},
            "quarantine": {"referenced": len(self.quarantine),
                           "problems": self.quarantine_problems[:MAX_EXAMPLES]},
            "stream_view_rows": dict(sorted(self.stream_view_rows.items())),
            "evidence": {"objects": len(self.evidence_keys), "imported": len(self.evidence_imported),
                         "refused": dict(sorted(self.evidence_problems.items()))},
            "gate_health": dict(self.gate_health) if self.gate_health is not None else None,
            "answers": len(self.answers),
            "notes": list(self.notes),
        }


def observe_topic(view: TopicView, records: Iterable[TopicRecord], run_id: str, *, ingest: bool,
                  lane_output: bool, control: bool,
                  on_record: Callable[[TopicRecord, Dedupe | None], None] | None = None) -> None:
    """Fold one topic's records into its view; the run's records are those whose value names the run."""
    for record in records:
        view.records += 1
        value = record.value
        if record.value_error is not None or not isinstance(value, Mapping):
            if len(view.unreadable) < MAX_EXAMPLES:
                view.unreadable.append({"partition": record.partition, "offset": record.offset,
                                        "error": record.value_error or f"value is {type(value).__name__}"})
            view.foreign_by_partition.setdefault(record.partition, []).append(record.offset)
            continue
        if value.get("platform_run_id") != run_id:
            view.foreign_by_partition.setdefault(record.partition, []).append(record.offset)
            if len(view.foreign) < MAX_EXAMPLES:
                view.foreign.append({"topic": record.topic, "partition": record.partition, "offset": record.offset,
                                     "platform_run_id": value.get("platform_run_id"),
                                     "event_id": value.get("event_id")})
            continue
        view.run_offsets.setdefault(record.partition, []).append(record.offset)
        ident = identity(value) if ingest else None
        if ident is not None:
            view.tuples[ident] += 1
            view.tuple_offsets.setdefault(ident, []).append((record.partition, record.offset))
            declared = record.headers.get("payload_hash")
            recomputed = payload_hash(value.get("payload"))
            view.tuple_hashes.setdefault(ident, recomputed)
            if declared != recomputed and len(view.hash_mismatches) < MAX_EXAMPLES:
                view.hash_mismatches.append({"partition": record.partition, "offset": record.offset,
                                             "header": declared, "recomputed": recomputed})
        if lane_output:
            source = value.get("source")
            if isinstance(source, Mapping) and isinstance(source.get("offset"), int):
                view.sources.add((str(source.get("topic")), int(source.get("partition", -1)),
                                  int(source["offset"])))
        if control and value.get("message_type") == "READY":
            view.ready[(record.partition, record.offset)] = dict(value)
        if on_record is not None:
            on_record(record, ident)


def observe_lanes(groups: GroupObserver, lanes: Iterable[Any],
                  partitions_of: Callable[[str], Iterable[int]]) -> dict[str, LaneView]:
    lanes = list(lanes)
    states = groups.describe(lane.group_id for lane in lanes)
    views: dict[str, LaneView] = {}
    for lane in lanes:
        wanted = [(topic, p) for topic in lane.inputs for p in partitions_of(topic)]
        views[lane.group_key] = LaneView(lane.group_key, lane.group_id, lane.inputs, lane.output,
                                         groups.committed(lane.group_id, wanted), states.get(lane.group_id))
    return views


def read_topics(observer: TopicObserver, obs: Observations, topics: Iterable[str], *, ingest: Iterable[str],
                outputs: Iterable[str], control: str | None, deadline_s: float,
                on_record: Callable[[TopicRecord, Dedupe | None], None] | None = None) -> None:
    ingest_set, output_set = set(ingest), set(outputs)
    names = sorted(set(topics))
    marks = observer.watermarks(names)
    for name in names:
        view = obs.topics.setdefault(name, TopicView(name))
        view.watermarks = {p: m for (t, p), m in marks.items() if t == name}
        ranges = {(name, p): (m.low, m.high) for p, m in view.watermarks.items()}
        observe_topic(view, observer.read(ranges, deadline_s=deadline_s), obs.platform_run_id,
                      ingest=name in ingest_set, lane_output=name in output_set, control=name == control,
                      on_record=on_record)
