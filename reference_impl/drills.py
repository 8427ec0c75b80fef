"""Drills: the probes the gates run against the platform (``SpinePlatform.drill(name)``). Each one acts
like an operator or an attacker would and returns what it observed. Drills that would disturb the run's
own accounting act in a sandbox (another run id, another bus) and say so."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reference_impl.case_labels import CaseLabels
from reference_impl.decision_lane import DecisionLane
from reference_impl.errors import (
    DrillUnavailable,
    LeaseConflict,
    NonRetryableIngest,
    ReadyNotFound,
    ReporterLockHeld,
    ScopeMismatch,
    UnknownDrill,
)
from reference_impl.faultpoints import FaultPoints
from reference_impl.ig import IngestGate, IngestResponse
from reference_impl.memory_bus import InMemoryBus
from reference_impl.reporter import Reporter
from reference_impl.rtdl import RtdlCore
from reference_impl.runtime import NullRecorder, Runtime
from reference_impl.sr import ScenarioRunner
from reference_impl.wsp import WorldStreamProducer

if TYPE_CHECKING:
    from reference_impl.platform import SpinePlatform

DrillFn = Callable[..., dict[str, Any]]


def _other_runtime(p: SpinePlatform, run_id: str, *, bus: Any = None, recorder: Any = None) -> Runtime:
    config = replace(p.config, platform_run_id=run_id, required_platform_run_id="")
    return Runtime(config, bus=bus or p.rt.bus, store=p.rt.store, evidence=p.rt.evidence,
                   recorder=recorder or p.rt.recorder, clock=p.rt.clock, faults=p.faults)


def _sandbox_gate(p: SpinePlatform, run_id: str | None = None) -> IngestGate:
    """An IG built from the run's config and sharing the run's admission (dedupe) store, but publishing to
    a private bus, keeping its own receipts and recording nothing: drills that admit events must not move
    the run's offsets, receipts or history after the phases that summarised them."""
    sandbox_faults = FaultPoints()
    bus = InMemoryBus(sandbox_faults)
    for topic in p.config.handles.topics.values():
        bus.create_topic(topic.name, topic.partitions)
    rid = run_id or p.rt.run_id
    config = replace(p.config, platform_run_id=rid, required_platform_run_id="")
    rt = Runtime(config, bus=bus, store=p.rt.store, evidence=p.rt.evidence, recorder=NullRecorder(),
                 clock=p.rt.clock, faults=sandbox_faults)
    return IngestGate(rt, required_platform_run_id=rid, api_key=p.config.api_key, admission=p.admission,
                      task_id="ig-drill")


def _ig(p: SpinePlatform) -> IngestGate:
    if p.ig is None:
        raise DrillUnavailable("the IG is not running: run phases through P2 before this drill")
    return p.ig


def unauthenticated_ingest(p: SpinePlatform) -> dict[str, Any]:
    _ig(p)
    return {"status_code": p.ingest({}, p.smoke_envelope()).status_code}


def wrong_key_ingest(p: SpinePlatform) -> dict[str, Any]:
    _ig(p)
    return {"status_code": p.ingest(p.auth_headers("wrong-" + "k" * 8), p.smoke_envelope()).status_code}


def authenticated_ingest(p: SpinePlatform) -> dict[str, Any]:
    _ig(p)
    resp = _sandbox_gate(p).send(p.auth_headers(), p.smoke_envelope())
    return {"status_code": resp.status_code, "outcome": resp.outcome}


def run_scope_mismatch(p: SpinePlatform, other_run_id: str = "run-scope-intruder") -> dict[str, Any]:
    """Start each daemon with a REQUIRED_PLATFORM_RUN_ID for another run; each must refuse. Then send the
    run's IG an envelope of another run: it must answer 409."""
    ig = _ig(p)
    required = other_run_id
    builders: dict[str, Callable[[], object]] = {
        "ig": lambda: IngestGate(p.rt, required_platform_run_id=required, api_key=p.config.api_key),
        "rtdl_core": lambda: RtdlCore(p.rt, required_platform_run_id=required, process="rtdl_core"),
        "decision_lane": lambda: DecisionLane(p.rt, required_platform_run_id=required),
        "case_labels": lambda: CaseLabels(p.rt, required_platform_run_id=required),
    }
    components: dict[str, bool] = {}
    for name, build in builders.items():
        try:
            build()
            components[name] = False
        except ScopeMismatch:
            components[name] = True
    envelope = {**p.smoke_envelope(), "platform_run_id": other_run_id}
    resp = p.ingest(p.auth_headers(), envelope, gate=ig)
    rejected = resp.status_code == 409 and all(components.values())
    return {"rejected": rejected, "status_code": resp.status_code, "components": components}


def dedupe_other_run(p: SpinePlatform, other_run_id: str = "dedupe-other-run") -> dict[str, Any]:
    """The same (event_class, event_id) under another run, on the shared admission store, is a new event."""
    _ig(p)
    envelope = p.smoke_envelope()
    first = _sandbox_gate(p).send(p.auth_headers(), envelope)
    second = _sandbox_gate(p, other_run_id).send(p.auth_headers(), {**envelope, "platform_run_id": other_run_id})
    return {"first_outcome": first.outcome, "second_outcome": second.outcome}


def duplicate_replay(p: SpinePlatform, count: int = 5) -> dict[str, Any]:
    """Replay events the run already sent (IG must answer DUPLICATE and publish nothing) and redeliver
    decisions to the run's decision lane (AL must not act twice)."""
    _ig(p)
    gate = _sandbox_gate(p)
    if p.wsp is not None and p.wsp.planned:
        envelopes = [e for e in p.wsp.planned if e.get("event_class") == "traffic_fraud" and "ts_utc" in e][:count]
    else:
        envelopes = [p.smoke_envelope() for _ in range(count)]
        for envelope in envelopes:
            gate.send(p.auth_headers(), envelope)
    published_before = gate.stats.published
    actions_before = sum(p.lane.stats.executions.values()) if p.lane is not None else 0
    outcomes: dict[str, int] = {}
    for envelope in envelopes:
        resp = gate.send(p.auth_headers(), envelope)
        label = str(resp.outcome or resp.status_code)
        outcomes[label] = outcomes.get(label, 0) + 1
    if p.lane is not None:
        p.lane.redeliver(count)
        p.lane.process_available()
    actions_after = sum(p.lane.stats.executions.values()) if p.lane is not None else 0
    return {"replayed": len(envelopes), "outcomes": outcomes,
            "published_delta": gate.stats.published - published_before, "actions_delta": actions_after - actions_before}


def payload_change(p: SpinePlatform) -> dict[str, Any]:
    _ig(p)
    gate = _sandbox_gate(p)
    envelope = p.smoke_envelope()
    gate.send(p.auth_headers(), envelope)
    key: tuple[str, ...] = (envelope["platform_run_id"], envelope["event_class"], envelope["event_id"])
    if p.rt.mutated("dedupe_ignores_run_id"):
        key = key[1:]
    original = gate.payload_of(key)
    changed = {**envelope, "payload": {**envelope["payload"], "tampered": True}}
    resp = gate.send(p.auth_headers(), changed)
    return {"outcome": resp.outcome, "original_intact": original is not None and gate.payload_of(key) == original}


def receipt_rewrite(p: SpinePlatform) -> dict[str, Any]:
    return {"rejected": _ig(p).try_rewrite_receipt(1)}


def audit_rewrite(p: SpinePlatform) -> dict[str, Any]:
    if p.lane is None or not len(p.lane.audit):
        raise DrillUnavailable("no audit records yet: run phases through P9 before audit_rewrite")
    return {"rejected": p.lane.try_rewrite_audit()}


def timeline_rewrite(p: SpinePlatform) -> dict[str, Any]:
    if p.cases is None or not len(p.cases.timelines):
        raise DrillUnavailable("no case timeline yet: run phases through P10 before timeline_rewrite")
    return {"rejected": p.cases.try_rewrite_timeline()}


def second_reporter(p: SpinePlatform) -> dict[str, Any]:
    """While the run's reporter holds the lock, a second reporter must fail closed."""
    from reference_impl.platform import REPORTER_HOLDER

    if p.reporter is None:
        p.reporter = Reporter(p.rt, holder=REPORTER_HOLDER)
        p.reporter.acquire()  # idempotent for the same holder: P11 re-acquires its own lock
    intruder = Reporter(p.rt, holder="reporter-2")
    try:
        intruder.acquire()
    except ReporterLockHeld as held:
        return {"acquired": False, "error": str(held)}
    return {"acquired": True, "error": None}


def per_output_rerun(p: SpinePlatform, output_id: str = "flow_anchor_fraud") -> dict[str, Any]:
    """Break one output (its manifest is lost), check the checker notices, rerun only that output and
    verify the others were not touched."""
    oracle = p.oracle
    if oracle is None:
        raise DrillUnavailable("the oracle lane has not run: run phases through P3 before per_output_rerun")
    store, bucket = p.store, oracle.bucket
    store.delete(bucket, oracle.manifest_key(output_id))
    detected = oracle.checker()["outputs"][output_id]["status"] == "FAIL"
    touched: list[str] = []

    def collect(ctx: Mapping[str, Any]) -> None:
        touched.append(str(ctx.get("key")))

    p.faults.arm("store.put.before", collect, times=None)
    p.faults.arm("store.delete.before", collect, times=None)
    try:
        oracle.rerun_output(output_id)
    finally:
        p.faults.disarm("store.put.before")
        p.faults.disarm("store.delete.before")
    others = [o for o in oracle.outputs if o != output_id]
    other_keys = {oracle.manifest_key(o) for o in others} | {oracle.receipt_key(o) for o in others}
    other_prefixes = tuple(oracle.stream_view_prefix(o) for o in others)
    untouched = not any(k in other_keys or k.startswith(other_prefixes) for k in touched)
    checker = oracle.checker()
    return {"output_id": output_id, "rerun_ok": checker["outputs"][output_id]["status"] == "PASS",
            "others_untouched": untouched, "checker_status": checker["status"], "failure_detected": detected}


def stream_without_ready(p: SpinePlatform, other_run_id: str = "run-without-ready") -> dict[str, Any]:
    """A WSP for a run that has no READY must refuse to start."""
    rt = _other_runtime(p, other_run_id)

    class _NoSend:
        def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse:
            return IngestResponse(500, error="drill: nothing is sent")

    wsp = WorldStreamProducer(rt, _NoSend(), api_key="", process="drill-wsp")
    try:
        wsp.start()
    except ReadyNotFound:
        return {"refused": True}
    return {"refused": False}


def sr_conflicting_lease(p: SpinePlatform) -> dict[str, Any]:
    """A second SR with the same equivalence key but another holder must fail closed."""
    own = p.sr or ScenarioRunner(p.rt)
    took = not p.store.exists(own.lease_bucket, own.lease_key())
    if took:
        own.acquire_lease()
    try:
        ScenarioRunner(p.rt, holder="sr:intruder").acquire_lease()
        refused = False
    except LeaseConflict:
        refused = True
    if took:
        own.release_lease()
    return {"refused": refused}


def nonretryable_stop(p: SpinePlatform) -> dict[str, Any]:
    """IG answers 400 to the second event: WSP must stop there and record it (no silent skipping)."""
    _ig(p)
    gate = _sandbox_gate(p)
    calls: list[str] = []

    class _RejectSecond:
        def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse:
            calls.append(str(envelope.get("event_id")))
            if len(calls) == 2:
                return IngestResponse(400, error="drill: schema rejected")
            return gate.send(headers, envelope)

    wsp = WorldStreamProducer(gate.rt, _RejectSecond(), api_key=p.config.api_key, process="drill-wsp")
    envelopes = [p.smoke_envelope() for _ in range(4)]
    stopped = False
    try:
        wsp.stream(envelopes)
    except NonRetryableIngest:
        stopped = True
    return {"stopped": stopped and len(calls) == 2,
            "recorded": wsp.totals.nonretryable == 1 and wsp.totals.failed == 1,
            "sent_after_rejection": len(calls) - 2}


def derive_scenario_run_id(p: SpinePlatform) -> dict[str, Any]:
    """Re-derive scenario_run_id from the equivalence key, independently of the SR that published it."""
    from reference_impl.sr import equivalence_key, scenario_run_id_for

    cfg = p.config
    key = equivalence_key(cfg.seed, cfg.traffic_events, cfg.handles.oracle_required_output_ids)
    return {"equivalence_key": key, "scenario_run_id": scenario_run_id_for(key)}


def running_daemons(p: SpinePlatform) -> dict[str, Any]:
    return {"running": p.supervisor.running() if p.supervisor is not None else []}


def consumer_instances(p: SpinePlatform) -> dict[str, Any]:
    return dict(p.supervisor.consumer_groups()) if p.supervisor is not None else {}


DRILLS: Mapping[str, DrillFn] = {
    "unauthenticated_ingest": unauthenticated_ingest,
    "wrong_key_ingest": wrong_key_ingest,
    "authenticated_ingest": authenticated_ingest,
    "run_scope_mismatch": run_scope_mismatch,
    "dedupe_other_run": dedupe_other_run,
    "duplicate_replay": duplicate_replay,
    "payload_change": payload_change,
    "receipt_rewrite": receipt_rewrite,
    "audit_rewrite": audit_rewrite,
    "timeline_rewrite": timeline_rewrite,
    "second_reporter": second_reporter,
    "per_output_rerun": per_output_rerun,
    "stream_without_ready": stream_without_ready,
    "sr_conflicting_lease": sr_conflicting_lease,
    "nonretryable_stop": nonretryable_stop,
    "derive_scenario_run_id": derive_scenario_run_id,
    "running_daemons": running_daemons,
    "consumer_instances": consumer_instances,
}


def run_drill(p: SpinePlatform, name: str, **params: Any) -> dict[str, Any]:
    try:
        fn = DRILLS[name]
    except KeyError:
        raise UnknownDrill(name, DRILLS) from None
    return fn(p, **params)
