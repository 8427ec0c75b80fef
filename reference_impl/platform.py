"""The in-process Spine Green v0 platform: the phase machine P(-1)..P12 over the components, writing
the evidence each phase commits, and the drills (probes) the gates use."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_impl.canonical import canonical_json, derive_id, digest_of, sha256_hex
from reference_impl.case_labels import CaseLabels
from reference_impl.daemons import DaemonSupervisor
from reference_impl.decision_lane import DecisionLane
from reference_impl.errors import PhaseOrderError, PlatformError, ScopeMismatch
from reference_impl.faultpoints import FaultPoints
from reference_impl.handles import CONTEXT_OUTPUTS, SMOKE_EVENT_CLASS, TRAFFIC_OUTPUT
from reference_impl.ig import OUTCOMES, AdmissionStore, IngestGate, IngestResponse
from reference_impl.memory_bus import InMemoryBus
from reference_impl.memory_store import InMemoryObjectStore
from reference_impl.oracle import Oracle
from reference_impl.ports import Bus, ObjectStore
from reference_impl.reporter import Reporter
from reference_impl.rtdl import RtdlCore
from reference_impl.runtime import (
    Clock,
    DictEvidence,
    EvidenceSink,
    NullRecorder,
    PlatformConfig,
    Recorder,
    Runtime,
    StillClock,
)
from reference_impl.sr import ScenarioRunner, equivalence_key, scenario_run_id_for
from reference_impl.teardown import Teardown
from reference_impl.wsp import WorldStreamProducer

PHASE_IDS: tuple[str, ...] = (
    "P(-1)", "P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12",
)

# The job-card entrypoints the single image must be able to run (seed 003 P(-1).4).
ENTRYPOINTS: Mapping[str, str] = {
    "oracle_seed": "reference_impl.oracle:Oracle.seed",
    "oracle_stream_sort": "reference_impl.oracle:Oracle.stream_sort",
    "oracle_checker": "reference_impl.oracle:Oracle.checker",
    "sr_run": "reference_impl.sr:ScenarioRunner.run",
    "wsp_run": "reference_impl.wsp:WorldStreamProducer.stream",
    "ig_service": "reference_impl.ig:IngestGate.send",
    "rtdl_core": "reference_impl.rtdl:RtdlCore.process_available",
    "decision_lane": "reference_impl.decision_lane:DecisionLane.process_available",
    "case_manager": "reference_impl.case_labels:CaseLabels.process_available",
    "label_store": "reference_impl.case_labels:CaseLabels.summaries",
    "reporter": "reference_impl.reporter:Reporter.close",
}
REDELIVERY = 5
REPORTER_HOLDER = "reporter-1"


@dataclass(frozen=True, slots=True)
class PhaseReport:
    phase_id: str
    completed: bool
    error: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    evidence_paths: list[str] = field(default_factory=list)


def resolve_entrypoint(ref: str) -> bool:
    module_name, _, attr_path = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr_path.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return callable(obj)


def source_digest() -> str:
    """sha256 over the reference platform's sources: the local translation of an image digest."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


class SpinePlatform:
    def __init__(self, config: PlatformConfig, *, bus: Bus, store: ObjectStore, evidence: EvidenceSink,
                 recorder: Recorder, clock: Clock, faults: FaultPoints | None = None) -> None:
        self.config = config
        self.faults = faults or FaultPoints()
        self.rt = Runtime(config, bus=bus, store=store, evidence=evidence, recorder=recorder, clock=clock,
                          faults=self.faults)
        self.reports: dict[str, PhaseReport] = {}
        self.admission = AdmissionStore()
        self.supervisor: DaemonSupervisor | None = None
        self.ig: IngestGate | None = None
        self.rtdl: RtdlCore | None = None
        self.lane: DecisionLane | None = None
        self.cases: CaseLabels | None = None
        self.oracle: Oracle | None = None
        self.sr: ScenarioRunner | None = None
        self.wsp: WorldStreamProducer | None = None
        self.reporter: Reporter | None = None
        self.equivalence_key = equivalence_key(config.seed, config.traffic_events,
                                               config.handles.oracle_required_output_ids)
        self.scenario_run_id = scenario_run_id_for(self.equivalence_key)
        self.ingest_offsets: dict[str, list[dict[str, int]]] = {}
        self._written: list[str] = []
        self.secrets: dict[str, str] = {"SSM_IG_API_KEY_PATH": config.api_key}
        self._smoke_counter = 0
        self._phase_fns: dict[str, Callable[[], tuple[bool, dict[str, Any], str | None]]] = {
            "P(-1)": self._p_packaging, "P0": self._p0, "P1": self._p1, "P2": self._p2, "P3": self._p3,
            "P4": self._p4, "P5": self._p5, "P6": self._p6, "P7": self._p7, "P8": self._p8, "P9": self._p9,
            "P10": self._p10, "P11": self._p11, "P12": self._p12,
        }

    @classmethod
    def in_memory(cls, config: PlatformConfig, *, evidence: EvidenceSink | None = None,
                  recorder: Recorder | None = None, clock: Clock | None = None) -> SpinePlatform:
        """A platform over a fresh InMemoryBus and InMemoryObjectStore sharing one set of fault points."""
        faults = FaultPoints()
        return cls(config, bus=InMemoryBus(faults), store=InMemoryObjectStore(faults),
                   evidence=evidence if evidence is not None else DictEvidence(),
                   recorder=recorder if recorder is not None else NullRecorder(),
                   clock=clock if clock is not None else StillClock(), faults=faults)

    def run_until(self, phase_id: str) -> list[PhaseReport]:
        """Run every phase up to and including ``phase_id``; stops at the first that does not complete."""
        reports = []
        for phase in PHASE_IDS[:PHASE_IDS.index(phase_id) + 1]:
            if phase in self.reports and self.reports[phase].completed:
                continue
            report = self.run_phase(phase)
            reports.append(report)
            if not report.completed:
                break
        return reports

    # ------------------------------------------------------------------ plumbing
    @property
    def bus(self) -> Bus:
        return self.rt.bus

    @property
    def store(self) -> ObjectStore:
        return self.rt.store

    def _put(self, relpath: str, document: Mapping[str, Any], phase_id: str) -> None:
        doc = {"phase_id": phase_id, **document}
        if PHASE_IDS.index(phase_id) >= PHASE_IDS.index("P5"):
            doc.setdefault("scenario_run_id", self.scenario_run_id)
        self.rt.evidence.put(relpath, doc)
        self._written.append(relpath)

    def run_phase(self, phase_id: str) -> PhaseReport:
        if phase_id not in PHASE_IDS:
            raise PhaseOrderError(f"unknown phase id {phase_id!r}; phases are {', '.join(PHASE_IDS)}")
        index = PHASE_IDS.index(phase_id)
        done = self.reports.get(phase_id)
        if done is not None and done.completed:
            raise PhaseOrderError(f"phase {phase_id} already completed for run {self.rt.run_id!r}; "
                                  "evidence is write-once, start a new run to repeat it")
        if index > 0:
            before = PHASE_IDS[index - 1]
            prior = self.reports.get(before)
            if prior is None or not prior.completed:
                raise PhaseOrderError(f"phase {phase_id} needs {before} completed first (canonical order "
                                      f"{' -> '.join(PHASE_IDS)}); {before} is "
                                      f"{'not run' if prior is None else 'FAILED: ' + str(prior.error)}")
        mark = len(self._written)
        self.rt.event("platform", "phase.started", "run", phase_id=phase_id)
        try:
            completed, facts, error = self._phase_fns[phase_id]()
        except Exception as exc:  # a phase that crashes is a failed phase, never a crashed harness
            completed, facts, error = False, {}, f"{type(exc).__name__}: {exc}"
        report = PhaseReport(phase_id, completed, error, facts, self._written[mark:])
        self.reports[phase_id] = report
        self.rt.event("platform", "phase.completed" if completed else "phase.failed", "run", phase_id=phase_id,
                      error=error)
        return report

    def _need(self, component: Any, name: str) -> Any:
        if component is None:
            raise PlatformError(f"{name} is not running: run the phases up to the one that starts it first")
        return component

    # ------------------------------------------------------------------ P(-1) .. P2
    def _image(self) -> dict[str, Any]:
        digest = self.config.image_digest or f"sha256:{source_digest()}"
        return {"tag": self.config.image_tag, "digest": digest, "git_sha": self.config.git_sha}

    def _p_packaging(self) -> tuple[bool, dict[str, Any], str | None]:
        entrypoints = dict(ENTRYPOINTS)
        if self.rt.mutated("entrypoint_missing"):
            entrypoints["oracle_seed"] = "reference_impl.oracle_seed_v2:main"
        found = {name: resolve_entrypoint(ref) for name, ref in entrypoints.items()}
        missing = sorted(n for n, ok in found.items() if not ok)
        image = self._image()
        facts = {"entrypoints": found, "image": image, "secrets_required": False,
                 # In-process, "task definitions can reference the image" = every entrypoint resolves and the
                 # image has a digest.
                 "image_ref_ready": not missing and bool(image["digest"])}
        return not missing, facts, (f"entrypoints not importable: {missing}" if missing else None)

    def _p0(self) -> tuple[bool, dict[str, Any], str | None]:
        handles = self.config.handles
        for key in handles.buckets:
            self.store.create_bucket(self.rt.bucket(key, "substrate"))
        for key, topic in handles.topics.items():
            if self.rt.mutated("topic_missing") and key == "FP_BUS_CASE_TRIGGERS_V1":
                continue
            self.bus.create_topic(self.rt.topic(key, "substrate").name, topic.partitions)
        existing = self.bus.topics()
        topics_ok = {key: existing.get(t.name) == t.partitions for key, t in handles.topics.items()}
        buckets_ok: dict[str, bool] = {}
        for key, name in handles.buckets.items():
            probe = f"_probe/{self.rt.run_id}/{derive_id(key, self.rt.run_id, length=8)}"
            try:
                self.store.put(name, probe, b"probe")
                self.store.delete(name, probe)
                buckets_ok[key] = True
            except Exception:
                buckets_ok[key] = False
        resolvable = all(topics_ok.values()) and all(buckets_ok.values())
        bad = sorted([k for k, ok in topics_ok.items() if not ok] + [k for k, ok in buckets_ok.items() if not ok])
        facts = {"core_applied": all(buckets_ok.values()), "demo_applied": all(topics_ok.values()),
                 "handles_resolvable": {"topics": topics_ok, "buckets": buckets_ok},
                 "buckets": {handles.buckets[k]: ok for k, ok in buckets_ok.items()},
                 "topics_expected": {t.name: t.partitions for t in handles.topics.values()},
                 "topics": dict(existing),
                 "handles_missing": bad,
                 "handles_used": len(handles.topics) + len(handles.buckets),
                 "forbidden_infra": [],  # in-process there is no NAT gateway or load balancer to find
                 "teardown_viable": True}
        return resolvable, facts, (f"handles not resolvable: {bad}" if bad else None)

    def run_config(self) -> dict[str, Any]:
        return {"handles": self.config.handles.to_json(), "knobs": self.config.knobs(), "image": self._image()}

    def _p1(self) -> tuple[bool, dict[str, Any], str | None]:
        config = self.run_config()
        if self.rt.mutated("run_json_incomplete"):
            config.pop("image")
        digest_input: Any = config
        if self.rt.mutated("unstable_config_digest"):
            digest_input = {**config, "_computed_at": self.rt.clock.now(), "_pid_salt": id(self)}
        config_digest = digest_of(digest_input)
        doc = {"env": self.config.env, "scenario_equivalence_key": self.equivalence_key,
               "scenario_run_id": self.scenario_run_id, "config": config, "config_digest": config_digest,
               "config_digest_algo": "sha256", "started_at_utc": self.rt.now_iso(),
               "code_version": self.config.code_version}
        self._put("run.json", doc, "P1")
        self.mark_evidence_root(config_digest)
        stable = digest_of(config) == config_digest
        return True, {"config_digest": config_digest, "digest_recomputed_equal": stable}, None

    def mark_evidence_root(self, config_digest: str) -> None:
        """Create the run's evidence root in the evidence bucket (its header object). A platform whose evidence
        sink writes to that root itself (``services.phases``) has created it with run.json and writes nothing
        else there: every object under the root is an evidence file."""
        evidence_bucket = self.rt.bucket("S3_EVIDENCE_BUCKET", "run")
        root = self.rt.prefix("S3_EVIDENCE_PREFIX_PATTERN", "run")
        self.store.put(evidence_bucket, f"{root}run_header.json",
                       canonical_json({"platform_run_id": self.rt.run_id, "config_digest": config_digest}).encode(),
                       if_none_match=True)

    def _p2(self) -> tuple[bool, dict[str, Any], str | None]:
        required = self.config.required_run_id
        sup = DaemonSupervisor(self.rt)
        self.supervisor = sup
        sup.start_all(required)
        error = None
        try:
            if sup.is_running("ig"):
                self.ig = IngestGate(self.rt, required_platform_run_id=required, api_key=self.config.api_key,
                                     admission=self.admission, task_id=sup.services["ig"].task_id,
                                     security=self._control_security())
            if sup.is_running("rtdl_core"):
                self.rtdl = RtdlCore(self.rt, required_platform_run_id=required)
            if sup.is_running("decision_lane"):
                self.lane = DecisionLane(self.rt, required_platform_run_id=required)
            if sup.is_running("case_manager"):
                self.cases = CaseLabels(self.rt, required_platform_run_id=required)
        except ScopeMismatch as exc:
            error = str(exc)
        except Exception as exc:  # a missing handle or topic: dependency readiness fails
            error = f"dependency not ready: {type(exc).__name__}: {exc}"
        groups = sup.consumer_groups()
        doc = {"packs": sup.packs_json(), "run_scope": {"required": required, "checks": sup.scope_checks},
               "consumer_groups": groups}
        self._put("operate/daemons_ready.json", doc, "P2")
        not_running = [s.name for s in sup.services.values() if s.running_count < s.desired_count]
        scope_ok = all(c["ok"] for c in sup.scope_checks) and bool(sup.scope_checks)
        existing = self.bus.topics()
        dependencies = {f"topic:{t.name}": t.name in existing for t in self.config.handles.topics.values()}
        for bucket in self.config.handles.buckets.values():
            try:
                self.store.list(bucket, "_probe/")
                dependencies[f"bucket:{bucket}"] = True
            except KeyError:
                dependencies[f"bucket:{bucket}"] = False
        dependencies["components"] = error is None
        facts = {"all_running": not not_running, "not_running": not_running, "run_scope_enforced": scope_ok,
                 "duplicate_consumers": {g: n for g, n in groups.items() if n > 1},
                 "dependency_ready": error is None, "dependencies": dependencies}
        if error is None and not_running:
            error = f"services not running: {not_running}"
        return error is None, facts, error

    # ------------------------------------------------------------------ P3 .. P7
    def _p3(self) -> tuple[bool, dict[str, Any], str | None]:
        oracle = Oracle(self.rt)
        self.oracle = oracle
        snapshot = oracle.seed()
        self._put("oracle/seed_snapshot.json", {"outputs": snapshot}, "P3")
        results = {o: oracle.stream_sort(o) for o in oracle.outputs}
        self._put("oracle/stream_sort_summary.json", {"outputs": {o: r.to_json() for o, r in results.items()}},
                  "P3")
        checker = oracle.checker()
        self._put("oracle/checker_pass.json", {"status": checker["status"], "outputs": checker["outputs"]}, "P3")
        ok = checker["status"] == "PASS"
        return ok, {"checker_status": checker["status"]}, (None if ok else f"oracle checker FAIL: {checker}")

    def smoke_envelope(self) -> dict[str, Any]:
        self._smoke_counter += 1
        return {"platform_run_id": self.rt.run_id, "scenario_run_id": None, "event_class": SMOKE_EVENT_CLASS,
                "event_id": derive_id("ig_smoke", self.rt.run_id, self._smoke_counter),
                "ts_utc": self.rt.now_iso(), "payload": {"smoke": self._smoke_counter}}

    def ingest(self, headers: Mapping[str, str], envelope: Mapping[str, Any], process: str = "drill",
               gate: IngestGate | None = None) -> IngestResponse:
        """One recorded ingest request (invoke, then ok/fail) through ``gate`` (default: the run's IG)."""
        ig: IngestGate = gate or self._need(self.ig, "IG")
        ident = {"platform_run_id": envelope.get("platform_run_id"), "event_class": envelope.get("event_class"),
                 "event_id": envelope.get("event_id"), "payload_hash": digest_of(envelope.get("payload"))}
        self.rt.record(process, "invoke", "ingest", **ident)
        resp = ig.send(headers, envelope)
        if 200 <= resp.status_code < 300:
            self.rt.record(process, "ok", "ingest", **ident, outcome=resp.outcome, receipt_seq=resp.receipt_seq)
        else:
            self.rt.record(process, "fail", "ingest", **ident, status_code=resp.status_code, error=resp.error)
        return resp

    def auth_headers(self, key: str | None = None) -> dict[str, str]:
        return {self.config.handles.ig_auth_header_name: self.config.api_key if key is None else key}

    def _p4(self) -> tuple[bool, dict[str, Any], str | None]:
        sup = self._need(self.supervisor, "operate")
        ig: IngestGate = self._need(self.ig, "IG")
        unauth = self.ingest({}, self.smoke_envelope(), "ig_ready")
        wrong = self.ingest(self.auth_headers("not-the-key"), self.smoke_envelope(), "ig_ready")
        authed = self.ingest(self.auth_headers(), self.smoke_envelope(), "ig_ready")
        auth_pass = unauth.status_code == 401 and wrong.status_code == 403 and authed.status_code == 200
        topic = (self.config.handles.topic_for_class(SMOKE_EVENT_CLASS).name
                 if not self.rt.mutated("hardcoded_topic") else "fp.bus.ig.smoke")
        read_back = False
        if authed.partition is not None and authed.offset is not None:
            group = self.rt.group("IG_SMOKE_CONSUMER_GROUP_ID", "ig_ready")
            self.bus.seek(group, topic, authed.partition, authed.offset)
            got = [r for r in self.bus.poll(group, topic, max_records=1000) if r.partition == authed.partition]
            read_back = bool(got) and got[0].offset == authed.offset and \
                got[0].value.get("event_class") == SMOKE_EVENT_CLASS
        smoke_key = f"{ig.quarantine_prefix}_smoke/ig_ready-{ig.task_id}.json"
        try:
            ig.write_quarantine(smoke_key, canonical_json({"smoke": True, "at": self.rt.now_iso()}).encode())
            s3_ok = True
        except Exception:
            s3_ok = False
        health = sup.is_running("ig")
        doc = {"service": "ig", "task_id": ig.task_id, "healthcheck": {"ok": health},
               "auth_check": {"unauthenticated_status": unauth.status_code, "wrong_key_status": wrong.status_code,
                              "authenticated_status": authed.status_code, "pass": auth_pass},
               "kafka_smoke": {"topic": topic, "partition": authed.partition, "offset": authed.offset,
                               "read_back": read_back},
               "s3_smoke": {"bucket": ig.quarantine_bucket, "key": smoke_key, "ok": s3_ok},
               "persistence": {"local_files": ig.local_files}}
        self._put("ingest/ig_ready.json", doc, "P4")
        ok = health and auth_pass and read_back and s3_ok and not ig.local_files
        return ok, {"auth_pass": auth_pass, "read_back": read_back, "s3_ok": s3_ok}, \
            (None if ok else f"IG not ready: {doc}")

    def _p5(self) -> tuple[bool, dict[str, Any], str | None]:
        sr = ScenarioRunner(self.rt)
        self.sr = sr
        result = sr.run()
        self._put("sr/sr_pass.json", {"status": result.status, "scenario_run_id": result.scenario_run_id,
                                      "equivalence_key": result.equivalence_key, "gates": dict(result.gates),
                                      "lease": dict(result.lease)}, "P5")
        self._put("sr/ready_publish_receipt.json", dict(result.ready), "P5")
        return True, {"ready_offset": result.ready["offset"], "pointers": len(result.ready["pointers"])}, None

    def new_wsp(self, client: Any = None, process: str = "wsp") -> WorldStreamProducer:
        return WorldStreamProducer(self.rt, client or self._need(self.ig, "IG"), api_key=self.config.api_key,
                                   process=process)

    def _p6(self) -> tuple[bool, dict[str, Any], str | None]:
        wsp = self.new_wsp()
        self.wsp = wsp
        started = self.rt.now_iso()
        ready = wsp.start()
        shards = wsp.enumerate_outputs(ready)
        ready_json = {"topic": ready.topic, "partition": ready.partition, "offset": ready.offset} if ready else \
            {"topic": None, "partition": None, "offset": None}
        self._put("wsp/wsp_start.json", {"ready": ready_json,
                                         "outputs_enumerated": {o: len(k) for o, k in shards.items()},
                                         "source": wsp.source}, "P6")
        error = None
        try:
            wsp.stream(wsp.plan(ready, shards))
        except PlatformError as exc:
            error = str(exc)
        self._put("wsp/wsp_summary.json", {"ready": ready_json, "per_output_counts": dict(wsp.per_output),
                                           "totals": wsp.totals.to_json(), "intended": wsp.totals.intended,
                                           "outcomes": dict(wsp.totals.outcomes), "source": wsp.source,
                                           "started_at_utc": started, "ended_at_utc": self.rt.now_iso()}, "P6")
        return error is None, {"totals": wsp.totals.to_json()}, error

    def ingest_topics(self) -> list[str]:
        keys = [self.config.handles.event_class_topics[self.config.handles.output_event_classes[o]]
                for o in (TRAFFIC_OUTPUT, *CONTEXT_OUTPUTS)]
        return [self.config.handles.topic(k).name for k in keys]

    def offsets_of(self, topic: str) -> list[dict[str, int]]:
        starts = self.bus.start_offsets(topic)
        return [{"partition": p, "start_offset": starts.get(p, 0), "end_offset": end}
                for p, end in sorted(self.bus.end_offsets(topic).items())]

    def control_signer(self, author: str = "node-a") -> Any:
        """The signing key of a registered control-message author (deterministic from the run's seed)."""
        from reference_impl.security.keys import Signer

        return Signer.from_seed(author, f"{self.config.seed}:control")

    def _control_security(self) -> Any:
        # The security layer in front of IG's control messages; its keys are the registered authors'.
        from reference_impl.security import SecurityConfig, SecurityGate

        keys = {a: self.control_signer(a).public_key for a in ("node-a", "node-b")}
        return SecurityGate(SecurityConfig(), self.rt.clock, self.rt.recorder, keys, seed=self.config.seed,
                            platform_run_id=self.rt.run_id)

    def receipt_summary(self) -> dict[str, Any]:
        ig: IngestGate = self._need(self.ig, "IG")
        entries = ig.receipts.entries()
        status = ig.receipts.status()
        unresolved = sum(1 for a in ig.admission.entries.values() if a.state == "ambiguous")
        return {"counts_by_outcome": {o: ig.stats.by_outcome.get(o, 0) for o in OUTCOMES},
                "counts_by_event_class": dict(sorted(ig.stats.by_class.items())),
                "total_attempts": ig.stats.attempts,
                "receipts": {"count": len(entries), "first_seq": entries[0]["seq"] if entries else None,
                             "last_seq": entries[-1]["seq"] if entries else None},
                "append_only": {"verified": status.verified, "rewrites_accepted": status.rewrites_accepted},
                "publish_ambiguous_unresolved": unresolved}

    def _p7(self) -> tuple[bool, dict[str, Any], str | None]:
        ig: IngestGate = self._need(self.ig, "IG")
        summary = self.receipt_summary()
        self._put("ingest/receipt_summary.json", summary, "P7")
        self.ingest_offsets = {t: self.offsets_of(t) for t in self.ingest_topics()}
        self._put("ingest/kafka_offsets_snapshot.json", {"topics": self.ingest_offsets,
                                                         "snapshot_at_utc": self.rt.now_iso()}, "P7")
        items = ig.stats.quarantine_items
        persisted = sum(1 for i in items
                        if i["payload_key"] is not None and self.store.exists(ig.quarantine_bucket, i["payload_key"]))
        self._put("ingest/quarantine_summary.json", {"count": len(items), "payloads_persisted": persisted,
                                                     "items": items[:20]}, "P7")
        return True, {"counts_by_outcome": summary["counts_by_outcome"]}, None

    # ------------------------------------------------------------------ P8 .. P10
    def _p8(self) -> tuple[bool, dict[str, Any], str | None]:
        rtdl: RtdlCore = self._need(self.rtdl, "RTDL core")
        rtdl.process_available()
        self._put("rtdl_core/offsets_snapshot.json", {"consumer_group_id": rtdl.group,
                                                      "commit_policy": "commit_after_write",
                                                      "topics": rtdl.offsets_snapshot()}, "P8")
        lag = rtdl.lag()
        max_lag = max((v for parts in lag.values() for v in parts.values()), default=0)
        doc = {"lag": {t: {str(p): v for p, v in parts.items()} for t, parts in lag.items()}, "max_lag": max_lag,
               "lag_max_threshold": self.config.handles.rtdl_caught_up_lag_max,
               "partitions_covered": sum(len(parts) for parts in lag.values()),
               "degrade_counts": dict(rtdl.stats.degrade_counts), "join_misses": rtdl.stats.join_misses,
               "processed": rtdl.stats.processed, "commit_violations": rtdl.stats.commit_violations,
               "write_failures": rtdl.stats.write_failures}
        self._put("rtdl_core/caught_up.json", doc, "P8")
        return True, {"max_lag": max_lag, "processed": rtdl.stats.processed}, None

    def _p9(self) -> tuple[bool, dict[str, Any], str | None]:
        lane: DecisionLane = self._need(self.lane, "decision lane")
        lane.process_available()
        lane.redeliver(REDELIVERY)  # at-least-once redelivery: the duplicate drill the gate asks for
        lane.process_available()
        s = lane.stats
        self._put("decision_lane/decision_summary.json", {"decisions": s.decisions, "by_outcome": dict(s.by_outcome),
                                                          "degrade_counts": dict(s.degrade_counts)}, "P9")
        self._put("decision_lane/action_summary.json", {
            "intents": s.intents, "outcomes": sum(s.executions.values()),
            "duplicates_prevented": s.duplicates_prevented, "redelivered": s.redelivered,
            "max_executions_per_key": max(s.executions.values(), default=0)}, "P9")
        status = lane.audit.status()
        self._put("decision_lane/audit_summary.json", {
            "records": len(lane.audit), "append_only": {"verified": status.verified,
                                                        "rewrites_accepted": status.rewrites_accepted},
            "slice": lane.audit.entries()[:10]}, "P9")
        return True, {"decisions": s.decisions}, None

    def _p10(self) -> tuple[bool, dict[str, Any], str | None]:
        sup = self._need(self.supervisor, "operate")
        if not (sup.is_running("case_manager") and sup.is_running("label_store")):
            return False, {}, "case_labels pack is not running"
        return self.case_labels_phase(self._need(self.cases, "case/labels"))

    def case_labels_phase(self, cases: CaseLabels) -> tuple[bool, dict[str, Any], str | None]:
        """P10's work over a running CaseLabels: drain the triggers, redeliver some (the duplicate drill), drain
        again, and write both summaries."""
        cases.process_available()
        cases.redeliver(REDELIVERY)
        cases.process_available()
        case, labels = cases.summaries()
        self._put("case_labels/case_summary.json", case, "P10")
        self._put("case_labels/label_summary.json", labels, "P10")
        return True, {"timeline_events_appended": case["timeline_events_appended"]}, None

    # ------------------------------------------------------------------ P11 .. P12
    def replay_anchors(self) -> list[dict[str, Any]]:
        captured = self.rt.now_iso()
        handles = self.config.handles
        anchors: list[dict[str, Any]] = []
        context_names = {handles.topic(handles.event_class_topics[handles.output_event_classes[o]]).name
                         for o in CONTEXT_OUTPUTS}
        for topic in handles.topics.values():
            if topic.name not in self.bus.topics():
                continue
            if self.rt.mutated("missing_replay_anchors") and topic.name in context_names:
                continue
            rows = self.ingest_offsets.get(topic.name) or self.offsets_of(topic.name)
            anchors.extend({"topic": topic.name, **row, "captured_at_utc": captured} for row in rows)
        return anchors

    def reconciliation(self) -> dict[str, Any]:
        ig: IngestGate = self._need(self.ig, "IG")
        rtdl: RtdlCore = self._need(self.rtdl, "RTDL core")
        lane: DecisionLane = self._need(self.lane, "decision lane")
        wsp = self._need(self.wsp, "WSP")
        by_outcome = {o: ig.stats.by_outcome.get(o, 0) for o in OUTCOMES}
        consumed = sum(rtdl.stats.consumed_by_topic[t] for t in self.ingest_topics())
        # What actually landed on the ingest topics: acknowledged publishes, plus any append whose
        # acknowledgement was lost (a resolved PUBLISH_AMBIGUOUS lands twice; consumers are idempotent).
        landed = sum(r["end_offset"] - r["start_offset"] for t in self.ingest_topics() for r in self.offsets_of(t))
        traffic_published = ig.stats.published_by_class.get("traffic_fraud", 0)
        balanced = (sum(by_outcome.values()) == ig.stats.attempts and by_outcome["ADMIT"] == ig.stats.published
                    and ig.stats.published <= landed <= ig.stats.published + by_outcome["PUBLISH_AMBIGUOUS"]
                    and consumed == landed and lane.stats.decisions == traffic_published)
        return {"intended": wsp.totals.intended, "attempted": ig.stats.attempts, "by_outcome": by_outcome,
                "admitted": by_outcome["ADMIT"], "published": ig.stats.published, "landed": landed,
                "consumed": consumed,
                "decisions": lane.stats.decisions, "balanced": balanced}

    def conformance(self) -> dict[str, bool]:
        ig: IngestGate = self._need(self.ig, "IG")
        sup = self._need(self.supervisor, "operate")
        registered = {t.name for t in self.config.handles.topics.values()}
        return {"topics_from_registry_only": set(self.bus.topics()) <= registered,
                "run_scope_enforced": all(c["ok"] for c in sup.scope_checks),
                "no_local_persistence": not ig.local_files,
                "no_forbidden_infra": True,
                "single_image": True}

    def _p11(self) -> tuple[bool, dict[str, Any], str | None]:
        ig: IngestGate = self._need(self.ig, "IG")
        # Daemons run continuously in dev_min: let them drain what arrived since their phase (e.g. probes).
        for daemon in (self.rtdl, self.lane, self.cases):
            if daemon is not None:
                daemon.process_available()
        reporter = self.reporter or Reporter(self.rt, holder=REPORTER_HOLDER)
        self.reporter = reporter

        def documents() -> list[tuple[str, dict[str, Any]]]:
            checks = self.conformance()
            phases = {p: r.completed for p, r in self.reports.items()}
            all_done = all(phases.get(p, False) for p in PHASE_IDS[:PHASE_IDS.index("P11")])
            counts = {**{o.lower(): n for o, n in ig.stats.by_outcome.items()},
                      "attempts": ig.stats.attempts, "published": ig.stats.published}
            docs: list[tuple[str, dict[str, Any]]] = [
                ("obs/environment_conformance.json", {"checks": checks, "conformant": all(checks.values())}),
                ("obs/anomaly_summary.json", {"anomalies": ig.stats.by_outcome.get("ANOMALY", 0),
                                              "quarantines": ig.stats.by_outcome.get("QUARANTINE", 0),
                                              "publish_ambiguous": ig.stats.by_outcome.get("PUBLISH_AMBIGUOUS", 0),
                                              "items": ig.stats.quarantine_items[:20]}),
                ("replay_anchors.json", {"anchors": self.replay_anchors()}),
            ]
            if not self.rt.mutated("closure_incomplete"):
                docs.append(("reconciliation.json", self.reconciliation()))
            docs.append(("run_report.json", {"status": "GREEN" if all_done else "RED", "phases": phases,
                                             "counts": counts}))
            if not self.rt.mutated("closure_marker_missing"):
                docs.append(("run_completed.json", {"status": "COMPLETED" if all_done else "FAILED",
                                                    "ended_at_utc": self.rt.now_iso(),
                                                    "lock": reporter.lock_json()}))
            return [(path, {"phase_id": "P11", "scenario_run_id": self.scenario_run_id, **doc})
                    for path, doc in docs]

        for path in reporter.close(documents):
            self._written.append(path)
        return True, {"lock": reporter.lock_json()}, None

    def _forget_secrets(self) -> bool:
        # The demo's API key is removed from the secret store; the stopped IG's memory is not a store.
        self.secrets.pop("SSM_IG_API_KEY_PATH", None)
        return not self.secrets

    def _p12(self) -> tuple[bool, dict[str, Any], str | None]:
        sup = self._need(self.supervisor, "operate")
        proof = Teardown(self.rt, sup, self.sr).run(self._forget_secrets)
        self._put("teardown/teardown_proof.json", proof, "P12")
        ok = proof["destroy_status"] == "COMPLETED"
        facts = {"running_daemons": proof["running_daemons"],
                 "demo_resources_remaining": [n for n, gone in proof["confirmed_absent"].items() if not gone]}
        return ok, facts, \
            (None if ok else f"teardown incomplete: {proof['confirmed_absent']}")

    # ------------------------------------------------------------------ drills
    def drill(self, name: str, **params: Any) -> dict[str, Any]:
        from reference_impl.drills import run_drill

        return run_drill(self, name, **params)


def secret_fingerprint(secret: str) -> str:
    """A non-reversible fingerprint for describing which key is in use without revealing it."""
    return sha256_hex(f"spine-key|{secret}")[:12]
