"""``run``: the platform's own run over its running daemons, phase by phase, each phase writing its evidence.

P1 run header, P2 daemon readiness, P3 oracle (seed, stream-sort, checker), P4 gate readiness (smoke done for
real over HTTP and Kafka), P5 scenario runner (lease, READY), P6 WSP, P7 ingest reconciliation from the
receipt objects and the topics, P8 RTDL offsets, P9 decisions/actions/audit, P10 cases and labels, P11 the
single-writer reporter. A failed phase stops the run (exit 1); its evidence so far stays.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from miniplat import VERSION, kafkaio, procs, store
from miniplat.config import Config, api_key_from_env
from miniplat.evidence import Evidence
from miniplat.httpc import Client
from miniplat.oracle import Oracle
from miniplat.start import health
from miniplat.util import canonical, log, sha256_hex, utc_now
from miniplat.wsp import Wsp

COMPONENT = "run"
OUTCOMES = ("ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS")
SCENARIO = "miniplat.v1"
IDLE_PACKS = ("case_labels", "obs_gov")  # their work runs as jobs of `run`, not as daemons


class PhaseFailed(Exception):
    def __init__(self, phase: str, reason: str) -> None:
        super().__init__(f"{phase}: {reason}")
        self.phase = phase


def equivalence_key(cfg: Config) -> str:
    knobs = cfg.scenario
    return canonical({"scenario": SCENARIO, "seed": int(knobs["seed"]), "traffic_rows": int(knobs["traffic_rows"]),
                      "context_rows": int(knobs["context_rows"]),
                      "outputs": list(knobs.get("outputs", ["traffic_fraud", "context_arrival_events"]))}).decode()


def scenario_run_id(cfg: Config) -> str:
    return sha256_hex(equivalence_key(cfg))


def image() -> dict[str, Any]:
    sources = sorted(Path(__file__).resolve().parent.glob("*.py"))
    digest = sha256_hex(b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in sources))
    return {"tag": f"miniplat:{VERSION}-{digest[:12]}", "digest": f"sha256:{digest}", "git_sha": None}


def sr_lease_holder(cfg: Config) -> str:
    return f"sr:{cfg.platform_run_id}"


class Driver:
    def __init__(self, cfg: Config, api_key: str) -> None:
        self.cfg = cfg
        self.api_key = api_key
        self.s3 = cfg.s3()
        self.scenario_run_id = scenario_run_id(cfg)
        self.ev = Evidence(cfg, self.s3, self.scenario_run_id)
        self.phases: dict[str, bool] = {}
        self.scope_checks: list[dict[str, Any]] = []
        self.used_topics: set[str] = set()
        self.early_snapshot: dict[str, list[dict[str, int]]] | None = None
        self.facts: dict[str, Any] = {}

    # ------------------------------------------------------------------ P1
    def run_config(self) -> dict[str, Any]:
        cfg = self.cfg
        handles = {"topics": {k: {"name": v["name"], "partitions": int(v["partitions"])}
                              for k, v in sorted(cfg.doc["topics"].items())},
                   "buckets": dict(sorted(cfg.doc["buckets"].items())),
                   "prefixes": dict(sorted(cfg.doc["prefixes"].items())),
                   "consumer_groups": {k: cfg.lane_group(k) for k in sorted(cfg.lanes)},
                   "event_classes": dict(sorted(cfg.doc["event_classes"].items())),
                   "gate": {k: cfg.gate[k] for k in ("ingest_path", "health_path", "auth_header")}}
        knobs = {**{k: v for k, v in sorted(cfg.scenario.items())}, "lag_max": int(cfg.doc.get("lag_max", 0)),
                 "max_envelope_bytes": int(cfg.gate.get("max_envelope_bytes", 65536))}
        return {"handles": handles, "knobs": knobs, "image": image()}

    def p1(self) -> None:
        config = self.run_config()
        self.ev.put("run.json", "P1", {
            "env": self.cfg.env, "scenario_equivalence_key": equivalence_key(self.cfg), "config": config,
            "config_digest": sha256_hex(canonical(config)), "config_digest_algo": "sha256",
            "started_at_utc": utc_now(), "code_version": f"miniplat {VERSION}"})

    # ------------------------------------------------------------------ P2
    def p2(self) -> None:
        cfg = self.cfg
        record = procs.read_pids(cfg)
        if record.get("platform_run_id") != cfg.platform_run_id:
            raise PhaseFailed("P2", f"the daemons serve run {record.get('platform_run_id')!r}; start them first")
        running = {n: procs.ours(p["pid"], str(cfg.path)) for n, p in record.get("processes", {}).items()}
        answer = health(cfg) or {}
        self.scope_checks = [{"component": "gate", "required": cfg.platform_run_id,
                              "observed": str(answer.get("platform_run_id") or "unreachable"),
                              "ok": answer.get("platform_run_id") == cfg.platform_run_id}]
        groups: dict[str, int] = {}
        for lane in cfg.lanes:
            status = self.lane_status(lane)
            observed = str(status.get("platform_run_id") or "unknown")
            self.scope_checks.append({"component": lane, "required": cfg.platform_run_id, "observed": observed,
                                      "ok": observed == cfg.platform_run_id})
            groups[cfg.lane_group(lane)] = len(kafkaio.group_members(cfg, cfg.lane_group(lane)))

        def service(name: str, up: bool) -> dict[str, Any]:
            pid = record["processes"].get(name, {}).get("pid", 0)
            return {"name": name, "task_id": f"{name}-{pid}", "desired_count": 1, "running_count": int(up),
                    "required_platform_run_id": cfg.platform_run_id}

        packs = [{"pack_id": "control_ingress",
                  "services": [service("gate", running.get("gate", False) and bool(answer))]}]
        packs += [{"pack_id": str(cfg.lanes[lane]["pack"]),
                   "services": [service(lane, running.get(lane, False) and groups[cfg.lane_group(lane)] >= 1)]}
                  for lane in cfg.lanes]
        packs += [{"pack_id": p, "services": []} for p in IDLE_PACKS]
        self.ev.put("operate/daemons_ready.json", "P2", {
            "packs": packs, "run_scope": {"required": cfg.platform_run_id, "checks": self.scope_checks},
            "consumer_groups": groups})
        down = [s["name"] for p in packs for s in p["services"] if s["running_count"] != 1]
        if down or not all(c["ok"] for c in self.scope_checks):
            raise PhaseFailed("P2", f"daemons not ready: down {down}, scope {self.scope_checks}")

    def lane_status(self, lane: str) -> dict[str, Any]:
        try:
            loaded: dict[str, Any] = json.loads((self.cfg.state_dir / "lanes" / f"{lane}.json").read_text())
            return loaded
        except (OSError, ValueError):
            return {}

    # ------------------------------------------------------------------ P3
    def p3(self) -> None:
        oracle = Oracle(self.cfg, self.s3)
        self.ev.put("oracle/seed_snapshot.json", "P3", {"outputs": oracle.seed()})
        sorted_outputs = {o: oracle.stream_sort(o) for o in oracle.outputs}
        self.ev.put("oracle/stream_sort_summary.json", "P3", {"outputs": sorted_outputs})
        checker = oracle.check()
        self.ev.put("oracle/checker_pass.json", "P3", checker)
        self.oracle = oracle
        if checker["status"] != "PASS":
            raise PhaseFailed("P3", f"oracle checker FAIL: {checker}")

    # ------------------------------------------------------------------ P4
    def smoke_envelope(self, number: int) -> dict[str, Any]:
        return {"platform_run_id": self.cfg.platform_run_id, "scenario_run_id": self.scenario_run_id,
                "event_class": "traffic_fraud", "event_id": f"ig-smoke.{number}", "ts_utc": utc_now(),
                "payload": {"flow_id": "ig-smoke", "smoke": True, "number": number}}

    def p4(self) -> None:
        cfg = self.cfg
        answer = health(cfg)
        client = Client(cfg.gate_base_url, float(cfg.gate.get("request_timeout_s", 5.0)))
        header = str(cfg.gate["auth_header"])
        path = str(cfg.gate["ingest_path"])
        try:
            unauth, _ = client.post_json(path, self.smoke_envelope(1))
            wrong, _ = client.post_json(path, self.smoke_envelope(2), {header: f"wrong-{uuid.uuid4().hex}"})
            authed, body = client.post_json(path, self.smoke_envelope(3), {header: self.api_key})
        finally:
            client.close()
        body = body or {}
        topic = cfg.event_classes["traffic_fraud"]
        partition, offset = body.get("partition"), body.get("offset")
        read_back = False
        if isinstance(partition, int) and isinstance(offset, int):
            record = kafkaio.read_one(cfg, topic, partition, offset)
            read_back = record is not None and isinstance(record.value, dict) and \
                record.value.get("event_id") == "ig-smoke.3"
        auth_pass = unauth == 401 and wrong == 403 and authed == 200
        s3_smoke = dict((answer or {}).get("storage_smoke") or {"bucket": cfg.bucket("quarantine"),
                                                                "key": "unknown", "ok": False})
        s3_smoke.pop("error", None)
        pid = procs.read_pids(cfg).get("processes", {}).get("gate", {}).get("pid", 0)
        self.ev.put("ingest/ig_ready.json", "P4", {
            "service": "gate", "task_id": f"gate-{pid}",
            "healthcheck": {"ok": bool(answer) and answer.get("platform_run_id") == cfg.platform_run_id},
            "auth_check": {"unauthenticated_status": unauth, "wrong_key_status": wrong,
                           "authenticated_status": authed, "pass": auth_pass},
            "kafka_smoke": {"topic": topic, "partition": partition, "offset": offset, "read_back": read_back},
            "s3_smoke": s3_smoke,
            # the gate's dedupe table is memory rebuilt from the topics; receipts live in the object store
            "persistence": {"local_files": False}})
        if not (answer and read_back and s3_smoke.get("ok") and authed == 200):
            raise PhaseFailed("P4", f"gate not ready: health {answer}, authed {authed}, read back {read_back}")

    # ------------------------------------------------------------------ P5
    def p5(self) -> None:
        cfg = self.cfg
        oracle: Oracle = self.oracle
        checker = store.get_json(self.s3, cfg.bucket("oracle"), oracle.checker_key()) or {}
        manifests = {o: oracle.manifest_key(o) for o in oracle.outputs}
        gates = {"checker_pass": checker.get("status") == "PASS",
                 "stream_view_manifests_present": all(store.exists(self.s3, cfg.bucket("oracle"), k)
                                                      for k in manifests.values())}
        lease_key = cfg.prefix("sr_lease", lease_id=self.scenario_run_id)
        holder = sr_lease_holder(cfg)
        try:
            store.put_once(self.s3, cfg.bucket("evidence"), lease_key,
                           {"holder": holder, "equivalence_key": equivalence_key(cfg), "acquired_at_utc": utc_now()})
            acquired = True
        except store.AlreadyExists:
            current = store.get_json(self.s3, cfg.bucket("evidence"), lease_key) or {}
            acquired = current.get("holder") == holder
        gates["lease_acquired"] = acquired
        status = "PASS" if all(gates.values()) else "FAIL"
        sr_doc = {"status": status, "equivalence_key": equivalence_key(cfg), "gates": gates,
                  "lease": {"key": lease_key, "holder": holder, "acquired": acquired}}
        if status != "PASS":
            self.ev.put("sr/sr_pass.json", "P5", sr_doc)
            raise PhaseFailed("P5", f"SR gates not met: {gates}")
        published_at = utc_now()
        message = {"message_type": "READY", "platform_run_id": cfg.platform_run_id,
                   "scenario_run_id": self.scenario_run_id, "equivalence_key": equivalence_key(cfg),
                   "oracle_bucket": cfg.bucket("oracle"), "pointers": manifests, "published_at_utc": published_at}
        producer = kafkaio.producer(cfg)
        partition, offset = kafkaio.produce_sync(producer, cfg.control_topic, cfg.platform_run_id.encode(),
                                                 canonical(message))
        self.used_topics.add(cfg.control_topic)
        self.ev.put("sr/sr_pass.json", "P5", sr_doc)
        if cfg.defects.on("ready_wrong_offset"):
            offset += 1  # the defect: the receipt records the next offset, not the delivered one
        self.ev.put("sr/ready_publish_receipt.json", "P5", {
            "topic": cfg.control_topic, "partition": partition, "offset": offset, "published_at_utc": published_at,
            "pointers": manifests})

    # ------------------------------------------------------------------ P6
    def p6(self) -> None:
        cfg = self.cfg
        wsp = Wsp(cfg, self.s3, self.api_key, self.scenario_run_id)
        started = utc_now()
        ready = wsp.find_ready()
        if ready is None:
            self.ev.put("wsp/wsp_start.json", "P6", {"ready": {"topic": None, "partition": None, "offset": None},
                                                     "outputs_enumerated": {}, "source": "stream_view"})
            raise PhaseFailed("P6", "no READY for this run on the control topic")
        ready_json = {k: ready[k] for k in ("topic", "partition", "offset")}
        shards = wsp.enumerate(ready)
        self.ev.put("wsp/wsp_start.json", "P6", {"ready": ready_json,
                                                 "outputs_enumerated": {o: len(k) for o, k in shards.items()},
                                                 "source": "stream_view"})
        planned = wsp.plan(shards)
        hook = None
        if cfg.defects.on("snapshot_disagrees"):
            def hook() -> None:  # the defect: the reporter's offsets snapshot is taken mid-stream
                self.early_snapshot = self.ingest_offsets()
        wsp.stream(planned, before_last_batch=hook)
        self.facts["intended"] = len(planned)
        self.ev.put("wsp/wsp_summary.json", "P6", {
            "ready": ready_json, "per_output_counts": dict(sorted(wsp.per_output.items())),
            "totals": dict(wsp.totals), "outcomes": dict(sorted(wsp.outcomes.items())), "intended": len(planned),
            "source": "stream_view", "started_at_utc": started, "ended_at_utc": utc_now()})
        if wsp.stopped or wsp.totals["failed"]:
            raise PhaseFailed("P6", f"WSP did not complete: {wsp.stopped or dict(wsp.totals)}")

    # ------------------------------------------------------------------ P7
    def wait_caught_up(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            behind = {}
            for lane in self.cfg.lanes:
                got = kafkaio.committed(self.cfg, self.cfg.lane_group(lane))
                if self.cfg.defects.on("commits_lag_outputs"):
                    got = self.outputs_seen(lane)  # the defect: "caught up" counted by outputs, not commits
                for topic in self.cfg.lane_inputs(lane):
                    for p, (low, high) in kafkaio.watermarks(self.cfg, topic).items():
                        if got.get((topic, p), low) < high:
                            behind[f"{lane}:{topic}[{p}]"] = high - got.get((topic, p), low)
            if not behind:
                return
            if time.monotonic() > deadline:
                raise PhaseFailed("P7", f"lanes not caught up after {timeout_s}s: {behind}")
            time.sleep(0.3)

    def outputs_seen(self, lane: str) -> dict[tuple[str, int], int]:
        """(input topic, partition) -> one past the highest input offset that has an output."""
        seen: dict[tuple[str, int], int] = {}
        for record in self.run_records(self.cfg.lane_output(lane)):
            source = record.value.get("source") if isinstance(record.value, dict) else None
            if isinstance(source, dict) and isinstance(source.get("offset"), int):
                key = (str(source.get("topic")), int(source.get("partition", 0)))
                seen[key] = max(seen.get(key, 0), int(source["offset"]) + 1)
        for topic in self.cfg.lane_inputs(lane):  # partitions with nothing of this run owe nothing
            for p, (_, high) in kafkaio.watermarks(self.cfg, topic).items():
                seen.setdefault((topic, p), high)
        return seen

    def receipts(self) -> list[dict[str, Any]]:
        bucket, prefix = self.cfg.bucket("evidence"), self.cfg.prefix("receipts")
        keys = [k for k in store.list_keys(self.s3, bucket, prefix) if k.endswith(".json")]
        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(lambda k: store.get_json(self.s3, bucket, k), keys))
        return sorted((r for r in found if isinstance(r, dict)), key=lambda r: int(r.get("receipt_seq", 0)))

    def run_records(self, topic: str) -> list[kafkaio.Record]:
        self.used_topics.add(topic)
        return [r for r in kafkaio.scan(self.cfg, topic)
                if isinstance(r.value, dict) and r.value.get("platform_run_id") == self.cfg.platform_run_id]

    def ingest_offsets(self) -> dict[str, list[dict[str, int]]]:
        """Per event-class topic and partition holding records of this run: the offset of its first record and
        the end (one past its last record: the high watermark, as the gate is the topic's only publisher)."""
        snapshot: dict[str, list[dict[str, int]]] = {}
        for topic in sorted(set(self.cfg.event_classes.values())):
            spans: dict[int, list[int]] = {}
            for record in self.run_records(topic):
                span = spans.setdefault(record.partition, [record.offset, record.offset + 1])
                span[1] = record.offset + 1
            rows = []
            for p, (first, end) in sorted(spans.items()):
                rows.append({"partition": p, "start_offset": first, "end_offset": end})
            snapshot[topic] = rows
        return snapshot

    def p7(self) -> None:
        cfg = self.cfg
        self.wait_caught_up()
        receipts = self.receipts()
        counts = Counter(str(r.get("outcome")) for r in receipts)
        by_class = Counter(str(r.get("event_class") or "_unreadable") for r in receipts)
        attempts = len(receipts)
        if cfg.defects.on("receipts_unbalanced"):
            # the defect: the reporter trusts the gate's counters instead of recounting the receipts
            client = Client(cfg.gate_base_url)
            try:
                _, stats = client.request("GET", str(cfg.gate.get("stats_path", "/v1/ops/stats")),
                                          headers={str(cfg.gate["auth_header"]): self.api_key})
            finally:
                client.close()
            counts = Counter({o: int((stats or {}).get("counts", {}).get(o, 0)) for o in OUTCOMES})
            attempts = int((stats or {}).get("counts", {}).get("attempts", 0))
        rewrites_accepted = 0
        if receipts:
            first_key = f"{cfg.prefix('receipts')}{int(receipts[0]['receipt_seq']):012d}.json"
            try:
                store.put_once(self.s3, cfg.bucket("evidence"), first_key, receipts[0])
                rewrites_accepted = 1
            except store.AlreadyExists:
                pass
        self.receipt_counts = {o: int(counts.get(o, 0)) for o in OUTCOMES}
        self.attempts = attempts
        self.receipts_verified = rewrites_accepted == 0
        seqs = [int(r["receipt_seq"]) for r in receipts]
        self.ev.put("ingest/receipt_summary.json", "P7", {
            "counts_by_outcome": self.receipt_counts, "counts_by_event_class": dict(sorted(by_class.items())),
            "total_attempts": attempts,
            "receipts": {"count": len(receipts), "first_seq": min(seqs, default=None),
                         "last_seq": max(seqs, default=None)},
            "append_only": {"verified": self.receipts_verified, "rewrites_accepted": rewrites_accepted},
            "publish_ambiguous_unresolved": self.receipt_counts["PUBLISH_AMBIGUOUS"]})
        snapshot = self.early_snapshot if self.early_snapshot is not None else self.ingest_offsets()
        self.snapshot = snapshot
        self.ev.put("ingest/kafka_offsets_snapshot.json", "P7", {"topics": snapshot, "snapshot_at_utc": utc_now()})
        items = []
        for r in receipts:
            if r.get("outcome") not in ("QUARANTINE", "ANOMALY"):
                continue
            key = r.get("payload_key")
            held = store.get_json(self.s3, cfg.bucket("quarantine"), key) if key else None
            items.append({"event_id": r.get("event_id"), "event_class": r.get("event_class"),
                          "reason": str((held or {}).get("reason") or r.get("outcome")), "payload_key": key,
                          "persisted": held is not None})
        self.quarantine_items = [{k: v for k, v in i.items() if k != "persisted"} for i in items]
        self.ev.put("ingest/quarantine_summary.json", "P7", {
            "count": len(items), "payloads_persisted": sum(1 for i in items if i["persisted"]),
            "items": self.quarantine_items[:20]})

    # ------------------------------------------------------------------ P8
    def rtdl_lane(self) -> str:
        return next(k for k, v in self.cfg.lanes.items() if v.get("role") == "rtdl")

    def decision_lane(self) -> str:
        return next(k for k, v in self.cfg.lanes.items() if v.get("role") == "decision")

    def p8(self) -> None:
        cfg = self.cfg
        lane = self.rtdl_lane()
        group = cfg.lane_group(lane)
        committed = kafkaio.committed(cfg, group)
        if cfg.defects.on("commits_lag_outputs"):
            committed = self.outputs_seen(lane)  # the defect: the reporter's "committed" is what has an output
        topics = {t: [{**part, "committed_offset": committed.get((t, part["partition"]), 0)}
                      for part in self.snapshot.get(t, [])]
                  for t in cfg.lane_inputs(lane) if t in self.snapshot}
        self.ev.put("rtdl_core/offsets_snapshot.json", "P8", {"consumer_group_id": group,
                                                              "commit_policy": "commit_after_write",
                                                              "topics": topics})
        lag: dict[str, dict[str, int]] = {}
        for topic in cfg.lane_inputs(lane):
            lag[topic] = {str(p): high - committed.get((topic, p), low)
                          for p, (low, high) in kafkaio.watermarks(cfg, topic).items()}
        max_lag = max((v for parts in lag.values() for v in parts.values()), default=0)
        stats = self.lane_status(lane).get("stats", {})
        self.ev.put("rtdl_core/caught_up.json", "P8", {
            "lag": lag, "max_lag": max_lag, "lag_max_threshold": int(cfg.doc.get("lag_max", 0)),
            "partitions_covered": sum(len(v) for v in lag.values()), "degrade_counts": {},
            "processed": int(stats.get("processed", 0)), "commit_violations": int(stats.get("commit_violations", 0))})
        if max_lag > int(cfg.doc.get("lag_max", 0)):
            raise PhaseFailed("P8", f"RTDL lag {max_lag}")

    # ------------------------------------------------------------------ P9
    def p9(self) -> None:
        cfg = self.cfg
        audit = self.run_records(cfg.lane_output(self.decision_lane()))
        self.audit = audit
        by_outcome = Counter(str(r.value.get("decision")) for r in audit)
        self.ev.put("decision_lane/decision_summary.json", "P9", {
            "decisions": len(audit), "by_outcome": dict(sorted(by_outcome.items())), "degrade_counts": {}})
        reviews = [r.value for r in audit if r.value.get("decision") == "review"]
        prefix = cfg.prefix("actions")
        executions: Counter[str] = Counter()

        def act(value: dict[str, Any]) -> tuple[str, bool]:
            action_key = sha256_hex(f"hold|{value.get('event_class')}|{value.get('event_id')}")[:32]
            try:
                store.put_once(self.s3, cfg.bucket("evidence"), f"{prefix}{action_key}.json",
                               {"action": "hold", "event_id": value.get("event_id"), "at_utc": utc_now()})
                return action_key, True
            except store.AlreadyExists:
                return action_key, False

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(act, reviews))
        prevented = 0
        for action_key, executed in results:
            if executed:
                executions[action_key] += 1
            else:
                prevented += 1
        self.ev.put("decision_lane/action_summary.json", "P9", {
            "intents": len(reviews), "outcomes": sum(executions.values()), "duplicates_prevented": prevented,
            "max_executions_per_key": max(executions.values(), default=0)})
        self.ev.put("decision_lane/audit_summary.json", "P9", {
            "records": len(audit),
            # the audit is the output topic: an append-only log with no rewrite API
            "append_only": {"verified": True, "rewrites_accepted": 0},
            "slice": [r.value for r in audit[:10]]})

    # ------------------------------------------------------------------ P10
    def p10(self) -> None:
        cfg = self.cfg
        prefix = cfg.prefix("cases")
        triggers = [r.value for r in self.audit if r.value.get("decision") == "review"]

        def append(item: tuple[str, dict[str, Any]]) -> bool:
            key, body = item
            try:
                store.put_once(self.s3, cfg.bucket("evidence"), key, body)
                return True
            except store.AlreadyExists:
                return False

        timeline, labels = [], []
        for value in triggers:
            case_id = sha256_hex(f"case|{value.get('event_class')}|{value.get('event_id')}")[:16]
            timeline.append((f"{prefix}timeline/{case_id}/0001-opened.json",
                             {"case_id": case_id, "event_id": value.get("event_id"), "event": "opened",
                              "at_utc": utc_now()}))
            labels.append((f"{prefix}labels/{case_id}/0001.json",
                           {"case_id": case_id, "label": "suspected_fraud", "asserted_at_utc": utc_now()}))
        with ThreadPoolExecutor(max_workers=8) as pool:
            opened = list(pool.map(append, timeline))
            asserted = list(pool.map(append, labels))

        def verified(items: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
            if not items:
                return {"verified": False, "rewrites_accepted": 0}
            accepted = int(append(items[0]))  # its own body: harmless if accepted
            return {"verified": accepted == 0, "rewrites_accepted": accepted}

        self.ev.put("case_labels/case_summary.json", "P10", {
            "triggers_processed": len(triggers), "timeline_events_appended": sum(opened),
            "duplicates_ignored": len(opened) - sum(opened),
            "exemplar_case_ids": sorted({k.split("/")[-2] for k, _ in timeline})[:3],
            "append_only": verified(timeline)})
        self.ev.put("case_labels/label_summary.json", "P10", {
            "assertions_appended": sum(asserted), "duplicates_ignored": len(asserted) - sum(asserted),
            "as_of_utc": utc_now(), "append_only": verified(labels)})

    # ------------------------------------------------------------------ P11
    def p11(self) -> None:
        cfg = self.cfg
        lock_key = cfg.prefix("reporter_lock")
        holder = f"reporter:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        try:
            store.put_once(self.s3, cfg.bucket("evidence"), lock_key, {"holder": holder, "acquired_at_utc": utc_now()})
        except store.AlreadyExists:
            current = store.get_json(self.s3, cfg.bucket("evidence"), lock_key) or {}
            raise PhaseFailed("P11", f"reporter lock {lock_key} is held by {current.get('holder')!r}") from None
        published = sum(len(self.run_records(t)) for t in sorted(set(cfg.event_classes.values())))
        ingest_topics = set(cfg.event_classes.values())
        consumed = sum(1 for r in self.run_records(cfg.lane_output(self.rtdl_lane()))
                       if r.value.get("source", {}).get("topic") in ingest_topics)
        decisions = len(self.audit)
        by_outcome = self.receipt_counts
        balanced = (sum(by_outcome.values()) == self.attempts and by_outcome["ADMIT"] == published
                    and consumed == published and decisions == consumed)
        try:  # a rewrite of run.json with its own bytes must be refused (harmless if it is not)
            own = store.get_bytes(self.s3, cfg.bucket("evidence"), self.ev.key("run.json")) or b"{}"
            store.put_once(self.s3, cfg.bucket("evidence"), self.ev.key("run.json"), own)
            evidence_write_once = False
        except store.AlreadyExists:
            evidence_write_once = True
        checks = {"topics_in_registry": self.used_topics <= set(cfg.topic_specs()),
                  "run_scope_enforced": bool(self.scope_checks) and all(c["ok"] for c in self.scope_checks),
                  "no_local_persistence": True, "evidence_write_once": evidence_write_once,
                  "receipts_append_only": self.receipts_verified}
        self.ev.put("obs/environment_conformance.json", "P11", {"checks": checks, "conformant": all(checks.values())})
        self.ev.put("obs/anomaly_summary.json", "P11", {
            "anomalies": by_outcome["ANOMALY"], "quarantines": by_outcome["QUARANTINE"],
            "publish_ambiguous": by_outcome["PUBLISH_AMBIGUOUS"], "items": self.quarantine_items[:20]})
        captured = utc_now()
        anchors = [{"topic": t, **part, "captured_at_utc": captured} for t, parts in sorted(self.snapshot.items())
                   for part in parts]
        if cfg.defects.on("anchor_past_end"):
            for anchor in anchors:  # the defect: "the next offset to be written", plus one, taken as the end
                anchor["end_offset"] = kafkaio.watermarks(cfg, anchor["topic"])[anchor["partition"]][1] + 1
        self.ev.put("replay_anchors.json", "P11", {"anchors": anchors})
        self.ev.put("reconciliation.json", "P11", {
            "intended": int(self.facts.get("intended", 0)), "attempted": self.attempts, "by_outcome": by_outcome,
            "admitted": by_outcome["ADMIT"], "published": published, "consumed": consumed, "decisions": decisions,
            "balanced": balanced})
        phases = {**self.phases, "P11": True}
        self.ev.put("run_report.json", "P11", {
            "status": "GREEN" if all(phases.values()) and balanced else "RED", "phases": phases,
            "counts": {**{o.lower(): n for o, n in by_outcome.items()}, "attempts": self.attempts,
                       "published": published, "consumed": consumed, "decisions": decisions}})
        if cfg.defects.on("no_run_completed"):
            log("reporter", "reporter died before the closure marker (the driver does not check it)")
            return
        self.ev.put("run_completed.json", "P11", {"status": "COMPLETED", "ended_at_utc": utc_now(),
                                                  "lock": {"holder": holder, "key": lock_key}})

    # ------------------------------------------------------------------
    def run(self, first: str = "P1", last: str = "P11") -> int:
        steps = [("P1", self.p1), ("P2", self.p2), ("P3", self.p3), ("P4", self.p4), ("P5", self.p5),
                 ("P6", self.p6), ("P7", self.p7), ("P8", self.p8), ("P9", self.p9), ("P10", self.p10),
                 ("P11", self.p11)]
        names = [name for name, _ in steps]
        if first not in names or last not in names:
            log(COMPONENT, f"--from-phase/--to-phase must be P1..P11, given {first!r}..{last!r}")
            return 2
        steps = steps[names.index(first):names.index(last) + 1]
        for earlier in names[:names.index(first)]:
            self.phases[earlier] = True  # an earlier invocation ran them (its evidence says how they went)
        if first != "P1":  # what P2 found, as the first invocation recorded it in the run's evidence
            self.used_topics.add(self.cfg.control_topic)
            ready = self.ev.get("operate/daemons_ready.json") or {}
            self.scope_checks = list(ready.get("run_scope", {}).get("checks", []))
        for phase, step in steps:
            began = time.monotonic()
            try:
                step()
            except PhaseFailed as failure:
                log(COMPONENT, f"run failed at {failure}")
                return 1
            except store.AlreadyExists as exists:
                log(COMPONENT, f"run failed at {phase}: {exists} exists already (evidence is written once)")
                return 1
            except Exception:
                log(COMPONENT, f"run failed at {phase}:\n{traceback.format_exc()}")
                return 1
            self.phases[phase] = True
            log(COMPONENT, f"{phase} done in {time.monotonic() - began:.2f}s")
        return 0


def main(cfg: Config, first: str = "P1", last: str = "P11") -> int:
    key = api_key_from_env()
    if not key:
        log(COMPONENT, "no API key (MINIPLAT_API_KEY or SPINE_IG_API_KEY)")
        return 2
    began = time.monotonic()
    code = Driver(cfg, key).run(first, last)
    log(COMPONENT, f"run {cfg.platform_run_id} finished with {code} in {time.monotonic() - began:.1f}s")
    return code
