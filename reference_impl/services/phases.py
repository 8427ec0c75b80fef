"""The reference platform's own run over its running services (``platform run``), and its teardown proof
(``platform teardown``).

``ServicePlatform`` is ``SpinePlatform`` with the phases that reach a component swapped for their service
form; the others run unchanged over the real adapters:

- P(-1), P1, P3, P5 and P6 are SpinePlatform's (packaging, run.json, the oracle and stream-sort, SR's lease
  and READY); P6's WSP sends through the HTTP gate (``HttpIngestClient``) and backs off for real.
- P0 checks the provisioned substrate, P2 the daemons (their processes, the gate's health for the run, each
  consumer the one member of its group), P4 smokes the gate over HTTP.
- P7 reads the gate's receipt objects and the run's records on its topics; P8 and P9 wait until the RTDL core
  and the decision lane committed everything, then read their outputs on the topics, their durable objects
  and their own counters; P10 runs case management and the label store as a job of the run (CaseLabels);
  P11 starts the reporter process, which closes the run under its lock.

Evidence goes to ``s3://{S3_EVIDENCE_BUCKET}/{S3_EVIDENCE_PREFIX_PATTERN}<relpath>``, each file written once
and stamped with the run id (``reporter_service.S3Evidence``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reference_impl.case_labels import CaseLabels
from reference_impl.handles import SMOKE_EVENT_CLASS, HandlesRegistry
from reference_impl.ig import OUTCOMES
from reference_impl.platform import PHASE_IDS, REPORTER_HOLDER, SpinePlatform
from reference_impl.ports import BusRecord, PreconditionFailed
from reference_impl.rtdl import CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY
from reference_impl.runtime import Clock, PlatformConfig, Recorder
from reference_impl.services import records
from reference_impl.services.ig_client import HttpIngestClient
from reference_impl.services.platform import LANES, Settings, bus, gate_health, lane_ready, log, ours, read_pids
from reference_impl.services.platform import store as make_store
from reference_impl.sr import ScenarioRunner, equivalence_key, scenario_run_id_for
from reference_impl.wsp import WorldStreamProducer

PHASES_RUN = "P11"  # ``run`` goes up to the closure; P12 is ``teardown``
POLL_S = 0.3
REPORTER_TIMEOUT_S = 120.0
# Daemon -> (its pack, the service name its pack lists).
PACKS: Mapping[str, tuple[str, str]] = {"ig": ("control_ingress", "ig"), "rtdl": ("rtdl_core", "rtdl_core"),
                                        "decision_lane": ("rtdl_decision_lane", "decision_lane")}
JOB_PACKS = ("case_labels", "obs_gov")  # their work runs as jobs of the run (P10, the reporter of P11)


def handles_of(settings: Settings) -> HandlesRegistry:
    from reference_impl.services.ig_service import handles_from_config

    return handles_from_config(settings.service_config("run"))


def platform_config(settings: Settings, key: str) -> PlatformConfig:
    scenario = settings.scenario
    return PlatformConfig(platform_run_id=settings.platform_run_id, seed=int(scenario.get("seed", 0)),
                          env=str(settings.doc.get("env", "local_parity")),
                          required_platform_run_id=settings.platform_run_id,
                          traffic_events=int(scenario.get("traffic_events", 200)),
                          replayed_slice=int(scenario.get("replayed_slice", 5)),
                          mutations=frozenset(settings.mutations_for(None)), api_key=key,
                          code_version="reference_impl services", handles=handles_of(settings))


def scenario_run_id(settings: Settings) -> str:
    handles = handles_of(settings)
    scenario = settings.scenario
    return scenario_run_id_for(equivalence_key(int(scenario.get("seed", 0)), int(scenario.get("traffic_events", 200)),
                                               handles.oracle_required_output_ids))


def reported_topics(settings: Settings, handles: HandlesRegistry) -> list[str]:
    """The topics of the event classes the run's evidence accounts for (the registry's platform section)."""
    classes: Mapping[str, str] = settings.doc.get("event_classes") or {
        c: k for c, k in handles.event_class_topics.items() if c != SMOKE_EVENT_CLASS}
    return sorted({handles.topic(str(key)).name for key in classes.values()})


class ServicePlatform(SpinePlatform):
    def __init__(self, config: PlatformConfig, settings: Settings, *, kafka: Any, store: Any, evidence: Any,
                 recorder: Recorder, clock: Clock) -> None:
        super().__init__(config, bus=kafka, store=store, evidence=evidence, recorder=recorder, clock=clock)
        self.settings = settings
        self.kafka = kafka  # KafkaBus: group members too
        self.s3 = store  # S3ObjectStore: its bucket listing too
        self.client = HttpIngestClient(settings.gate_base_url, ingest_path=settings.ingest_path,
                                       timeout_s=settings.timeout("request_s", 10.0))
        self.used_topics: set[str] = set()
        self.scope_checks: list[dict[str, Any]] = []
        self.snapshot: dict[str, list[dict[str, int]]] = {}

    # ------------------------------------------------------------------ reading the substrate
    def run_records(self, topic: str) -> list[BusRecord]:
        self.used_topics.add(topic)
        return records.of_run(records.scan(self.kafka, topic), self.rt.run_id)

    def statuses(self, service: str) -> list[Mapping[str, Any]]:
        return records.statuses(self.settings.services_dir / "status", service, self.rt.run_id)

    def mark_evidence_root(self, config_digest: str) -> None:
        return None  # run.json is the root's first object: everything under the root is an evidence file

    def conformance(self) -> dict[str, bool]:  # the reporter process judges it (P11)
        return {}

    def wait_committed(self, group_key: str, topic_keys: tuple[str, ...]) -> dict[str, dict[int, int]]:
        """Wait until ``group_key`` committed every record of its topics, or made no progress for ``stall_s``
        (a consumer that stopped short: the lag is reported, never waited on forever). Returns the lag."""
        group = self.rt.group(group_key, "run")
        topics = [self.rt.topic(key, "run").name for key in topic_keys]
        self.used_topics.update(topics)
        stall_s = self.settings.timeout("stall_s", 20.0)
        deadline = time.monotonic() + self.settings.timeout("catch_up_s", 120.0)
        least, since = -1, time.monotonic()
        while True:
            lag: dict[str, dict[int, int]] = {}
            for topic in topics:
                committed, starts = self.kafka.committed(group, topic), self.kafka.start_offsets(topic)
                lag[topic] = {p: end - committed.get(p, starts.get(p, 0))
                              for p, end in sorted(self.kafka.end_offsets(topic).items())}
            behind = sum(n for parts in lag.values() for n in parts.values())
            if behind == 0:
                return lag
            if least < 0 or behind < least:  # progress: the stall clock starts again
                least, since = behind, time.monotonic()
            if time.monotonic() - since > stall_s or time.monotonic() > deadline:
                log(f"group {group} is {behind} records behind after waiting; reporting its lag")
                return lag
            time.sleep(POLL_S)

    def offsets_rows(self, group: str, topic: str) -> list[dict[str, int]]:
        starts, committed = self.kafka.start_offsets(topic), self.kafka.committed(group, topic)
        return [{"partition": p, "start_offset": starts.get(p, 0), "end_offset": end,
                 "committed_offset": committed.get(p, starts.get(p, 0))}
                for p, end in sorted(self.kafka.end_offsets(topic).items())]

    # ------------------------------------------------------------------ P0, P2: the running platform
    def _p0(self) -> tuple[bool, dict[str, Any], str | None]:
        handles = self.config.handles
        existing = self.kafka.topics()
        topics_ok = {key: existing.get(t.name) == t.partitions for key, t in handles.topics.items()}
        present = set(self.s3.buckets())
        buckets_ok = {key: name in present for key, name in handles.buckets.items()}
        bad = sorted([k for k, ok in topics_ok.items() if not ok] + [k for k, ok in buckets_ok.items() if not ok])
        facts = {"handles_resolvable": {"topics": topics_ok, "buckets": buckets_ok}, "handles_missing": bad}
        return not bad, facts, (f"not provisioned: {bad}; run 'provision' (or 'start')" if bad else None)

    def _p2(self) -> tuple[bool, dict[str, Any], str | None]:
        settings, required = self.settings, self.config.required_run_id
        record = read_pids(settings)
        if record.get("platform_run_id") != required:
            return False, {}, f"the daemons serve run {record.get('platform_run_id')!r}; start them for this run"
        marker = str(settings.path)
        health = gate_health(settings) or {}
        services: dict[str, dict[str, Any]] = {}
        groups: dict[str, int] = {}
        self.scope_checks = []
        for daemon, (_, name) in PACKS.items():
            proc = record.get("processes", {}).get(daemon, {})
            supervised = ours(int(proc.get("pid", 0)), marker)
            if daemon == "ig":
                observed, task = health.get("platform_run_id"), str(health.get("task_id") or "ig")
                up = supervised and observed == required
            else:
                ready = lane_ready(settings, daemon) or {}
                group = self.rt.group(LANES[daemon][0], "operate")
                groups[group] = len(self.kafka.group_members(group))
                observed, task = ready.get("platform_run_id"), f"{name}-{ready.get('pid', 0)}"
                up = supervised and observed == required and groups[group] >= 1
            self.scope_checks.append({"component": name, "required": required,
                                      "observed": str(observed or "unreachable"), "ok": observed == required})
            services[daemon] = {"name": name, "task_id": task, "desired_count": 1, "running_count": int(up),
                                "required_platform_run_id": required}
        packs = [{"pack_id": pack, "services": [services[d]]} for d, (pack, _) in PACKS.items()]
        packs += [{"pack_id": pack, "services": []} for pack in JOB_PACKS]
        self._put("operate/daemons_ready.json", {"packs": packs,
                                                 "run_scope": {"required": required, "checks": self.scope_checks},
                                                 "consumer_groups": groups}, "P2")
        down = [s["name"] for s in services.values() if s["running_count"] != 1]
        scope_ok = all(c["ok"] for c in self.scope_checks)
        facts = {"all_running": not down, "not_running": down, "run_scope_enforced": scope_ok,
                 "duplicate_consumers": {g: n for g, n in groups.items() if n > 1}}
        error = None if not down and scope_ok else f"daemons not ready: down {down}, scope {self.scope_checks}"
        return error is None, facts, error

    # ------------------------------------------------------------------ P4: the gate over HTTP
    def _p4(self) -> tuple[bool, dict[str, Any], str | None]:
        settings = self.settings
        header = self.config.handles.ig_auth_header_name
        unauth = self.client.send({}, self.smoke_envelope())
        wrong = self.client.send({header: f"not-the-key-{os.getpid()}"}, self.smoke_envelope())
        authed = self.client.send(self.auth_headers(), self.smoke_envelope())
        auth_pass = unauth.status_code == 401 and wrong.status_code == 403 and authed.status_code == 200
        topic = self.config.handles.topic_for_class(SMOKE_EVENT_CLASS).name
        self.used_topics.add(topic)
        read_back = False
        if authed.partition is not None and authed.offset is not None:
            group = self.rt.group("IG_SMOKE_CONSUMER_GROUP_ID", "ig_ready")
            self.kafka.seek(group, topic, authed.partition, authed.offset)
            got = [r for r in self.kafka.poll(group, topic, max_records=1000) if r.partition == authed.partition]
            read_back = bool(got) and got[0].offset == authed.offset and \
                got[0].value.get("event_class") == SMOKE_EVENT_CLASS
        # The gate wrote the smoke's receipt object: its durable outputs are writable.
        bucket = self.rt.bucket("S3_EVIDENCE_BUCKET", "ig_ready")
        receipt_key = self.rt.prefix("S3_RECEIPTS_PREFIX_PATTERN", "ig_ready") + f"{authed.receipt_seq or 0:012d}.json"
        s3_ok = authed.receipt_seq is not None and self.store.exists(bucket, receipt_key)
        health = gate_health(settings)
        status, stats = self.client.request("GET", "/v1/ops/stats")
        local_files = bool(stats.get("local_files")) if status == 200 and isinstance(stats, dict) else None
        healthy = health is not None and health.get("platform_run_id") == self.rt.run_id
        doc = {"service": "ig", "task_id": str((health or {}).get("task_id") or "ig"), "healthcheck": {"ok": healthy},
               "auth_check": {"unauthenticated_status": unauth.status_code, "wrong_key_status": wrong.status_code,
                              "authenticated_status": authed.status_code, "pass": auth_pass},
               "kafka_smoke": {"topic": topic, "partition": authed.partition, "offset": authed.offset,
                               "read_back": read_back},
               "s3_smoke": {"bucket": bucket, "key": receipt_key, "ok": s3_ok},
               # the gate's dedupe table is memory rebuilt from its topics; its receipts are objects
               "persistence": {"local_files": local_files is not False}}
        self._put("ingest/ig_ready.json", doc, "P4")
        ok = healthy and auth_pass and read_back and s3_ok and local_files is False
        return ok, {"auth_pass": auth_pass, "read_back": read_back, "s3_ok": s3_ok}, \
            (None if ok else f"IG not ready: {doc}")

    # ------------------------------------------------------------------ P6: WSP through the gate
    def new_wsp(self, client: Any = None, process: str = "wsp") -> WorldStreamProducer:
        return WorldStreamProducer(self.rt, client or self.client, api_key=self.config.api_key, process=process)

    # ------------------------------------------------------------------ P7: receipts and topics
    def _p7(self) -> tuple[bool, dict[str, Any], str | None]:
        bucket = self.rt.bucket("S3_EVIDENCE_BUCKET", "run")
        prefix = self.rt.prefix("S3_RECEIPTS_PREFIX_PATTERN", "run")
        found = records.receipts(self.store, bucket, prefix)
        counts = Counter(str(r.get("outcome")) for r in found)
        by_class = Counter(str(r.get("event_class")) for r in found)
        rewrites = 0
        if found:  # a write-once put over the first receipt (its own bytes) must be refused
            first = f"{prefix}{int(found[0]['receipt_seq']):012d}.json"
            try:
                self.store.put(bucket, first, self.store.get(bucket, first), if_none_match=True)
                rewrites = 1
            except PreconditionFailed:
                pass
        resolved = {(r.get("event_class"), r.get("event_id")) for r in found
                    if r.get("outcome") in ("ADMIT", "DUPLICATE")}
        unresolved = {(r.get("event_class"), r.get("event_id")) for r in found
                      if r.get("outcome") == "PUBLISH_AMBIGUOUS"} - resolved
        seqs = [int(r["receipt_seq"]) for r in found]
        summary = {"counts_by_outcome": {o: int(counts.get(o, 0)) for o in OUTCOMES},
                   "counts_by_event_class": dict(sorted(by_class.items())),
                   # every answered attempt has its receipt object: the objects are the count
                   "total_attempts": len(found),
                   "receipts": {"count": len(found), "first_seq": min(seqs, default=None),
                                "last_seq": max(seqs, default=None)},
                   "append_only": {"verified": bool(found) and rewrites == 0, "rewrites_accepted": rewrites},
                   "publish_ambiguous_unresolved": len(unresolved)}
        self._put("ingest/receipt_summary.json", summary, "P7")
        self.snapshot = {topic: records.spans(self.run_records(topic))
                         for topic in reported_topics(self.settings, self.config.handles)}
        self.ingest_offsets = self.snapshot
        self._put("ingest/kafka_offsets_snapshot.json", {"topics": self.snapshot,
                                                         "snapshot_at_utc": self.rt.now_iso()}, "P7")
        quarantine_bucket = self.rt.bucket("S3_QUARANTINE_BUCKET", "run")
        items, persisted = [], 0
        for receipt in found:
            if receipt.get("outcome") not in ("QUARANTINE", "ANOMALY"):
                continue
            key = receipt.get("payload_key")
            reason = None
            if isinstance(key, str) and key and self.store.exists(quarantine_bucket, key):
                persisted += 1
                reason = json.loads(self.store.get(quarantine_bucket, key)).get("reason")
            items.append({"event_id": receipt.get("event_id"), "event_class": receipt.get("event_class"),
                          "reason": str(reason or str(receipt.get("outcome")).lower()),
                          "payload_key": key if isinstance(key, str) else None})
        self._put("ingest/quarantine_summary.json", {"count": len(items), "payloads_persisted": persisted,
                                                     "items": items[:20]}, "P7")
        return True, {"counts_by_outcome": summary["counts_by_outcome"]}, None

    # ------------------------------------------------------------------ P8: the RTDL core
    def _p8(self) -> tuple[bool, dict[str, Any], str | None]:
        keys = (*CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY)
        group = self.rt.group("RTDL_CORE_CONSUMER_GROUP_ID", "run")
        lag = self.wait_committed("RTDL_CORE_CONSUMER_GROUP_ID", keys)
        topics = [self.rt.topic(key, "run").name for key in keys]
        self._put("rtdl_core/offsets_snapshot.json", {
            "consumer_group_id": group, "commit_policy": "commit_after_write",
            "topics": {t: self.offsets_rows(group, t) for t in topics}}, "P8")
        outputs = self._distinct(self.run_records(self.rt.topic("FP_BUS_RTDL_V1", "run").name), "event_id")
        degrade: Counter[str] = Counter()
        for value in outputs:
            if value.get("degraded"):
                degrade.update(str(r) for r in value.get("degrade_reasons") or [])
        own = self.statuses("rtdl_service")
        committed = sum(row["committed_offset"] - row["start_offset"] for t in topics
                        for row in self.offsets_rows(group, t))
        max_lag = max((n for parts in lag.values() for n in parts.values()), default=0)
        doc = {"lag": {t: {str(p): n for p, n in parts.items()} for t, parts in lag.items()}, "max_lag": max_lag,
               "lag_max_threshold": self.config.handles.rtdl_caught_up_lag_max,
               "partitions_covered": sum(len(parts) for parts in lag.values()),
               "degrade_counts": dict(sorted(degrade.items())),
               "join_misses": sum(1 for v in outputs if v.get("degraded")), "processed": committed,
               "commit_violations": sum(int(s.get("commit_violations", 0)) for s in own),
               "write_failures": sum(int(s.get("write_failures", 0)) for s in own)}
        self._put("rtdl_core/caught_up.json", doc, "P8")
        return True, {"max_lag": max_lag, "processed": committed}, None

    @staticmethod
    def _distinct(found: list[BusRecord], key: str) -> list[Mapping[str, Any]]:
        """Values by ``key``, first delivery kept (a consumer restarted before its commit writes again)."""
        seen: dict[str, Mapping[str, Any]] = {}
        for record in found:
            seen.setdefault(str(record.value.get(key)), record.value)
        return list(seen.values())

    # ------------------------------------------------------------------ P9: the decision lane
    def _p9(self) -> tuple[bool, dict[str, Any], str | None]:
        self.wait_committed("DECISION_LANE_CONSUMER_GROUP_ID", ("FP_BUS_RTDL_V1",))
        audit_records = self.run_records(self.rt.topic("FP_BUS_AUDIT_V1", "run").name)
        audit = self._distinct(audit_records, "idempotency_key")
        by_outcome = Counter(str(v.get("outcome")) for v in audit)
        degrade = Counter("+".join(map(str, v.get("degrade_reasons") or [])) for v in audit if v.get("degraded"))
        self._put("decision_lane/decision_summary.json", {"decisions": len(audit),
                                                          "by_outcome": dict(sorted(by_outcome.items())),
                                                          "degrade_counts": dict(sorted(degrade.items()))}, "P9")
        own = self.statuses("decision_lane_service")
        executions: Counter[str] = Counter()
        for status in own:
            executions.update({str(k): int(n) for k, n in dict(status.get("executions", {})).items()})
        bucket = self.rt.bucket("S3_ARCHIVE_BUCKET", "run")
        archive = self.rt.prefix("S3_ARCHIVE_PREFIX_PATTERN", "run") + "decision_lane/"
        actions = self.store.list(bucket, archive + "actions/")
        self._put("decision_lane/action_summary.json", {
            "intents": sum(int(s.get("intents", 0)) for s in own), "outcomes": len(actions),
            "duplicates_prevented": sum(int(s.get("duplicates_prevented", 0)) for s in own),
            "max_executions_per_key": max(executions.values(), default=0)}, "P9")
        rewrites = 0
        audit_objects = self.store.list(bucket, archive + "audit/")
        if audit_objects:  # the archived audit is write-once: a put over one (its own bytes) must be refused
            try:
                self.store.put(bucket, audit_objects[0], self.store.get(bucket, audit_objects[0]), if_none_match=True)
                rewrites = 1
            except PreconditionFailed:
                pass
        self._put("decision_lane/audit_summary.json", {
            "records": len(audit), "append_only": {"verified": bool(audit_objects) and rewrites == 0,
                                                   "rewrites_accepted": rewrites},
            "slice": [dict(v) for v in audit[:10]]}, "P9")
        return True, {"decisions": len(audit)}, None

    # ------------------------------------------------------------------ P10: a job of the run
    def _p10(self) -> tuple[bool, dict[str, Any], str | None]:
        self.cases = CaseLabels(self.rt, required_platform_run_id=self.config.required_run_id)
        self.used_topics.update({self.cases.topic, self.cases.label_topic})
        return self.case_labels_phase(self.cases)

    # ------------------------------------------------------------------ P11: the reporter process
    def _p11(self) -> tuple[bool, dict[str, Any], str | None]:
        settings = self.settings
        config = {**settings.service_config("reporter"), "scenario_run_id": self.scenario_run_id,
                  "event_classes": dict(settings.doc.get("event_classes") or {}),
                  "topics_used": sorted(self.used_topics)}
        path = settings.service_path("reporter", "json")
        path.write_text(json.dumps(config, indent=1, sort_keys=True))
        log_path = settings.service_path("reporter", "log")
        env = {**os.environ, settings.scope_env_key: settings.platform_run_id}
        argv = [sys.executable, "-m", "reference_impl.services.reporter_service", "--config", str(path),
                "--holder", REPORTER_HOLDER, "--closure", "run"]
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                code = proc.wait(timeout=REPORTER_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                code = None
        if code != 0:
            tail = Path(log_path).read_text(errors="replace")[-1500:]
            return False, {}, f"the reporter exited {code}; its log ends:\n{tail}"
        return True, {"reporter": REPORTER_HOLDER}, None

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------------------------------------- run
def run_phases(settings: Settings, key: str) -> int:
    from reference_impl.services.ig_service import JsonlRecorder, WallClock
    from reference_impl.services.reporter_service import S3Evidence

    clock = WallClock()
    kafka, s3 = bus(settings, f"reference-platform-run-{os.getpid()}"), make_store(settings)
    config = platform_config(settings, key)
    evidence = S3Evidence(s3, config.handles.bucket("S3_EVIDENCE_BUCKET"),
                          config.handles.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=settings.platform_run_id),
                          settings.platform_run_id, clock)
    recorder = JsonlRecorder(settings.state_dir / "run.history.jsonl", clock)
    platform = ServicePlatform(config, settings, kafka=kafka, store=s3, evidence=evidence, recorder=recorder,
                               clock=clock)
    try:
        for phase in PHASE_IDS[:PHASE_IDS.index(PHASES_RUN) + 1]:
            began = time.monotonic()
            report = platform.run_phase(phase)
            took = time.monotonic() - began
            log(f"{phase} {'done' if report.completed else 'FAILED: ' + str(report.error)} in {took:.2f}s")
            if not report.completed:
                return 1
    finally:
        platform.close()
        kafka.close()
    return 0


# ---------------------------------------------------------------------------------------------- teardown
def teardown_proof(settings: Settings) -> int:
    """Stop every daemon (``daemon_left_running`` leaves the RTDL core running), wait until their consumer
    groups are empty, release SR's lease, and write the teardown proof of what is left."""
    from reference_impl.services.ig_service import WallClock
    from reference_impl.services.platform import PIDS, STOPPED, stop_process
    from reference_impl.services.reporter_service import S3Evidence

    marker = str(settings.path)
    record = read_pids(settings) or read_pids(settings, STOPPED)
    processes: dict[str, Any] = dict(record.get("processes", {}))
    skipped = {"rtdl"} if "daemon_left_running" in settings.mutations else set()
    stopped = {name: stop_process(int(p["pid"]), marker) for name, p in processes.items() if name not in skipped}
    running = sorted(PACKS[name][1] for name, p in processes.items()
                     if not stopped.get(name, False) and ours(int(p["pid"]), marker))
    handles = handles_of(settings)
    kafka, s3 = bus(settings, f"reference-platform-teardown-{os.getpid()}"), make_store(settings)
    try:
        groups = [handles.group(LANES[d][0]) for d in LANES]
        waited = [handles.group(LANES[d][0]) for d in LANES if d not in skipped]
        deadline = time.monotonic() + settings.timeout("teardown_s", 30.0)
        while any(kafka.group_members(g) for g in waited) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        members = {g: len(kafka.group_members(g)) for g in groups}
    finally:
        kafka.close()
    sr_id = scenario_run_id(settings)
    lease_bucket = handles.bucket("S3_EVIDENCE_BUCKET")
    lease_key = handles.prefix("SR_LEASE_KEY_PATTERN", platform_run_id=settings.platform_run_id, lease_id=sr_id)
    if s3.exists(lease_bucket, lease_key):
        lease = json.loads(s3.get(lease_bucket, lease_key))
        if lease.get("holder") == ScenarioRunner.default_holder(settings.platform_run_id):
            s3.delete(lease_bucket, lease_key)
    clock = WallClock()
    evidence = S3Evidence(s3, lease_bucket, handles.prefix("S3_EVIDENCE_PREFIX_PATTERN",
                                                           platform_run_id=settings.platform_run_id),
                          settings.platform_run_id, clock)
    preserved = evidence.get("run.json") is not None and bool(evidence.list())
    absent = {"daemons": not running, "consumers": not any(members.values()),
              "leases": not s3.exists(lease_bucket, lease_key), "pid_records": True}
    status = "COMPLETED" if all(absent.values()) else "INCOMPLETE"
    if (settings.state_dir / PIDS).exists():
        os.replace(settings.state_dir / PIDS, settings.state_dir / STOPPED)
    try:
        evidence.put("teardown/teardown_proof.json", {
            "phase_id": "P12", "scenario_run_id": sr_id, "destroy_status": status, "confirmed_absent": absent,
            "running_daemons": running, "evidence_preserved": preserved, "consumer_group_members": members})
    except FileExistsError:
        log("a teardown proof of this run exists already; it is kept")
    log(f"teardown {status}: absent {absent}, running {running}, members {members}")
    return 0 if status == "COMPLETED" else 1
