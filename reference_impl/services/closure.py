"""The closure of a platform run (P11), as the reporter process writes it under its lock: the environment
conformance, the anomaly summary, the replay anchors, the reconciliation, the run report and, last,
``run_completed.json``.

The reporter is a separate process: it reads what the run's phases wrote to the evidence prefix, and
recounts from the substrate what it can (the run's records on the gate's topics, the RTDL group's commits),
so the closure is the reporter's own account, not a copy of anything the phases kept in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reference_impl.ig import OUTCOMES
from reference_impl.ports import PreconditionFailed
from reference_impl.reporter import Reporter
from reference_impl.rtdl import CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY
from reference_impl.runtime import Runtime
from reference_impl.services import records

PROCESS = "reporter"
# Phase -> the evidence files that say it completed (what P1..P10 of a platform run leave).
PHASE_FILES: Mapping[str, tuple[str, ...]] = {
    "P1": ("run.json",), "P2": ("operate/daemons_ready.json",),
    "P3": ("oracle/seed_snapshot.json", "oracle/stream_sort_summary.json", "oracle/checker_pass.json"),
    "P4": ("ingest/ig_ready.json",), "P5": ("sr/sr_pass.json", "sr/ready_publish_receipt.json"),
    "P6": ("wsp/wsp_start.json", "wsp/wsp_summary.json"),
    "P7": ("ingest/receipt_summary.json", "ingest/kafka_offsets_snapshot.json", "ingest/quarantine_summary.json"),
    "P8": ("rtdl_core/offsets_snapshot.json", "rtdl_core/caught_up.json"),
    "P9": ("decision_lane/decision_summary.json", "decision_lane/action_summary.json",
           "decision_lane/audit_summary.json"),
    "P10": ("case_labels/case_summary.json", "case_labels/label_summary.json"),
}


def run_closure(runtime: Runtime, reporter: Reporter, config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    evidence = runtime.evidence
    docs = {relpath: evidence.get(relpath) for files in PHASE_FILES.values() for relpath in files}

    def doc(relpath: str) -> Mapping[str, Any]:
        return docs.get(relpath) or {}

    phases = {phase: all(docs.get(f) is not None for f in files) for phase, files in PHASE_FILES.items()}
    all_done = all(phases.values())
    receipts = doc("ingest/receipt_summary.json")
    by_outcome = {o: int(receipts.get("counts_by_outcome", {}).get(o, 0)) for o in OUTCOMES}
    attempts = int(receipts.get("total_attempts", 0))
    quarantine_items = list(doc("ingest/quarantine_summary.json").get("items", []))
    snapshot: Mapping[str, list[Mapping[str, int]]] = doc("ingest/kafka_offsets_snapshot.json").get("topics", {})

    # Recounted from the substrate: the run's records on the gate's topics and how far RTDL committed.
    handles, run_id = runtime.handles, runtime.run_id
    gate_topics = sorted({handles.topic(k).name for k in handles.event_class_topics.values()})
    published_by_topic = {t: records.of_run(records.scan(runtime.bus, t), run_id) for t in gate_topics}
    published = sum(len(found) for found in published_by_topic.values())
    group = runtime.group("RTDL_CORE_CONSUMER_GROUP_ID", PROCESS)
    landed = consumed = 0
    for key in (*CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY):
        topic = runtime.topic(key, PROCESS).name
        committed = runtime.bus.committed(group, topic)
        found = published_by_topic.get(topic, [])
        landed += len(found)
        consumed += sum(1 for r in found if r.offset < committed.get(r.partition, 0))
    traffic = len(published_by_topic.get(runtime.topic(TRAFFIC_TOPIC_KEY, PROCESS).name, []))
    decisions = int(doc("decision_lane/decision_summary.json").get("decisions", 0))
    ambiguous = by_outcome["PUBLISH_AMBIGUOUS"]
    balanced = (sum(by_outcome.values()) == attempts and by_outcome["ADMIT"] <= published <= by_outcome["ADMIT"]
                + ambiguous and consumed == landed and decisions == traffic)

    registered = {t.name for t in handles.topics.values()}
    scope = doc("operate/daemons_ready.json").get("run_scope", {})
    checks = {"topics_in_registry": set(map(str, config.get("topics_used", ()))) <= registered,
              "run_scope_enforced": bool(scope.get("checks")) and all(c.get("ok") for c in scope.get("checks", [])),
              "no_local_persistence": doc("ingest/ig_ready.json").get("persistence", {}).get("local_files") is False,
              "evidence_write_once": _write_once(runtime),
              "receipts_append_only": receipts.get("append_only", {}).get("verified") is True}
    captured = runtime.now_iso()
    context = {handles.topic(k).name for c, k in handles.event_class_topics.items() if c.startswith("context_")}
    anchors = [{"topic": topic, **dict(row), "captured_at_utc": captured} for topic, rows in sorted(snapshot.items())
               for row in rows if not (runtime.mutated("missing_replay_anchors") and topic in context)]
    out: list[tuple[str, dict[str, Any]]] = [
        ("obs/environment_conformance.json", {"checks": checks, "conformant": all(checks.values())}),
        ("obs/anomaly_summary.json", {"anomalies": by_outcome["ANOMALY"], "quarantines": by_outcome["QUARANTINE"],
                                      "publish_ambiguous": ambiguous, "items": quarantine_items[:20]}),
        ("replay_anchors.json", {"anchors": anchors}),
    ]
    if not runtime.mutated("closure_incomplete"):
        out.append(("reconciliation.json", {
            "intended": int(doc("wsp/wsp_summary.json").get("intended", 0)), "attempted": attempts,
            "by_outcome": by_outcome, "admitted": by_outcome["ADMIT"], "published": published, "landed": landed,
            "consumed": consumed, "decisions": decisions, "balanced": balanced}))
    out.append(("run_report.json", {
        "status": "GREEN" if all_done else "RED", "phases": {**phases, "P11": True},
        "counts": {**{o.lower(): n for o, n in by_outcome.items()}, "attempts": attempts, "published": published,
                   "consumed": consumed, "decisions": decisions}}))
    if not runtime.mutated("closure_marker_missing"):
        out.append(("run_completed.json", {"status": "COMPLETED" if all_done else "FAILED",
                                           "ended_at_utc": runtime.now_iso(), "lock": reporter.lock_json()}))
    common = {"phase_id": "P11", "scenario_run_id": config.get("scenario_run_id")}
    return [(path, {**common, **document}) for path, document in out]


def _write_once(runtime: Runtime) -> bool:
    """A put over run.json with its own bytes must be refused by the evidence store."""
    bucket = runtime.bucket("S3_EVIDENCE_BUCKET", PROCESS)
    key = runtime.prefix("S3_EVIDENCE_PREFIX_PATTERN", PROCESS) + "run.json"
    try:
        body = runtime.store.get(bucket, key)
    except KeyError:
        return False
    try:
        runtime.store.put(bucket, key, body, if_none_match=True)
    except PreconditionFailed:
        return True
    return False

