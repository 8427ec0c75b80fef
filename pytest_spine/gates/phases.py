"""The PASS criteria of phases P(-1)..P12 (seed 003 §5), each read from the run's evidence and, where the
seed asks for a drill (an unauthenticated request, a second reporter, a per-output rerun), from a probe of
the target. A missing document or field is a FAIL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_spine.gates.catalogue import GateContext, Result, criterion
from pytest_spine.targets.base import DrillNotRun

DENIED = (401, 403)
OUTCOMES = ("ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS")
PACKS = ("control_ingress", "rtdl_core", "rtdl_decision_lane", "case_labels", "obs_gov")


def _result(ok: bool, good: str, bad: str, *evidence: str, **kw: Any) -> Result:
    return Result(ok, good if ok else bad, tuple(evidence), **kw)


def _failures(items: Iterable[tuple[str, bool]]) -> list[str]:
    return [name for name, ok in items if not ok]


def _fact_basis(ctx: GateContext) -> str:
    """Facts a black-box target gathered itself are observed; a platform's own report is attested."""
    return "observed" if ctx.phase.facts.get("observed_by_harness") is True else "attested"


# ----------------------------------------------------------------------------------------- P(-1)
@criterion("P(-1)", "image_in_registry", "Immutable git-<sha> image exists in the registry with a digest")
def image_in_registry(ctx: GateContext) -> Result:
    image = ctx.fact("image")
    ok = bool(image.get("tag")) and bool(image.get("digest"))
    return _result(ok, f"image {image.get('tag')} has digest {image.get('digest')}",
                   f"image not resolvable: {image!r}")


@criterion("P(-1)", "entrypoints_importable", "Every job and service entrypoint of the platform starts")
def entrypoints_importable(ctx: GateContext) -> Result:
    entrypoints: Mapping[str, bool] = ctx.fact("entrypoints")
    broken = _failures(entrypoints.items())
    ok = bool(entrypoints) and not broken
    return _result(ok, f"{len(entrypoints)} entrypoints importable",
                   f"entrypoints not importable: {broken or 'none reported'}")


@criterion("P(-1)", "image_ref_ready", "Task definitions can reference the image")
def image_ref_ready(ctx: GateContext) -> Result:
    ref = ctx.fact("image_ref_ready")
    return _result(bool(ref), "task definitions reference the image", "image reference not usable")


# ----------------------------------------------------------------------------------------- P0
@criterion("P0", "buckets_writable", "Object-store buckets exist and the evidence bucket is writable")
def buckets_writable(ctx: GateContext) -> Result:
    buckets: Mapping[str, bool] = ctx.fact("buckets")
    bad = _failures(buckets.items())
    return _result(bool(buckets) and not bad, f"{len(buckets)} buckets writable",
                   f"buckets missing or not writable: {bad or 'none reported'}", basis=_fact_basis(ctx))


@criterion("P0", "topics_exist", "Every topic of the topic map exists with its pinned partition count")
def topics_exist(ctx: GateContext) -> Result:
    expected: Mapping[str, int] = ctx.fact("topics_expected")
    actual: Mapping[str, int] = ctx.fact("topics")
    wrong = {t: (p, actual.get(t)) for t, p in expected.items() if actual.get(t) != p}
    return _result(bool(expected) and not wrong, f"{len(expected)} topics exist with pinned partitions",
                   f"topics missing or with wrong partition counts (want, have): {wrong}", basis=_fact_basis(ctx))


@criterion("P0", "handles_resolvable", "Every handle the run needs resolves in the handles registry")
def handles_resolvable(ctx: GateContext) -> Result:
    missing = list(ctx.fact("handles_missing"))
    used = int(ctx.fact("handles_used"))
    return _result(used > 0 and not missing, f"{used} handles resolved",
                   f"handles that do not resolve: {missing}" if missing else "no handles reported",
                   basis=_fact_basis(ctx))


@criterion("P0", "forbidden_infra_absent", "No NAT gateway, no always-on load balancer")
def forbidden_infra_absent(ctx: GateContext) -> Result:
    found = list(ctx.fact("forbidden_infra"))
    return _result(not found, "no forbidden infrastructure", f"forbidden infrastructure present: {found}")


# ----------------------------------------------------------------------------------------- P1
@criterion("P1", "evidence_root_created", "The run's evidence root exists with at least one object",
           ("run.json",))
def evidence_root_created(ctx: GateContext) -> Result:
    files = ctx.files()
    return _result("run.json" in files, f"evidence root holds {len(files)} files", "run.json not written",
                   "run.json")


@criterion("P1", "run_json_complete", "run.json has run id, env, config payload, digest and image provenance",
           ("run.json",))
def run_json_complete(ctx: GateContext) -> Result:
    run = ctx.doc("run.json")
    required = ("platform_run_id", "env", "config", "config_digest", "config_digest_algo")
    missing = [k for k in required if not run.get(k)]
    image = run.get("config", {}).get("image", {}) if isinstance(run.get("config"), Mapping) else {}
    if not image.get("tag"):
        missing.append("config.image.tag")
    if run.get("platform_run_id") != ctx.platform_run_id:
        missing.append(f"platform_run_id (is {run.get('platform_run_id')!r})")
    return _result(not missing, "run.json complete", f"run.json lacks {missing}", "run.json")


@criterion("P1", "config_digest_stable", "Recomputing the digest over the same payload gives the same value",
           ("run.json",), basis="recomputed")
def config_digest_stable(ctx: GateContext) -> Result:
    run = ctx.doc("run.json")
    canonical = json.dumps(run.get("config"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    recomputed = hashlib.sha256(canonical.encode()).hexdigest()
    recorded = run.get("config_digest")
    return _result(recomputed == recorded, f"config digest {recorded} reproduces",
                   f"config digest {recorded!r} does not match the recomputed {recomputed}", "run.json",
                   figures={"config_digest": recomputed})


# ----------------------------------------------------------------------------------------- P2
def _services(ctx: GateContext) -> list[Mapping[str, Any]]:
    packs = ctx.field("operate/daemons_ready.json", "packs")
    return [dict(s, pack_id=p.get("pack_id")) for p in packs for s in p.get("services", [])]


@criterion("P2", "packs_running", "All five Spine Green v0 packs RUNNING with one replica each",
           ("operate/daemons_ready.json",))
def packs_running(ctx: GateContext) -> Result:
    packs = {p.get("pack_id") for p in ctx.field("operate/daemons_ready.json", "packs")}
    services = _services(ctx)
    not_running = [s.get("name") for s in services
                   if not (s.get("desired_count") == 1 and s.get("running_count") == 1)]
    missing = [p for p in PACKS if p not in packs]
    ok = not missing and not not_running and bool(services)
    return _result(ok, f"{len(services)} services in {len(packs)} packs running, 1 replica each",
                   f"packs missing {missing}; services not at 1/1: {not_running}", "operate/daemons_ready.json")


@criterion("P2", "run_scope_enforced", "Daemons require this run id and fail closed on a mismatch",
           ("operate/daemons_ready.json",))
def run_scope_enforced(ctx: GateContext) -> Result:
    scope = ctx.field("operate/daemons_ready.json", "run_scope")
    wrong = [c for c in scope.get("checks", []) if not c.get("ok") or c.get("observed") != ctx.platform_run_id]
    if scope.get("required") != ctx.platform_run_id or wrong or not scope.get("checks"):
        return Result(False, f"run scope not pinned to {ctx.platform_run_id}: {wrong or scope}",
                      ("operate/daemons_ready.json",), tuple(wrong[:3]))
    drill = ctx.drill("run_scope_mismatch")
    accepted = [] if drill is None else [name for name, rejected in drill.get("components", {}).items()
                                         if not rejected]
    ok = drill is None or (bool(drill.get("rejected")) and not accepted)
    return _result(ok, "every daemon refuses a mismatched run id",
                   f"components accepted a mismatched run id: {accepted or drill}", "operate/daemons_ready.json",
                   figures={"drill": dict(drill or {})}, basis="observed" if drill else None)


@criterion("P2", "no_duplicate_consumers", "No two consumers in one lane's consumer group",
           ("operate/daemons_ready.json",))
def no_duplicate_consumers(ctx: GateContext) -> Result:
    groups: Mapping[str, int] = ctx.field("operate/daemons_ready.json", "consumer_groups")
    live = ctx.drill("consumer_instances") or {}
    doubled = {g: n for g, n in {**groups, **live}.items() if n != 1}
    return _result(bool(groups) and not doubled, f"{len(groups)} consumer groups with one consumer each",
                   f"consumer groups with other than one consumer: {doubled or 'none reported'}",
                   "operate/daemons_ready.json")


@criterion("P2", "dependencies_reachable", "Daemons reach Kafka, the object store and their state stores")
def dependencies_reachable(ctx: GateContext) -> Result:
    deps: Mapping[str, bool] = ctx.fact("dependencies")
    bad = _failures(deps.items())
    return _result(bool(deps) and not bad, f"{len(deps)} dependencies reachable", f"unreachable: {bad}",
                   basis=_fact_basis(ctx))


# ----------------------------------------------------------------------------------------- P3
@criterion("P3", "oracle_inputs_present", "Oracle inputs present for this run", ("oracle/seed_snapshot.json",))
def oracle_inputs_present(ctx: GateContext) -> Result:
    outputs: Mapping[str, Any] = ctx.field("oracle/seed_snapshot.json", "outputs")
    empty = [o for o, s in outputs.items() if not (s.get("objects", 0) > 0 and s.get("rows", 0) > 0)]
    return _result(bool(outputs) and not empty, f"{len(outputs)} oracle outputs present",
                   f"oracle outputs empty or absent: {empty or 'none listed'}", "oracle/seed_snapshot.json")


@criterion("P3", "stream_view_complete", "Every required output has sorted shards, a manifest and a receipt",
           ("oracle/stream_sort_summary.json",))
def stream_view_complete(ctx: GateContext) -> Result:
    outputs: Mapping[str, Any] = ctx.field("oracle/stream_sort_summary.json", "outputs")
    seeded = set(ctx.field("oracle/seed_snapshot.json", "outputs"))
    bad = {}
    for output_id in sorted(seeded | set(outputs)):
        s = outputs.get(output_id, {})
        problems = [k for k, ok in (
            ("sorted", output_id in outputs), ("status", s.get("status") == "PASS"),
            ("shards", s.get("shards", 0) > 0), ("manifest", bool(s.get("manifest_key"))),
            ("receipt", bool(s.get("receipt_key"))), ("rows", s.get("rows_in") == s.get("rows_out")),
            ("ordered", s.get("ordered") is True)) if not ok]
        if problems:
            bad[output_id] = problems
    return _result(not bad and bool(outputs), f"stream_view complete for {len(outputs)} outputs",
                   f"stream_view incomplete: {bad}", "oracle/stream_sort_summary.json")


@criterion("P3", "checker_pass", "Checker PASS exists and reports every required output PASS",
           ("oracle/checker_pass.json",))
def checker_pass(ctx: GateContext) -> Result:
    checker = ctx.doc("oracle/checker_pass.json")
    sorted_outputs = set(ctx.field("oracle/stream_sort_summary.json", "outputs"))
    outputs = checker.get("outputs", {})
    failing = [o for o, r in outputs.items() if r.get("status") != "PASS"]
    uncovered = sorted(sorted_outputs - set(outputs))
    ok = checker.get("status") == "PASS" and not failing and not uncovered
    return _result(ok, f"checker PASS for {len(outputs)} outputs",
                   f"checker {checker.get('status')}; failing {failing}; not checked {uncovered}",
                   "oracle/checker_pass.json")


@criterion("P3", "per_output_rerun", "A failed output can be re-sorted alone without rerunning everything",
           basis="observed")
def per_output_rerun(ctx: GateContext) -> Result:
    drill = ctx.probe("per_output_rerun")
    # The drill breaks one output first: a checker that does not notice it could never fail closed.
    ok = drill.get("failure_detected") is True and bool(drill.get("rerun_ok")) and \
        bool(drill.get("others_untouched")) and drill.get("checker_status") == "PASS"
    return _result(ok, f"broken output {drill.get('output_id')} detected, re-sorted alone; checker PASS",
                   f"per-output rerun failed: {dict(drill)}", figures={"drill": dict(drill)})


# ----------------------------------------------------------------------------------------- P4
@criterion("P4", "ig_healthy", "IG service RUNNING and its health endpoint OK", ("ingest/ig_ready.json",))
def ig_healthy(ctx: GateContext) -> Result:
    ok = ctx.field("ingest/ig_ready.json", "healthcheck", "ok") is True
    return _result(ok, "IG healthy", "IG health check not OK", "ingest/ig_ready.json")


@criterion("P4", "writer_boundary_enforced", "Requests without the key fail closed; with the key accepted",
           ("ingest/ig_ready.json",))
def writer_boundary_enforced(ctx: GateContext) -> Result:
    auth = ctx.field("ingest/ig_ready.json", "auth_check")
    none_drill, wrong_drill = ctx.drill("unauthenticated_ingest"), ctx.drill("wrong_key_ingest")
    live_none = none_drill.get("status_code") if none_drill else None
    live_wrong = wrong_drill.get("status_code") if wrong_drill else None
    checks = {
        "recorded unauthenticated": auth.get("unauthenticated_status") in DENIED,
        "recorded wrong key": auth.get("wrong_key_status") in DENIED,
        "recorded authenticated": isinstance(auth.get("authenticated_status"), int)
        and 200 <= auth["authenticated_status"] < 300,
        "live unauthenticated": none_drill is None or live_none in DENIED,
        "live wrong key": wrong_drill is None or live_wrong in DENIED,
    }
    bad = _failures(checks.items())
    return _result(not bad, f"no key -> {live_none}, wrong key -> {live_wrong}, key -> "
                   f"{auth.get('authenticated_status')}", f"writer boundary open: {bad} (auth_check={auth}, "
                   f"live: none={live_none}, wrong={live_wrong})", "ingest/ig_ready.json",
                   basis="observed" if none_drill and wrong_drill else None)


@criterion("P4", "bus_writable", "IG publishes to the topic; the offset advances and a consumer reads it",
           ("ingest/ig_ready.json",))
def bus_writable(ctx: GateContext) -> Result:
    smoke = ctx.field("ingest/ig_ready.json", "kafka_smoke")
    ok = isinstance(smoke.get("offset"), int) and smoke["offset"] >= 0 and smoke.get("read_back") is True
    return _result(ok, f"published to {smoke.get('topic')}[{smoke.get('partition')}]@{smoke.get('offset')}, "
                   "read back", f"publish smoke failed: {smoke}", "ingest/ig_ready.json")


@criterion("P4", "durable_outputs_writable", "IG writes to the receipts/quarantine prefixes",
           ("ingest/ig_ready.json",))
def durable_outputs_writable(ctx: GateContext) -> Result:
    smoke = ctx.field("ingest/ig_ready.json", "s3_smoke")
    return _result(smoke.get("ok") is True and bool(smoke.get("key")), f"wrote {smoke.get('key')}",
                   f"object-store smoke failed: {smoke}", "ingest/ig_ready.json")


@criterion("P4", "no_local_persistence", "IG needs no local files or SQLite", ("ingest/ig_ready.json",))
def no_local_persistence(ctx: GateContext) -> Result:
    local = ctx.field("ingest/ig_ready.json", "persistence", "local_files")
    return _result(local is False, "no local persistence", f"local persistence reported: {local!r}",
                   "ingest/ig_ready.json")


# ----------------------------------------------------------------------------------------- P5
@criterion("P5", "sr_gates_passed", "SR evaluated every gate and PASSed", ("sr/sr_pass.json",))
def sr_gates_passed(ctx: GateContext) -> Result:
    sr = ctx.doc("sr/sr_pass.json")
    gates: Mapping[str, bool] = sr.get("gates", {})
    bad = _failures(gates.items())
    ok = sr.get("status") == "PASS" and bool(gates) and not bad
    return _result(ok, f"SR PASS ({len(gates)} gates)", f"SR {sr.get('status')}; failing gates {bad}",
                   "sr/sr_pass.json")


@criterion("P5", "ready_published", "READY on the control topic with run id, scenario_run_id and pointers",
           ("sr/ready_publish_receipt.json",))
def ready_published(ctx: GateContext) -> Result:
    receipt = ctx.doc("sr/ready_publish_receipt.json")
    sr = ctx.doc("sr/sr_pass.json")
    scenario = receipt.get("scenario_run_id")
    seen = [op for op in ctx.history() if op.f == "ready_publish" and op.type == "ok"
            and op.value.get("platform_run_id") == ctx.platform_run_id]
    required = set(ctx.field("oracle/stream_sort_summary.json", "outputs"))
    pointers = receipt.get("pointers") or {}
    unpointed = sorted(required - set(pointers))
    observed = ctx.observed_fn()
    if observed is not None:  # a black box records nothing: READY must be on the control topic, as observed
        view = observed.topics.get(str(receipt.get("topic")))
        seen = [view.ready[key] for key in [(receipt.get("partition"), receipt.get("offset"))]
                if view is not None and key in view.ready]
    ok = isinstance(receipt.get("offset"), int) and bool(scenario) and scenario == sr.get("scenario_run_id") \
        and bool(seen) and not unpointed
    return _result(ok, f"READY at {receipt.get('topic')}[{receipt.get('partition')}]@{receipt.get('offset')} "
                   f"for {scenario}", f"READY not proven: receipt={dict(receipt)}, sr scenario="
                   f"{sr.get('scenario_run_id')}, READY operations recorded={len(seen)}, outputs without a "
                   f"manifest pointer {unpointed}",
                   "sr/ready_publish_receipt.json", "sr/sr_pass.json")


@criterion("P5", "lease_respected", "SR holds the lease; a conflicting run under the key fails closed",
           ("sr/sr_pass.json",))
def lease_respected(ctx: GateContext) -> Result:
    lease = ctx.field("sr/sr_pass.json", "lease")
    drill = ctx.drill("sr_conflicting_lease")
    ok = lease.get("acquired") is True and (drill is None or drill.get("refused") is True)
    return _result(ok, f"lease {lease.get('key')} held; conflicting SR refused",
                   f"lease not respected: lease={lease}, conflicting run refused={(drill or {}).get('refused')}",
                   "sr/sr_pass.json")


@criterion("P5", "scenario_run_id_deterministic", "scenario_run_id derives from the equivalence key",
           ("sr/sr_pass.json",))
def scenario_run_id_deterministic(ctx: GateContext) -> Result:
    sr = ctx.doc("sr/sr_pass.json")
    key = str(sr.get("equivalence_key", ""))
    drill = ctx.drill("derive_scenario_run_id")
    derived = drill.get("scenario_run_id") if drill is not None else sr.get("scenario_run_id")
    ok = bool(key) and derived == sr.get("scenario_run_id")
    return _result(ok, f"scenario_run_id {derived} re-derives from the equivalence key",
                   f"scenario_run_id {sr.get('scenario_run_id')!r} != re-derived {derived!r}", "sr/sr_pass.json")


# ----------------------------------------------------------------------------------------- P6
@criterion("P6", "ready_consumed", "WSP located READY for this run before streaming",
           ("wsp/wsp_start.json", "sr/ready_publish_receipt.json"))
def ready_consumed(ctx: GateContext) -> Result:
    ready = ctx.field("wsp/wsp_start.json", "ready")
    receipt = ctx.doc("sr/ready_publish_receipt.json")
    ok = ready.get("offset") == receipt.get("offset") and ready.get("topic") == receipt.get("topic") and \
        isinstance(ready.get("offset"), int)
    return _result(ok, f"WSP consumed READY @{ready.get('offset')}",
                   f"WSP READY {ready} does not match the published READY {dict(receipt)}", "wsp/wsp_start.json")


@criterion("P6", "stream_view_enumerated", "WSP enumerated stream_view for every output, and read nothing else",
           ("wsp/wsp_start.json",))
def stream_view_enumerated(ctx: GateContext) -> Result:
    start = ctx.doc("wsp/wsp_start.json")
    enumerated = start.get("outputs_enumerated", {})
    required = set(ctx.field("oracle/stream_sort_summary.json", "outputs"))
    raw_reads = [op.value for op in ctx.history() if op.f == "stream_read" and op.value.get("source") != "stream_view"]
    missing = sorted(required - set(enumerated))
    ok = start.get("source") == "stream_view" and not missing and not raw_reads
    return _result(ok, f"{len(enumerated)} stream_view outputs enumerated",
                   f"source={start.get('source')!r}, outputs not enumerated {missing}, "
                   f"non-stream_view reads {len(raw_reads)}", "wsp/wsp_start.json",
                   counterexample=tuple(raw_reads[:3]))


@criterion("P6", "streaming_completed", "WSP finished and recorded sends, retries and no non-retryables",
           ("wsp/wsp_summary.json",))
def streaming_completed(ctx: GateContext) -> Result:
    totals = ctx.field("wsp/wsp_summary.json", "totals")
    ok = totals.get("attempted", 0) > 0 and totals.get("nonretryable", 1) == 0 and totals.get("failed", 1) == 0 \
        and totals.get("succeeded") == totals.get("attempted")
    return _result(ok, f"{totals.get('succeeded')}/{totals.get('attempted')} sent, {totals.get('retries')} retries",
                   f"streaming incomplete: {totals}", "wsp/wsp_summary.json", figures=dict(totals))


@criterion("P6", "nonretryables_fail_closed", "A non-retryable error stops WSP and is recorded", basis="observed")
def nonretryables_fail_closed(ctx: GateContext) -> Result:
    drill = ctx.probe("nonretryable_stop")
    ok = drill.get("stopped") is True and drill.get("recorded") is True
    return _result(ok, "WSP stopped on a non-retryable error and recorded it",
                   f"non-retryable error not failed closed: {dict(drill)}")


# ----------------------------------------------------------------------------------------- P7
@criterion("P7", "admitted_topics_populated", "Traffic and context topics advanced during the run",
           ("ingest/kafka_offsets_snapshot.json",))
def admitted_topics_populated(ctx: GateContext) -> Result:
    topics: Mapping[str, list[Mapping[str, int]]] = ctx.field("ingest/kafka_offsets_snapshot.json", "topics")
    advanced = {t: sum(p["end_offset"] - p["start_offset"] for p in parts) for t, parts in topics.items()}
    empty = [t for t, n in advanced.items() if n <= 0]
    return _result(bool(topics) and not empty, f"records admitted per topic: {advanced}",
                   f"topics without admitted records: {empty or 'no topics listed'}",
                   "ingest/kafka_offsets_snapshot.json")


@criterion("P7", "receipts_reconcile", "admit + duplicate + quarantine + anomaly (+ ambiguous) = attempts",
           ("ingest/receipt_summary.json", "wsp/wsp_summary.json"))
def receipts_reconcile(ctx: GateContext) -> Result:
    summary = ctx.doc("ingest/receipt_summary.json")
    counts = summary.get("counts_by_outcome", {})
    total = sum(int(counts.get(o, 0)) for o in OUTCOMES)
    attempts = summary.get("total_attempts")
    receipts = summary.get("receipts", {}).get("count")
    sent = ctx.field("wsp/wsp_summary.json", "totals", "succeeded")
    ok = total == attempts == receipts and attempts is not None and attempts >= sent
    return _result(ok, f"{total} outcomes = {attempts} attempts = {receipts} receipts (WSP sent {sent})",
                   f"receipts do not reconcile: outcomes {counts} sum to {total}, attempts {attempts}, "
                   f"receipts {receipts}, WSP sent {sent}", "ingest/receipt_summary.json",
                   figures={"outcomes": total, "attempts": attempts})


@criterion("P7", "receipts_append_only", "Receipts are append-only: no rewrite was accepted",
           ("ingest/receipt_summary.json",))
def receipts_append_only(ctx: GateContext) -> Result:
    append_only = ctx.field("ingest/receipt_summary.json", "append_only")
    drill = ctx.drill("receipt_rewrite")
    ok = append_only.get("verified") is True and append_only.get("rewrites_accepted") == 0 and \
        (drill is None or drill.get("rejected") is True)
    return _result(ok, "receipts append-only; a rewrite attempt was refused",
                   f"receipts mutable: {append_only}, rewrite drill {dict(drill or {})}", "ingest/receipt_summary.json")


@criterion("P7", "no_publish_ambiguity", "No PUBLISH_AMBIGUOUS outcome remains for the run",
           ("ingest/receipt_summary.json",))
def no_publish_ambiguity(ctx: GateContext) -> Result:
    summary = ctx.doc("ingest/receipt_summary.json")
    ambiguous = summary.get("counts_by_outcome", {}).get("PUBLISH_AMBIGUOUS")
    # Seed 003 P7.4: any PUBLISH_AMBIGUOUS outcome fails P7 by default, resolved by a resend or not.
    unresolved = summary.get("publish_ambiguous_unresolved")
    unknown = [op.to_json() for op in ctx.history() if op.f == "publish" and op.type == "info"]
    ok = ambiguous == 0 and unresolved == 0 and not unknown
    return _result(ok, "no publish ambiguity",
                   f"{unresolved!r} PUBLISH_AMBIGUOUS outcomes unresolved ({ambiguous} receipts, {len(unknown)} "
                   "publishes with unknown outcome): fail closed", "ingest/receipt_summary.json",
                   counterexample=tuple(unknown[:3]))


@criterion("P7", "quarantine_durable", "Quarantined and anomalous events have their payloads persisted",
           ("ingest/quarantine_summary.json",))
def quarantine_durable(ctx: GateContext) -> Result:
    quarantine = ctx.doc("ingest/quarantine_summary.json")
    counts = ctx.field("ingest/receipt_summary.json", "counts_by_outcome")
    expected = int(counts.get("QUARANTINE", 0)) + int(counts.get("ANOMALY", 0))
    ok = quarantine.get("count") == expected == quarantine.get("payloads_persisted")
    return _result(ok, f"{expected} quarantined/anomalous payloads persisted",
                   f"quarantine count {quarantine.get('count')}, payloads persisted "
                   f"{quarantine.get('payloads_persisted')}, receipts say {expected}",
                   "ingest/quarantine_summary.json")


@criterion("P7", "dedupe_identity", "Dedupe identity is exactly (platform_run_id, event_class, event_id)",
           basis="observed")
def dedupe_identity(ctx: GateContext) -> Result:
    other_run = ctx.drill("dedupe_other_run")
    replay = ctx.drill("duplicate_replay")
    if other_run is None and replay is None:
        observed = ctx.observed_fn()
        if observed is not None:  # read-only: the run's own duplicates, judged from what reached the topics
            return _dedupe_observed(observed)
        ctx.probe("duplicate_replay")  # neither drill ran: not applicable, with the reason
    other_run, replay = other_run or {}, replay or {}
    outcomes = replay.get("outcomes", {})
    replayed = replay.get("replayed", 0)
    ok = other_run.get("second_outcome", "ADMIT") == "ADMIT" and (not replay or (
        replayed > 0 and outcomes.get("DUPLICATE") == replayed and replay.get("published_delta") == 0))
    return _result(ok, f"{replayed} replays all DUPLICATE, none published; the same event under another run "
                   "is admitted", f"dedupe identity drift: other run -> {other_run.get('second_outcome')}, "
                   f"replay -> {outcomes} of {replayed}, published {replay.get('published_delta')}",
                   figures={"replayed": replayed}, basis="observed")


def _tuple_of(receipt: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(receipt.get("platform_run_id")), str(receipt.get("event_class")), str(receipt.get("event_id")))


def _dedupe_observed(observed: Any) -> Result:
    duplicates = [r for r in observed.receipts if r.get("outcome") == "DUPLICATE"]
    if not duplicates:
        raise DrillNotRun("not run read-only, and the run's own traffic had no DUPLICATE answer to judge")
    wrong = [{"event_id": r.get("event_id"), "records": observed.published(_tuple_of(r))[0]} for r in duplicates
             if observed.published(_tuple_of(r))[0] != 1]
    return _result(not wrong, f"{len(duplicates)} DUPLICATE answers of the run, each tuple published exactly once",
                   f"DUPLICATE answers whose tuple is not published exactly once: {wrong[:3]}",
                   counterexample=tuple(wrong[:3]), basis="observed")


def _anomaly_observed(observed: Any) -> Result:
    anomalies = [r for r in observed.receipts if r.get("outcome") == "ANOMALY"]
    admitted = {_tuple_of(r): r.get("payload_hash") for r in observed.receipts if r.get("outcome") == "ADMIT"}
    # A DUPLICATE answer for a payload other than the one published was an anomaly called a duplicate.
    wrong: list[dict[str, Any]] = [
        {"event_id": r.get("event_id"), "answered": "DUPLICATE", "payload_hash": r.get("payload_hash"),
         "on_topic": observed.published(_tuple_of(r))[1]}
        for r in observed.receipts if r.get("outcome") == "DUPLICATE"
        and observed.published(_tuple_of(r))[1] not in (None, r.get("payload_hash"))]
    if not anomalies and not wrong:
        raise DrillNotRun("not run read-only, and the run's own traffic sent no changed payload to judge")
    for receipt in anomalies:
        ident = _tuple_of(receipt)
        records, first_hash = observed.published(ident)
        if records != 1 or first_hash != admitted.get(ident) or first_hash == receipt.get("payload_hash"):
            wrong.append({"event_id": receipt.get("event_id"), "records": records, "on_topic": first_hash,
                          "admitted": admitted.get(ident), "anomalous": receipt.get("payload_hash")})
    return _result(not wrong, f"{len(anomalies)} ANOMALY answers; the admitted payload stayed the only record",
                   f"a changed payload was answered DUPLICATE, or joined or replaced the original: {wrong[:3]}",
                   counterexample=tuple(wrong[:3]), basis="observed")


@criterion("P7", "payload_anomaly", "Same tuple with another payload is an ANOMALY and never overwrites",
           basis="observed")
def payload_anomaly(ctx: GateContext) -> Result:
    observed = ctx.observed_fn()
    if observed is not None and ctx.drill("payload_change") is None:
        return _anomaly_observed(observed)
    drill = ctx.probe("payload_change")
    ok = drill.get("outcome") == "ANOMALY" and drill.get("original_intact") is True
    return _result(ok, "changed payload -> ANOMALY, original intact", f"payload change handled as {dict(drill)}",
                   basis="observed")


# ----------------------------------------------------------------------------------------- P8
def _partitions(doc: Mapping[str, Any]) -> dict[tuple[str, int], Mapping[str, Any]]:
    return {(t, int(p["partition"])): p for t, parts in doc.get("topics", {}).items() for p in parts}


@criterion("P8", "commit_after_write", "Offsets committed only after durable writes",
           ("rtdl_core/offsets_snapshot.json", "rtdl_core/caught_up.json"))
def commit_after_write(ctx: GateContext) -> Result:
    policy = ctx.field("rtdl_core/offsets_snapshot.json", "commit_policy")
    violations = ctx.field("rtdl_core/caught_up.json", "commit_violations")
    written: dict[tuple[str, str, int], int] = {}
    bad: list[dict[str, Any]] = []
    for op in ctx.history():
        if op.type != "ok" or op.f not in ("state_write", "offset_commit"):
            continue
        key = (op.value.get("group"), op.value.get("topic"), op.value.get("partition"))
        offset = int(op.value.get("offset", -1))
        if op.f == "state_write":
            written[key] = max(written.get(key, -1), offset)
        elif offset - 1 > written.get(key, -1) and len(bad) < 3:
            bad.append(op.to_json())
    ok = policy == "commit_after_write" and violations == 0 and not bad
    return _result(ok, "every commit follows its durable write",
                   f"policy {policy!r}, reported violations {violations}, commits ahead of writes {len(bad)}",
                   "rtdl_core/offsets_snapshot.json", counterexample=tuple(bad))


@criterion("P8", "caught_up", "Lag on every input partition within RTDL_CAUGHT_UP_LAG_MAX",
           ("rtdl_core/caught_up.json",))
def caught_up(ctx: GateContext) -> Result:
    caught = ctx.doc("rtdl_core/caught_up.json")
    lag = caught.get("max_lag")
    limit = caught.get("lag_max_threshold")
    ok = isinstance(lag, int) and isinstance(limit, int) and lag <= limit and caught.get("processed", 0) > 0
    return _result(ok, f"max lag {lag} <= {limit}; {caught.get('processed')} processed",
                   f"not caught up: max lag {lag}, threshold {limit}, processed {caught.get('processed')}",
                   "rtdl_core/caught_up.json", figures={"max_lag": lag})


@criterion("P8", "origin_offsets_recorded", "Offsets snapshot covers every admitted topic partition",
           ("rtdl_core/offsets_snapshot.json", "ingest/kafka_offsets_snapshot.json"))
def origin_offsets_recorded(ctx: GateContext) -> Result:
    consumed = _partitions(ctx.doc("rtdl_core/offsets_snapshot.json"))
    admitted = _partitions(ctx.doc("ingest/kafka_offsets_snapshot.json"))
    uncovered = sorted(f"{t}[{p}]" for (t, p) in admitted if (t, p) not in consumed)
    behind = sorted(f"{t}[{p}]" for (t, p), part in admitted.items()
                    if (t, p) in consumed and consumed[(t, p)].get("committed_offset") != part["end_offset"])
    ok = bool(admitted) and not uncovered and not behind
    return _result(ok, f"{len(consumed)} partitions with origin offsets, committed to the end",
                   f"partitions without origin offsets {uncovered}; committed short of the end {behind}",
                   "rtdl_core/offsets_snapshot.json")


@criterion("P8", "degrade_recorded", "Every join miss is an explicit, counted degrade",
           ("rtdl_core/caught_up.json",))
def degrade_recorded(ctx: GateContext) -> Result:
    counts: Mapping[str, int] = ctx.field("rtdl_core/caught_up.json", "degrade_counts")
    if ctx.observed_fn() is not None:
        # A black box's join misses are its internals: its counted degrades are attested, and must be counts.
        bad = {k: v for k, v in counts.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
        return _result(not bad, f"{sum(counts.values())} explicit degrades counted by the platform ({dict(counts)}); "
                       "its join misses are not observable from outside", f"degrade counts that are not counts: {bad}",
                       "rtdl_core/caught_up.json", basis="attested")
    misses = {op.value.get("event_id") for op in ctx.history()
              if op.f == "join" and op.type == "ok" and op.value.get("context") == "missing"}
    degraded = {op.value.get("event_id") for op in ctx.history() if op.f == "degrade" and op.type == "ok"}
    silent = sorted(str(e) for e in misses - degraded)
    ok = not silent and sum(counts.values()) == len(degraded)
    return _result(ok, f"{len(misses)} join misses, all explicitly degraded ({dict(counts)})",
                   f"silent degrades: {len(silent)} join misses without a degrade record ({silent[:3]}); "
                   f"counted {sum(counts.values())}, recorded {len(degraded)}", "rtdl_core/caught_up.json")


# ----------------------------------------------------------------------------------------- P9
@criterion("P9", "decisions_produced", "DF produced decisions for the run's traffic",
           ("decision_lane/decision_summary.json",))
def decisions_produced(ctx: GateContext) -> Result:
    decisions = ctx.field("decision_lane/decision_summary.json", "decisions")
    processed = ctx.field("rtdl_core/caught_up.json", "processed")
    ok = isinstance(decisions, int) and decisions > 0
    return _result(ok, f"{decisions} decisions ({processed} RTDL inputs)", f"no decisions: {decisions!r}",
                   "decision_lane/decision_summary.json", figures={"decisions": decisions})


@criterion("P9", "actions_idempotent", "Actions are idempotent: replayed duplicates cause no second act",
           ("decision_lane/action_summary.json",))
def actions_idempotent(ctx: GateContext) -> Result:
    summary = ctx.doc("decision_lane/action_summary.json")
    executions: dict[str, int] = {}
    doubled: list[dict[str, Any]] = []
    for op in ctx.history():
        if op.f == "action_execute" and op.type == "ok":
            key = str(op.value.get("action_key"))
            executions[key] = executions.get(key, 0) + 1
            if executions[key] == 2 and len(doubled) < 3:
                doubled.append(op.to_json())
    replay = ctx.drill("duplicate_replay")
    ok = summary.get("max_executions_per_key") == 1 and not doubled and \
        (replay is None or replay.get("actions_delta") == 0)
    return _result(ok, f"{summary.get('outcomes')} outcomes, {summary.get('duplicates_prevented')} duplicates "
                   "prevented", f"double actions: max per key {summary.get('max_executions_per_key')}, doubled "
                   f"{len(doubled)}, replay added {(replay or {}).get('actions_delta')} actions",
                   "decision_lane/action_summary.json", counterexample=tuple(doubled))


@criterion("P9", "audit_append_only", "DLA audit exists and is append-only", ("decision_lane/audit_summary.json",))
def audit_append_only(ctx: GateContext) -> Result:
    audit = ctx.doc("decision_lane/audit_summary.json")
    append_only = audit.get("append_only", {})
    drill = ctx.drill("audit_rewrite")
    ok = audit.get("records", 0) > 0 and append_only.get("verified") is True and \
        append_only.get("rewrites_accepted") == 0 and (drill is None or drill.get("rejected") is True)
    return _result(ok, f"{audit.get('records')} audit records, append-only",
                   f"audit not append-only: {dict(audit.get('append_only', {}))}, rewrite drill {dict(drill or {})}",
                   "decision_lane/audit_summary.json")


@criterion("P9", "degrade_in_provenance", "Degrade postures used appear in decision evidence",
           ("decision_lane/decision_summary.json", "rtdl_core/caught_up.json"))
def degrade_in_provenance(ctx: GateContext) -> Result:
    lane = ctx.field("decision_lane/decision_summary.json", "degrade_counts")
    rtdl = ctx.field("rtdl_core/caught_up.json", "degrade_counts")
    ok = sum(lane.values()) == sum(rtdl.values())
    return _result(ok, f"{sum(lane.values())} degraded decisions carry their reason",
                   f"degrades lost between RTDL ({dict(rtdl)}) and decisions ({dict(lane)})",
                   "decision_lane/decision_summary.json")


# ----------------------------------------------------------------------------------------- P10
@criterion("P10", "timelines_and_labels_written", "Case timeline and label assertion appends exist",
           ("case_labels/case_summary.json", "case_labels/label_summary.json"))
def timelines_and_labels_written(ctx: GateContext) -> Result:
    cases = ctx.field("case_labels/case_summary.json", "timeline_events_appended")
    labels = ctx.field("case_labels/label_summary.json", "assertions_appended")
    ok = isinstance(cases, int) and cases > 0 and isinstance(labels, int) and labels > 0
    return _result(ok, f"{cases} timeline events, {labels} label assertions",
                   f"case/label writes missing: {cases} timeline events, {labels} assertions",
                   "case_labels/case_summary.json", "case_labels/label_summary.json")


@criterion("P10", "append_only_idempotent", "Duplicates do not double-append; history is never rewritten",
           ("case_labels/case_summary.json", "case_labels/label_summary.json"))
def append_only_idempotent(ctx: GateContext) -> Result:
    case = ctx.doc("case_labels/case_summary.json")
    label = ctx.doc("case_labels/label_summary.json")
    keys: set[tuple[str, str]] = set()
    doubled: list[dict[str, Any]] = []
    for op in ctx.history():
        if op.f in ("case_append", "label_append") and op.type == "ok":
            key = (op.f, str(op.value.get("idempotency_key")))
            if key in keys and len(doubled) < 3:
                doubled.append(op.to_json())
            keys.add(key)
    drill = ctx.drill("timeline_rewrite")
    flags = [case.get("append_only", {}).get("verified"), label.get("append_only", {}).get("verified")]
    ok = all(f is True for f in flags) and not doubled and (drill is None or drill.get("rejected") is True)
    return _result(ok, f"idempotent appends ({case.get('duplicates_ignored')} + {label.get('duplicates_ignored')} "
                   "duplicates ignored); rewrite refused", f"append-only/idempotency broken: verified={flags}, "
                   f"double appends {len(doubled)}, rewrite drill {dict(drill or {})}", "case_labels/case_summary.json",
                   counterexample=tuple(doubled))


# ----------------------------------------------------------------------------------------- P11
@criterion("P11", "single_writer_lock", "The reporter held the lock; a concurrent reporter failed closed",
           ("run_completed.json",))
def single_writer_lock(ctx: GateContext) -> Result:
    lock = ctx.field("run_completed.json", "lock")
    drill = ctx.drill("second_reporter")
    holders = {op.value.get("holder") for op in ctx.history() if op.f == "closure_write" and op.type == "ok"}
    ok = bool(lock.get("holder")) and (drill is None or drill.get("acquired") is False) and len(holders) <= 1
    drill = drill or {}
    return _result(ok, f"lock held by {lock.get('holder')}; second reporter refused ({drill.get('error')})",
                   f"single writer broken: lock {lock}, second reporter acquired={drill.get('acquired')}, "
                   f"closure writers {sorted(map(str, holders))}", "run_completed.json")


@criterion("P11", "closure_marker", "run_completed.json marks the run COMPLETED", ("run_completed.json",))
def closure_marker(ctx: GateContext) -> Result:
    status = ctx.field("run_completed.json", "status")
    return _result(status == "COMPLETED", "run COMPLETED", f"closure marker status {status!r}",
                   "run_completed.json")


@criterion("P11", "closure_complete", "Run report, reconciliation, anchors, conformance and anomaly summary "
           "exist for this run and reconcile", ("reconciliation.json", "run_report.json"))
def closure_complete(ctx: GateContext) -> Result:
    needed = ("run_report.json", "reconciliation.json", "replay_anchors.json", "obs/environment_conformance.json",
              "obs/anomaly_summary.json")
    missing = [p for p in needed if ctx.read(p) is None]
    if missing:
        return Result(False, f"closure artifacts missing: {missing}", needed)
    balanced = ctx.field("reconciliation.json", "balanced")
    conformant = ctx.field("obs/environment_conformance.json", "conformant")
    ok = balanced is True and conformant is True
    return _result(ok, "closure complete, reconciled and conformant",
                   f"reconciliation balanced={balanced}, environment conformant={conformant}", *needed)


@criterion("P11", "replay_anchors_valid", "Replay anchors cover every topic partition and match the snapshots",
           ("replay_anchors.json", "ingest/kafka_offsets_snapshot.json"))
def replay_anchors_valid(ctx: GateContext) -> Result:
    anchors = {(a["topic"], int(a["partition"])): a for a in ctx.field("replay_anchors.json", "anchors")}
    snapshot = _partitions(ctx.doc("ingest/kafka_offsets_snapshot.json"))
    wrong = []
    for key, part in sorted(snapshot.items()):
        anchor = anchors.get(key)
        if anchor is None or anchor.get("start_offset") != part["start_offset"] or \
                anchor.get("end_offset") != part["end_offset"] or not anchor.get("captured_at_utc"):
            wrong.append({"topic": key[0], "partition": key[1], "snapshot": dict(part),
                          "anchor": dict(anchor) if anchor else None})
    ok = bool(snapshot) and not wrong
    return _result(ok, f"{len(anchors)} anchors consistent with the offset snapshots",
                   f"{len(wrong)} partitions without a consistent anchor", "replay_anchors.json",
                   counterexample=tuple(wrong[:3]))


# ----------------------------------------------------------------------------------------- P12
@criterion("P12", "nothing_left_running", "No daemon, consumer or lease is left after teardown",
           ("teardown/teardown_proof.json",))
def nothing_left_running(ctx: GateContext) -> Result:
    proof = ctx.doc("teardown/teardown_proof.json")
    absent: Mapping[str, bool] = proof.get("confirmed_absent", {})
    observed = ctx.probe("running_daemons")
    live = observed.get("running", [])
    ok = bool(absent) and all(v is True for v in absent.values()) and not proof.get("running_daemons") and not live
    return _result(ok, f"teardown confirmed absent: {sorted(absent)}",
                   f"left running: proof {proof.get('running_daemons')}, live {live}, absent {dict(absent)}",
                   "teardown/teardown_proof.json", basis="observed" if observed.get("observed") else None)


@criterion("P12", "evidence_preserved", "The evidence bundle is still present and readable after teardown",
           ("teardown/teardown_proof.json",))
def evidence_preserved(ctx: GateContext) -> Result:
    proof_says = ctx.field("teardown/teardown_proof.json", "evidence_preserved")
    unreadable = [p for p in ("run.json", "run_completed.json", "replay_anchors.json") if ctx.read(p) is None]
    ok = proof_says is True and not unreadable
    return _result(ok, "evidence preserved", f"evidence lost: proof says {proof_says!r}, unreadable {unreadable}",
                   "teardown/teardown_proof.json")


@criterion("P12", "cloud_resources_destroyed", "Demo infrastructure destroyed (Kafka cluster, ECS, DB, SSM)")
def cloud_resources_destroyed(ctx: GateContext) -> Result:
    remaining = list(ctx.fact("demo_resources_remaining"))
    return _result(not remaining, "demo resources destroyed", f"demo resources remain: {remaining}")
