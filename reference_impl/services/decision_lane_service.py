"""The decision lane (DF/AL/DLA) as a long-running consumer process:
``python -m reference_impl.services.decision_lane_service --config FILE``.

It consumes the RTDL topic in the registry's decision-lane consumer group over KafkaBus and keeps its durable
outputs as write-once objects in the S3 archive (``<archive prefix>decision_lane/``): the decision
(``decisions/<decision_id>.json``, decided by the in-process ``decide``), the DLA audit record
(``audit/<decision_id>.json``) and the executed action (``actions/<action_key>.json``, with
``action_key = sha256(decision_id, action_type)``). The write-once put of the action IS its idempotency
claim: a redelivered decision finds it and does not execute again. A partition's offsets are committed
only after every record's writes (commit-after-write); the audit and case-trigger topics are published at
least once (keyed by the idempotency key, so readers dedupe).

Each audit record it publishes names the RTDL record it derives from (``source``), one per delivered input.
Run scope, group membership, readiness, status file, SIGTERM and the pause and crash knobs as in
``rtdl_service``. Mutants: ``double_action`` (AL
executes a redelivered decision's action again: the claim is skipped) and the service's own
``lane_ack_before_write`` (each offset is committed before the record's writes).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl.canonical import canonical_json, derive_id
from reference_impl.decision_lane import ACTION_BY_OUTCOME, PROCESS, action_key_for, decide
from reference_impl.errors import ScopeMismatch
from reference_impl.ports import BusRecord
from reference_impl.runtime import Runtime
from reference_impl.services.worker import (
    EXIT_CONFIG,
    EXIT_SCOPE,
    ConfigError,
    StatusFile,
    arm_crash,
    arm_pause,
    build_runtime,
    consume_forever,
    join_group,
    load_config,
    object_key,
    put_once,
    run_main,
    write_ready,
)

PROG = "decision_lane_service"
ARCHIVE_FOLDER = "decision_lane/"
ACK_BEFORE_WRITE = "lane_ack_before_write"
SERVICE_MUTANTS = frozenset({ACK_BEFORE_WRITE})


class DurableDecisionLane:
    def __init__(self, runtime: Runtime, *, required_platform_run_id: str | None,
                 service_mutations: frozenset[str] = frozenset()) -> None:
        runtime.check_scope(PROCESS, required_platform_run_id)
        self.rt = runtime
        self.required = required_platform_run_id
        self.ack_before_write = ACK_BEFORE_WRITE in service_mutations
        self.group = runtime.group("DECISION_LANE_CONSUMER_GROUP_ID", PROCESS)
        self.in_topic = runtime.topic("FP_BUS_RTDL_V1", PROCESS).name
        self.audit_topic = runtime.topic("FP_BUS_AUDIT_V1", PROCESS).name
        self.trigger_topic = runtime.topic("FP_BUS_CASE_TRIGGERS_V1", PROCESS).name
        self.bucket = runtime.bucket("S3_ARCHIVE_BUCKET", PROCESS)
        self.prefix = runtime.prefix("S3_ARCHIVE_PREFIX_PATTERN", PROCESS) + ARCHIVE_FOLDER
        self.stats: Counter[str] = Counter()
        self.executions: Counter[str] = Counter()  # action key -> executions by this process
        self.degrade_counts: Counter[str] = Counter()
        self._durable_upto: dict[int, int] = {}  # partition -> next offset whose writes are done

    def stats_json(self) -> dict[str, Any]:
        """The lane's own counters of this process (its StatusFile)."""
        return {**{k: self.stats[k] for k in ("consumed", "decisions", "intents", "duplicates_prevented",
                                              "commit_violations")},
                "by_outcome": {k[len("outcome:"):]: n for k, n in sorted(self.stats.items())
                               if k.startswith("outcome:")},
                "degrade_counts": dict(sorted(self.degrade_counts.items())),
                "max_executions_per_key": max(self.executions.values(), default=0),
                "executions": dict(sorted(self.executions.items()))}

    def restart(self) -> None:
        reset = getattr(self.rt.bus, "reset_positions", None)
        if callable(reset):
            reset(self.group)

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
                    if self.ack_before_write:
                        self._commit(partition, rec.offset + 1)
                    self._handle(rec)
                    self._durable_upto[partition] = rec.offset + 1
                if not self.ack_before_write:
                    self._commit(partition, records[-1].offset + 1)
            total += len(batch)

    def _commit(self, partition: int, next_offset: int) -> None:
        self.rt.faults.hit("decision_lane.before_commit", topic=self.in_topic, partition=partition,
                           offset=next_offset)
        if next_offset > self._durable_upto.get(partition, 0):
            self.stats["commit_violations"] += 1  # committed past a record whose writes are not done
        self.rt.bus.commit(self.group, self.in_topic, partition, next_offset)
        self.rt.record(PROCESS, "ok", "offset_commit", group=self.group, topic=self.in_topic, partition=partition,
                       offset=next_offset)

    def _put(self, folder: str, name: str, document: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
        return put_once(self.rt.store, self.bucket, object_key(self.prefix, folder, name + ".json"), document)

    def _handle(self, rec: BusRecord) -> None:
        value = rec.value
        event_id = str(value.get("event_id"))
        self.rt.record(PROCESS, "ok", "consume", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, event_id=event_id)
        self.stats["consumed"] += 1
        if value.get("platform_run_id") != self.required:
            self._put("skips", event_id, {"event_id": event_id, "reason": "out_of_scope"})
            self._written(rec, f"skip:{event_id}")
            return
        decision_id = derive_id(self.rt.run_id, event_id)
        outcome = decide(value, self.rt.config.seed)
        degraded = bool(value.get("degraded")) and not self.rt.mutated("decision_hides_degrade")
        decision = {"decision_id": decision_id, "event_id": event_id, "outcome": outcome, "degraded": degraded,
                    "degrade_reasons": list(value.get("degrade_reasons") or []) if degraded else [],
                    "flow_id": value.get("flow_id"), "scenario_run_id": value.get("scenario_run_id"),
                    "action_type": ACTION_BY_OUTCOME[outcome], "origin": [rec.topic, rec.partition, rec.offset]}
        new, decision = self._put("decisions", decision_id, decision)  # a redelivery keeps the first decision
        if new:
            self.rt.record(PROCESS, "ok", "decision", decision_id=decision_id, event_id=event_id,
                           outcome=decision["outcome"], degraded=decision["degraded"])
            self.stats["decisions"] += 1
            self.stats[f"outcome:{decision['outcome']}"] += 1
            if decision["degraded"]:
                self.degrade_counts["+".join(decision["degrade_reasons"])] += 1
        audit = {key: decision[key] for key in ("decision_id", "event_id", "outcome", "degraded", "degrade_reasons",
                                                 "action_type")}
        audit_new, _ = self._put("audit", decision_id, {**audit, "idempotency_key": decision_id})
        if audit_new:
            self.rt.record(PROCESS, "ok", "audit_append", idempotency_key=decision_id)
        # One audit record per delivered input, naming the RTDL record it derives from (the lane-output
        # contract); a redelivery publishes it again under the same idempotency key (readers dedupe).
        self.rt.bus.produce(self.audit_topic, decision_id, {
            **audit, "idempotency_key": decision_id, "platform_run_id": self.rt.run_id,
            "source": {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}})
        if decision["outcome"] == "REVIEW":
            trigger = {"trigger_id": derive_id("case", decision_id), "decision_id": decision_id,
                       "case_subject_key": decision["flow_id"], "event_id": event_id,
                       "platform_run_id": self.rt.run_id, "scenario_run_id": decision.get("scenario_run_id"),
                       "degraded": decision["degraded"]}
            self.rt.bus.produce(self.trigger_topic, str(decision["flow_id"]), trigger)
        self._act(decision)
        self._written(rec, decision_id)

    def _written(self, rec: BusRecord, key: str) -> None:
        """The record's durable writes are done (decision, audit, action claim): what INV-COMMIT-AFTER-WRITE
        pairs with the offset commit, as the in-process lane records it."""
        self.rt.record(PROCESS, "ok", "state_write", group=self.group, topic=rec.topic, partition=rec.partition,
                       offset=rec.offset, key=key)

    def _act(self, decision: Mapping[str, Any]) -> None:
        key = action_key_for(str(decision["decision_id"]), str(decision["action_type"]))
        self.rt.faults.hit("decision_lane.before_action", action_key=key, decision_id=decision["decision_id"])
        action = {"action_key": key, "decision_id": decision["decision_id"], "action_type": decision["action_type"],
                  "event_id": decision["event_id"]}
        if self.rt.mutated("double_action"):
            # The drift: no idempotency claim, the action runs again on every delivery.
            self.rt.store.put(self.bucket, object_key(self.prefix, "actions", key + ".json"),
                              canonical_json(action).encode())
            claimed = True
        else:
            claimed, _ = self._put("actions", key, action)
        self.stats["intents"] += 1
        if claimed:
            self.executions[key] += 1
            self.rt.record(PROCESS, "ok", "action_execute", action_key=key, decision_id=decision["decision_id"])
        else:
            self.stats["duplicates_prevented"] += 1
            self.rt.record(PROCESS, "ok", "action_duplicate_prevented", action_key=key,
                           decision_id=decision["decision_id"])


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, _ = load_config(PROG, argv)
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return EXIT_CONFIG
    service_mutations = frozenset(m for m in config.get("mutations", ()) if m in SERVICE_MUTANTS)
    setup = build_runtime(config, client_id=f"decision-lane-service-{os.getpid()}", service_mutants=SERVICE_MUTANTS)
    try:
        runtime = setup.runtime
        try:
            lane = DurableDecisionLane(runtime, required_platform_run_id=setup.required,
                                       service_mutations=service_mutations)
        except ScopeMismatch as error:
            print(f"{PROG}: {error}", file=sys.stderr, flush=True)
            return EXIT_SCOPE
        try:
            arm_pause(runtime, config.get("pause"), PROG)
            arm_crash(runtime, config.get("crash"), PROG)
        except ConfigError as error:
            print(error, file=sys.stderr, flush=True)
            return EXIT_CONFIG
        join_group(runtime, lane.group, [lane.in_topic], PROG)
        runtime.record(PROCESS, "ok", "service_start", pid=os.getpid(), group=lane.group)
        status = StatusFile(config.get("status_dir"), PROG, setup.required)
        status.write(lane.stats_json())
        write_ready(config.get("ready_path"), {"service": PROG, "pid": os.getpid(), "group": lane.group,
                                               "platform_run_id": setup.required})
        print(f"{PROG}: consuming {lane.in_topic} in group {lane.group} for run {setup.required}",
              file=sys.stderr, flush=True)
        consume_forever(PROG, lane.process_available, lane.restart, after=lambda: status.write(lane.stats_json()))
    finally:
        setup.close()
    return 0  # pragma: no cover - consume_forever only ends by an exception


if __name__ == "__main__":
    run_main(main)
