"""Decision lane (P9): DF makes deterministic decisions (degraded provenance included), AL executes actions
idempotently by ``action_key = sha256(decision_id, action_type)``, DLA keeps an append-only audit, and
REVIEW decisions become case triggers. Offsets are committed after the writes, as in RTDL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.append_log import AppendOnlyLog
from reference_impl.canonical import derive_id, sha256_hex
from reference_impl.ports import BusRecord
from reference_impl.runtime import Runtime

PROCESS = "decision_lane"
ACTION_BY_OUTCOME = {"APPROVE": "approve_txn", "DECLINE": "block_card", "REVIEW": "open_case"}


def decide(decision_input: Mapping[str, Any], seed: int) -> str:
    """Deterministic: the same input and seed always decide the same way. Degraded inputs go to REVIEW."""
    if decision_input.get("degraded"):
        return "REVIEW"
    score = int(sha256_hex(f"{seed}|{decision_input.get('event_id')}")[:8], 16) % 100
    amount = int(decision_input.get("amount_minor") or 0)
    if amount > 450_000 or score < 4:
        return "DECLINE"
    if score < 10:
        return "REVIEW"
    return "APPROVE"


def action_key_for(decision_id: str, action_type: str) -> str:
    return sha256_hex(f"{decision_id}|{action_type}")


@dataclass(slots=True)
class LaneStats:
    consumed: int = 0
    decisions: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    degrade_counts: Counter[str] = field(default_factory=Counter)
    intents: int = 0
    executions: Counter[str] = field(default_factory=Counter)
    duplicates_prevented: int = 0
    redelivered: int = 0
    case_triggers: int = 0
    commit_violations: int = 0


class DecisionLane:
    def __init__(self, runtime: Runtime, *, required_platform_run_id: str | None, process: str = PROCESS) -> None:
        runtime.check_scope(process, required_platform_run_id)
        self.rt = runtime
        self.process = process
        self.required = required_platform_run_id
        self.group = runtime.group("DECISION_LANE_CONSUMER_GROUP_ID", process)
        self.in_topic = runtime.topic("FP_BUS_RTDL_V1", process).name
        self.audit_topic = runtime.topic("FP_BUS_AUDIT_V1", process).name
        self.trigger_topic = runtime.topic("FP_BUS_CASE_TRIGGERS_V1", process).name
        self.decisions: dict[str, dict[str, Any]] = {}
        self.audit = AppendOnlyLog("dla.audit", allow_rewrite=runtime.mutated("audit_overwrite"))
        self.stats = LaneStats()
        self._durable_upto: dict[int, int] = {}

    def process_available(self, max_records: int = 500) -> int:
        total = 0
        while True:
            batch = self.rt.bus.poll(self.group, self.in_topic, max_records=max_records)
            if not batch:
                return total
            by_partition: dict[int, list[BusRecord]] = {}
            for rec in batch:
                by_partition.setdefault(rec.partition, []).append(rec)
            for partition, records in sorted(by_partition.items()):
                for rec in records:
                    self._handle(rec)
                    self._durable_upto[partition] = rec.offset + 1
                next_offset = records[-1].offset + 1
                self.rt.faults.hit("decision_lane.before_commit", partition=partition, offset=next_offset)
                if next_offset > self._durable_upto.get(partition, 0):
                    self.stats.commit_violations += 1
                self.rt.bus.commit(self.group, self.in_topic, partition, next_offset)
                self.rt.record(self.process, "ok", "offset_commit", group=self.group, topic=self.in_topic,
                               partition=partition, offset=next_offset)
            total += len(batch)

    def redeliver(self, count: int) -> int:
        """At-least-once redelivery: seek back over the last ``count`` records of partition 0."""
        committed = self.rt.bus.committed(self.group, self.in_topic).get(0, 0)
        back = min(count, committed)
        self.rt.bus.seek(self.group, self.in_topic, 0, committed - back)
        self.stats.redelivered += back
        return back

    def _handle(self, rec: BusRecord) -> None:
        value = rec.value
        event_id = str(value.get("event_id"))
        self.rt.record(self.process, "ok", "consume", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, event_id=event_id)
        self.stats.consumed += 1
        if self.rt.mutated("decision_lane_stalled"):
            return
        if value.get("platform_run_id") != self.required:
            self._state_write(rec, f"skip:{event_id}")
            return
        decision_id = derive_id(self.rt.run_id, event_id)
        known = self.decisions.get(decision_id)
        if known is not None:
            self._state_write(rec, decision_id)  # the idempotent upsert of an already-known decision
            self._audit(known, new=False)
        else:
            outcome = decide(value, self.rt.config.seed)
            degraded = bool(value.get("degraded")) and not self.rt.mutated("decision_hides_degrade")
            reasons = list(value.get("degrade_reasons") or []) if degraded else []
            known = {"decision_id": decision_id, "event_id": event_id, "outcome": outcome, "degraded": degraded,
                     "degrade_reasons": reasons, "flow_id": value.get("flow_id"),
                     "scenario_run_id": value.get("scenario_run_id"),
                     "action_type": ACTION_BY_OUTCOME[outcome]}
            self.decisions[decision_id] = known
            self._state_write(rec, decision_id)
            self.rt.record(self.process, "ok", "decision", decision_id=decision_id, event_id=event_id,
                           outcome=outcome, degraded=degraded)
            self.stats.decisions += 1
            self.stats.by_outcome[outcome] += 1
            if reasons:
                reason = "+".join(reasons)
                self.stats.degrade_counts[reason] += 1
                self.rt.record(self.process, "ok", "degrade", event_id=event_id, reason=reason)
            self._audit(known, new=True, source=rec)
            if outcome == "REVIEW":
                self._trigger(known)
        self._act(known)

    def _state_write(self, rec: BusRecord, key: str) -> None:
        self.rt.record(self.process, "ok", "state_write", group=self.group, topic=rec.topic,
                       partition=rec.partition, offset=rec.offset, key=key)

    def _act(self, decision: Mapping[str, Any]) -> None:
        key = action_key_for(str(decision["decision_id"]), str(decision["action_type"]))
        self.stats.intents += 1
        if self.stats.executions[key] and not self.rt.mutated("double_action"):
            self.stats.duplicates_prevented += 1
            return
        self.stats.executions[key] += 1
        self.rt.record(self.process, "ok", "action_execute", action_key=key, decision_id=decision["decision_id"])

    def _audit(self, decision: Mapping[str, Any], *, new: bool, source: BusRecord | None = None) -> None:
        idem = str(decision["decision_id"])
        record = {"decision_id": idem, "event_id": decision["event_id"], "outcome": decision["outcome"],
                  "degraded": decision["degraded"], "degrade_reasons": decision["degrade_reasons"],
                  "action_type": decision["action_type"], "at_utc": self.rt.now_iso()}
        seq = self.audit.seq_for(idem)
        if seq is not None:
            if self.rt.mutated("audit_overwrite"):
                self.audit.rewrite(seq, {**record, "idempotency_key": idem})  # the drift: correct in place
                self.rt.record(self.process, "ok", "audit_rewrite", seq=seq)
            return
        seq = self.audit.append({**record, "idempotency_key": idem}, idempotency_key=idem)
        self.rt.record(self.process, "ok", "audit_append", seq=seq, idempotency_key=idem)
        published: dict[str, Any] = {**record, "seq": seq, "platform_run_id": self.rt.run_id}
        if source is not None:  # the RTDL record the decision derives from (the lane-output contract)
            published["source"] = {"topic": source.topic, "partition": source.partition, "offset": source.offset}
        self.rt.bus.produce(self.audit_topic, idem, published)

    def _trigger(self, decision: Mapping[str, Any]) -> None:
        trigger = {"trigger_id": derive_id("case", decision["decision_id"]), "decision_id": decision["decision_id"],
                   "case_subject_key": decision["flow_id"], "event_id": decision["event_id"],
                   "platform_run_id": self.rt.run_id, "scenario_run_id": decision.get("scenario_run_id"),
                   "degraded": decision["degraded"]}
        self.rt.bus.produce(self.trigger_topic, str(decision["flow_id"]), trigger)
        self.stats.case_triggers += 1

    def try_rewrite_audit(self) -> bool:
        """The audit_rewrite drill: True when the in-place update was refused."""
        entries = self.audit.entries()
        if not entries:
            return True
        try:
            self.audit.rewrite(1, {**entries[0], "outcome": "REWRITTEN"})
        except Exception:
            self.rt.record("drill", "fail", "audit_rewrite", seq=1)
            return True
        self.rt.record("drill", "ok", "audit_rewrite", seq=1)
        return False
