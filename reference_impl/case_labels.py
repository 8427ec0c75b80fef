"""Case Management and Label Store (P10): append-only case timelines keyed by the case subject key, and
append-only label assertions, both deduplicated by idempotency keys (redelivered triggers never
double-append and history is never corrected in place)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reference_impl.append_log import AppendOnlyLog
from reference_impl.canonical import derive_id
from reference_impl.ports import BusRecord
from reference_impl.runtime import Runtime

PROCESS = "case_labels"


@dataclass(slots=True)
class CaseStats:
    triggers_processed: int = 0
    timeline_events_appended: int = 0
    case_duplicates_ignored: int = 0
    assertions_appended: int = 0
    label_duplicates_ignored: int = 0
    appends_per_key: Counter[str] = field(default_factory=Counter)
    label_appends_per_key: Counter[str] = field(default_factory=Counter)
    redelivered: int = 0


class CaseLabels:
    def __init__(self, runtime: Runtime, *, required_platform_run_id: str | None, process: str = PROCESS) -> None:
        runtime.check_scope(process, required_platform_run_id)
        self.rt = runtime
        self.process = process
        self.required = required_platform_run_id
        self.group = runtime.group("CASE_LABELS_CONSUMER_GROUP_ID", process)
        self.topic = runtime.topic("FP_BUS_CASE_TRIGGERS_V1", process).name
        self.label_topic = runtime.topic("FP_BUS_LABELS_EVENTS_V1", process).name
        self.timelines = AppendOnlyLog("cm.timelines", allow_rewrite=runtime.mutated("timeline_overwrite"))
        self.labels = AppendOnlyLog("ls.assertions")
        self.stats = CaseStats()
        self.as_of_utc: str | None = None

    def process_available(self, max_records: int = 500) -> int:
        total = 0
        while True:
            batch = self.rt.bus.poll(self.group, self.topic, max_records=max_records)
            if not batch:
                return total
            last: dict[int, int] = {}
            for rec in batch:
                self._handle(rec)
                last[rec.partition] = rec.offset + 1
            for partition, next_offset in sorted(last.items()):
                self.rt.bus.commit(self.group, self.topic, partition, next_offset)
                self.rt.record(self.process, "ok", "offset_commit", group=self.group, topic=self.topic,
                               partition=partition, offset=next_offset)
            total += len(batch)

    def redeliver(self, count: int) -> int:
        committed = self.rt.bus.committed(self.group, self.topic).get(0, 0)
        back = min(count, committed)
        self.rt.bus.seek(self.group, self.topic, 0, committed - back)
        self.stats.redelivered += back
        return back

    def _handle(self, rec: BusRecord) -> None:
        trigger = rec.value
        self.rt.record(self.process, "ok", "consume", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, event_id=trigger.get("event_id"))
        # The timeline/label store write of this record (idempotent), before its offset is committed.
        self.rt.record(self.process, "ok", "state_write", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, key=str(trigger.get("trigger_id")))
        if trigger.get("platform_run_id") != self.required:
            return
        self.stats.triggers_processed += 1
        subject = str(trigger.get("case_subject_key"))
        case_key = str(trigger.get("trigger_id"))
        ignore_keys = self.rt.mutated("case_double_append")
        seen = self.timelines.seq_for(case_key)
        if seen is not None and self.rt.mutated("timeline_overwrite"):
            self.timelines.rewrite(seen, {"case_subject_key": subject, "event": "case_reopened",
                                          "idempotency_key": case_key})  # the drift: correct in place
            self.rt.record(self.process, "ok", "case_rewrite", seq=seen, key=case_key)
        elif seen is not None and not ignore_keys:
            self.stats.case_duplicates_ignored += 1
        elif not self.rt.mutated("case_writes_dropped"):
            seq = self.timelines.append({"case_id": derive_id("case", subject), "case_subject_key": subject,
                                         "event": "case_opened", "decision_id": trigger.get("decision_id"),
                                         "idempotency_key": case_key, "at_utc": self.rt.now_iso()},
                                        idempotency_key=case_key)
            self.stats.timeline_events_appended += 1
            self.stats.appends_per_key[case_key] += 1
            self.rt.record(self.process, "ok", "case_append", seq=seq, idempotency_key=case_key)
        label = "fraud_suspected" if trigger.get("degraded") is False else "needs_context"
        label_key = derive_id(case_key, label)
        if self.labels.seq_for(label_key) is not None and not ignore_keys:
            self.stats.label_duplicates_ignored += 1
            return
        self.as_of_utc = self.rt.now_iso()
        seq = self.labels.append({"case_subject_key": subject, "label": label, "idempotency_key": label_key,
                                  "as_of_utc": self.as_of_utc}, idempotency_key=label_key)
        self.stats.assertions_appended += 1
        self.stats.label_appends_per_key[label_key] += 1
        self.rt.record(self.process, "ok", "label_append", seq=seq, idempotency_key=label_key)

    def exemplar_case_ids(self, limit: int = 5) -> list[str]:
        seen: list[str] = []
        for entry in self.timelines.entries():
            case_id = entry.get("case_id")
            if isinstance(case_id, str) and case_id not in seen:
                seen.append(case_id)
            if len(seen) >= limit:
                break
        return seen

    def try_rewrite_timeline(self) -> bool:
        entries = self.timelines.entries()
        if not entries:
            return True
        try:
            self.timelines.rewrite(1, {**entries[0], "event": "REWRITTEN"})
        except Exception:
            self.rt.record("drill", "fail", "case_rewrite", seq=1)
            return True
        self.rt.record("drill", "ok", "case_rewrite", seq=1)
        return False

    def summaries(self) -> tuple[dict[str, Any], dict[str, Any]]:
        case = {"triggers_processed": self.stats.triggers_processed,
                "timeline_events_appended": self.stats.timeline_events_appended,
                "duplicates_ignored": self.stats.case_duplicates_ignored,
                "redelivered": self.stats.redelivered,
                "max_appends_per_idempotency_key": max(self.stats.appends_per_key.values(), default=0),
                "exemplar_case_ids": self.exemplar_case_ids(),
                "append_only": self.timelines.status().to_json()}
        labels = {"assertions_appended": self.stats.assertions_appended,
                  "duplicates_ignored": self.stats.label_duplicates_ignored,
                  "max_appends_per_idempotency_key": max(self.stats.label_appends_per_key.values(), default=0),
                  "as_of_utc": self.as_of_utc,
                  "append_only": self.labels.status().to_json()}
        return case, labels
