"""RTDL core (P8): one consumer group over the context and traffic topics. Context becomes projections;
traffic joins them; a join miss is an explicit, counted degrade with its reason. Every record's durable
state write happens BEFORE its offset is committed, and the origin offsets are kept for replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.handles import SMOKE_EVENT_CLASS
from reference_impl.ports import BusRecord
from reference_impl.runtime import Runtime

PROCESS = "rtdl"
CONTEXT_TOPIC_KEYS: tuple[str, ...] = (
    "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1", "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1")
TRAFFIC_TOPIC_KEY = "FP_BUS_TRAFFIC_FRAUD_V1"


class StateWriteError(Exception):
    """The durable state store refused a write."""


@dataclass(slots=True)
class StateStore:
    """RTDL's durable state (the runtime DB in dev_min): projections and decision inputs."""

    projections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    decision_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    durable_upto: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset durably written
    fail_next: int = 0

    def write(self, kind: str, key: str, value: Mapping[str, Any], origin: tuple[str, int, int]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise StateWriteError(f"state write {kind}/{key} failed")
        if kind == "decision_input":
            self.decision_inputs[key] = dict(value)
        else:
            self.projections.setdefault(kind, {})[key] = dict(value)
        topic, partition, offset = origin
        self.durable_upto[(topic, partition)] = max(self.durable_upto.get((topic, partition), 0), offset + 1)


@dataclass(slots=True)
class RtdlStats:
    processed: int = 0
    degrade_counts: Counter[str] = field(default_factory=Counter)
    join_misses: int = 0
    commit_violations: int = 0
    write_failures: int = 0
    skipped_out_of_scope: int = 0
    published_inputs: int = 0
    consumed_by_topic: Counter[str] = field(default_factory=Counter)


class RtdlCore:
    def __init__(self, runtime: Runtime, *, required_platform_run_id: str | None, state: StateStore | None = None,
                 process: str = PROCESS) -> None:
        runtime.check_scope(process, required_platform_run_id)
        self.rt = runtime
        self.process = process
        self.required = required_platform_run_id
        self.state = state if state is not None else StateStore()
        self.stats = RtdlStats()
        if runtime.mutated("rtdl_write_failures"):
            self.state.fail_next = 1
        self.group = runtime.group("RTDL_CORE_CONSUMER_GROUP_ID", process)
        self.context_topics = {runtime.topic(k, process).name: k for k in CONTEXT_TOPIC_KEYS}
        self.traffic_topic = runtime.topic(TRAFFIC_TOPIC_KEY, process).name
        self.out_topic = runtime.topic("FP_BUS_RTDL_V1", process).name
        self.context_classes = tuple(runtime.handles.output_event_classes[o] for o in
                                     ("arrival_events", "arrival_entities", "flow_anchor_fraud"))
        self.origin: dict[str, dict[int, list[int]]] = {}  # topic -> partition -> [first, last] consumed
        self._unwritten: set[tuple[str, int, int]] = set()  # records whose durable write failed

    @property
    def topics(self) -> list[str]:
        return [*self.context_topics, self.traffic_topic]

    def restart(self) -> None:
        """A restarted worker resumes from its commits (positions are not durable)."""
        reset = getattr(self.rt.bus, "reset_positions", None)
        if callable(reset):
            reset(self.group)
        else:
            for topic in self.topics:
                for partition, offset in self.rt.bus.committed(self.group, topic).items():
                    self.rt.bus.seek(self.group, topic, partition, offset)

    # ------------------------------------------------------------------ processing
    def process_available(self, max_records: int = 500) -> int:
        """Drain every topic (context first, so traffic finds what exists). Returns records processed."""
        total = 0
        budget: int | None = None
        if self.rt.mutated("consumer_not_caught_up"):
            budget = max(1, sum(self.rt.bus.end_offsets(self.traffic_topic).values()) // 2)
        for topic in self.topics:
            while True:
                limit = max_records
                if topic == self.traffic_topic and budget is not None:
                    limit = min(limit, budget - self.stats.consumed_by_topic[topic])
                    if limit <= 0:
                        break
                batch = self.rt.bus.poll(self.group, topic, max_records=limit)
                if not batch:
                    break
                self._process_batch(topic, batch)
                total += len(batch)
        return total

    def _process_batch(self, topic: str, batch: list[BusRecord]) -> None:
        by_partition: dict[int, list[BusRecord]] = {}
        for rec in batch:
            by_partition.setdefault(rec.partition, []).append(rec)
        for partition, records in sorted(by_partition.items()):
            for rec in records:
                if self.rt.mutated("ack_before_write"):
                    self._commit(topic, partition, rec.offset + 1)
                self._apply(rec)
            if not self.rt.mutated("ack_before_write"):
                self._commit(topic, partition, records[-1].offset + 1)

    def _commit(self, topic: str, partition: int, next_offset: int) -> None:
        self.rt.faults.hit("rtdl.before_commit", group=self.group, topic=topic, partition=partition,
                           offset=next_offset)
        skipped = {slot for slot in self._unwritten if slot[:2] == (topic, partition) and slot[2] < next_offset}
        if next_offset > self.state.durable_upto.get((topic, partition), 0) or skipped:
            self.stats.commit_violations += 1
        self._unwritten -= skipped
        self.rt.bus.commit(self.group, topic, partition, next_offset)
        self.rt.record(self.process, "ok", "offset_commit", group=self.group, topic=topic, partition=partition,
                       offset=next_offset)

    def _apply(self, rec: BusRecord) -> None:
        value = rec.value
        event_id = str(value.get("event_id"))
        self.rt.record(self.process, "ok", "consume", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, event_id=event_id)
        self.stats.processed += 1
        self.stats.consumed_by_topic[rec.topic] += 1
        span = self.origin.setdefault(rec.topic, {}).setdefault(rec.partition, [rec.offset, rec.offset])
        span[0], span[1] = min(span[0], rec.offset), max(span[1], rec.offset)
        origin = (rec.topic, rec.partition, rec.offset)
        payload = value.get("payload") or {}
        if value.get("platform_run_id") != self.required:
            self.stats.skipped_out_of_scope += 1
            self._write("skip", event_id, {"reason": "out_of_scope"}, origin)
            return
        event_class = str(value.get("event_class"))
        if rec.topic in self.context_topics:
            self._write(event_class, str(payload.get("flow_id")), payload, origin)
            return
        if event_class == SMOKE_EVENT_CLASS:
            self._write("skip", event_id, {"reason": "ig_smoke"}, origin)
            return
        self._join_and_write(value, payload, event_id, origin)

    def _join_and_write(self, value: Mapping[str, Any], payload: Mapping[str, Any], event_id: str,
                        origin: tuple[str, int, int]) -> None:
        flow_id = str(payload.get("flow_id"))
        context: dict[str, Any] = {}
        missing: list[str] = []
        for cls in self.context_classes:
            row = self.state.projections.get(cls, {}).get(flow_id)
            if row is None:
                missing.append(cls)
            else:
                context[cls] = row
        self.rt.record(self.process, "ok", "join", event_id=event_id, context="missing" if missing else "present",
                       missing=missing)
        degraded = bool(missing)
        reasons: list[str] = []
        if missing:
            self.stats.join_misses += 1
            if self.rt.mutated("silent_degrade"):
                degraded = False  # the drift: guess defaults and say nothing
                for cls in missing:
                    context[cls] = {"flow_id": flow_id, "defaulted": True}
            else:
                # One reason per event (naming every missing context), so counts equal degraded events.
                reason = "missing_context:" + "+".join(missing)
                reasons = [reason]
                self.stats.degrade_counts[reason] += 1
                self.rt.record(self.process, "ok", "degrade", event_id=event_id, reason=reason)
        decision_input = {"platform_run_id": value.get("platform_run_id"),
                          "scenario_run_id": value.get("scenario_run_id"), "event_id": event_id,
                          "flow_id": flow_id, "amount_minor": payload.get("amount_minor"),
                          "degraded": degraded, "degrade_reasons": reasons,
                          "context_present": sorted(context), "origin": list(origin)}
        if not self._write("decision_input", event_id, decision_input, origin):
            return
        # The output names the input record it derives from (the lane-output contract: one output per input).
        source = {"topic": origin[0], "partition": origin[1], "offset": origin[2]}
        self.rt.bus.produce(self.out_topic, flow_id, {**decision_input, "source": source})
        self.stats.published_inputs += 1

    def _write(self, kind: str, key: str, value: Mapping[str, Any], origin: tuple[str, int, int]) -> bool:
        topic, partition, offset = origin
        try:
            self.state.write(kind, key, value, origin)
        except StateWriteError as error:
            self.stats.write_failures += 1
            self.rt.record(self.process, "fail", "state_write", group=self.group, topic=topic, partition=partition,
                           offset=offset, key=key, error=str(error))
            if self.rt.mutated("rtdl_write_failures"):
                self._unwritten.add(origin)
                return False  # the drift: swallow it and let the commit go past the record
            raise
        self.rt.record(self.process, "ok", "state_write", group=self.group, topic=topic, partition=partition,
                       offset=offset, key=key)
        self.rt.faults.hit("rtdl.after_state_write", topic=topic, partition=partition, offset=offset, key=key)
        return True

    # ------------------------------------------------------------------ observation
    def lag(self) -> dict[str, dict[int, int]]:
        out: dict[str, dict[int, int]] = {}
        for topic in self.topics:
            ends = self.rt.bus.end_offsets(topic)
            committed = self.rt.bus.committed(self.group, topic)
            starts = self.rt.bus.start_offsets(topic)
            out[topic] = {p: end - committed.get(p, starts.get(p, 0)) for p, end in ends.items()}
        return out

    def offsets_snapshot(self) -> dict[str, list[dict[str, int]]]:
        topics: dict[str, list[dict[str, int]]] = {}
        for topic in self.topics:
            ends = self.rt.bus.end_offsets(topic)
            starts = self.rt.bus.start_offsets(topic)
            committed = self.rt.bus.committed(self.group, topic)
            rows = [{"partition": p, "start_offset": starts.get(p, 0), "end_offset": end,
                     "committed_offset": committed.get(p, starts.get(p, 0))} for p, end in sorted(ends.items())]
            if self.rt.mutated("origin_offsets_incomplete") and topic == self.traffic_topic:
                rows = rows[:-1]
            topics[topic] = rows
        return topics
