"""A platform the harness did not write, reached as a black box (``dev_min`` always; ``local_parity`` when the
handles registry has a ``platform`` section).

The harness reaches it only through what a real platform exposes: its gate over HTTP, its topics (read with
confluent-kafka from every partition, offsets bracketed), its consumer groups (committed offsets, state and
members, through the AdminClient), its buckets (receipts, quarantine, stream_view, evidence). It records what it
sent and saw in the History; the platform records nothing there.

Read-only (the default) it judges an existing run: nothing is sent but reads. With ``--spine-allow-destructive``
it drives a run itself: drills through the gate, then the registry's ``start``/``run``/``teardown`` commands, and
then observes in the same way. Evidence files are imported as the platform wrote them: a file of another run,
or one that is not valid, is refused (and the checks that need it fail), never re-stamped.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from pytest_spine.clock import Clock, SystemClock
from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.evidence.contract import PHASE_FILES
from pytest_spine.handles import HandleError, HandlesRegistry, load_registry, substrate_problems
from pytest_spine.observe.substrate import Observations
from pytest_spine.targets.base import PHASE_IDS, DrillNotRun, EvidenceSink, PhaseOutcome, Recorder, RunSpec
from pytest_spine.targets.platform_spec import PlatformSpec, platform_spec

READ_ONLY_DRILL = ("not run: the run is verified read-only (drills send traffic; give --spine-allow-destructive "
                   "to run them)")
INTERNAL_DRILL = "not run: this drill needs the platform's internals, which a black box does not expose"
NOT_APPLICABLE: Mapping[str, str] = {
    "P(-1)-image_in_registry": "the harness does not build or deploy the platform; packaging is verified by its "
                               "own pipeline",
    "P(-1)-entrypoints_importable": "the harness does not build or deploy the platform; it sees only the running "
                                    "platform (P2 judges the daemons)",
    "P(-1)-image_ref_ready": "the harness does not build or deploy the platform; task definitions are not among "
                             "the handles it can reach",
    "P0-forbidden_infra_absent": "needs the cloud account's network inventory, which the registry does not name",
    "P12-cloud_resources_destroyed": "needs the cloud account's resource inventory, which the registry does not "
                                     "name",
}
DRILL_EVENTS = 4


class ExternalPlatformTarget:
    def __init__(self, *, handles: str | None = None, env_name: str = "dev_min", clock: Clock | None = None,
                 environ: Mapping[str, str] | None = None, registry: HandlesRegistry | None = None,
                 **options: Any) -> None:
        self.handles_path = handles
        self.name = env_name
        self.clock: Clock = clock or SystemClock()
        self._environ = environ
        self.options = dict(options)
        self.registry: HandlesRegistry | None = registry
        self.spec: PlatformSpec | None = None
        self.connection: Any = None
        self.run: RunSpec | None = None
        self._evidence: EvidenceSink | None = None
        self._recorder: Recorder | None = None
        self._topics: Any = None
        self._groups: Any = None
        self._buckets: Any = None
        self._gate: Any = None
        self._database: Any = None
        self._obs: Observations | None = None
        self._drills: dict[str, Mapping[str, Any]] = {}
        self._drill_events: dict[str, Any] = {}
        self._drive_error: str | None = None
        self._harness_wrote: set[str] = set()  # evidence the harness wrote itself (its WSP, as traffic source)
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def destructive(self) -> bool:
        return bool(self.run and self.run.allow_destructive)

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment the platform's commands run with (the chaos driver starts the platform with it too)."""
        return self._environ if self._environ is not None else os.environ

    def preflight(self) -> None:
        self._load()

    def _load(self) -> tuple[HandlesRegistry, PlatformSpec]:
        registry = self.registry
        if registry is None:
            if not self.handles_path:
                raise ConfigError(f"--spine-env={self.name} needs --spine-handles PATH: the registry of the platform "
                                  "(buckets, topic map, gate, platform section); see docs/verifying-your-platform.md")
            registry = load_registry(self.handles_path)
        if self.name == "dev_min" and registry.environment != "dev_min":
            raise HandleError(f"the handles registry {registry.source} describes environment "
                              f"{registry.environment!r}; --spine-env=dev_min needs one with 'environment: dev_min'")
        spec = platform_spec(registry)
        if spec is None:
            raise HandleError(f"the handles registry {registry.source} has no 'platform' section, so the harness "
                              "does not know which topics the gate publishes to or which consumer lanes to watch; "
                              "add one (docs/verifying-your-platform.md, section 1)")
        self.registry, self.spec = registry, spec
        return registry, spec

    def start(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        from pytest_spine.drive.gate_client import GateClient
        from pytest_spine.observe.buckets import BucketObserver
        from pytest_spine.observe.groups import GroupObserver
        from pytest_spine.observe.topics import TopicObserver
        from pytest_spine.targets.dev_min import resolve_connection

        registry, spec = self._load()
        connection = resolve_connection(registry, self._environ)
        redactor = getattr(evidence, "redactor", None)
        if redactor is not None and hasattr(redactor, "register"):
            for secret in connection.secrets():
                redactor.register(secret)
        timeout = min(10.0, max(1.0, spec.request_timeout_s * 2))
        self._topics = TopicObserver(connection.bootstrap, connection.kafka_config, timeout_s=timeout)
        self._groups = GroupObserver(connection.bootstrap, connection.kafka_config, timeout_s=timeout)
        self._buckets = BucketObserver(endpoint_url=connection.s3_endpoint_url, region=connection.region,
                                       timeout_s=timeout)
        try:
            on_broker = self._topics.topics()
        except EnvironmentFault as error:
            raise EnvironmentFault(f"{self.name}: the broker of handle KAFKA_BOOTSTRAP ({connection.bootstrap}) is "
                                   f"not usable: {error}") from None
        missing_buckets = [f"{key} ({name})" for key, name in registry.section("buckets").items()
                           if not self._buckets.bucket_exists(name)]
        problems = substrate_problems(registry, on_broker)
        problems += [f"bucket {b} does not exist" for b in missing_buckets]
        if problems:
            raise EnvironmentFault(f"{self.name}: the platform's substrate does not match the registry "
                                   f"{registry.source}:\n  " + "\n  ".join(problems))
        if spec.database_dsn_env:
            from pytest_spine.observe.database import DatabaseObserver

            environ = self._environ if self._environ is not None else os.environ
            dsn = environ.get(spec.database_dsn_env)
            if not dsn:
                raise EnvironmentFault(f"{self.name}: platform.database.dsn_env names {spec.database_dsn_env}, which "
                                       "is not set; export the read-only DSN of the platform's database there")
            if redactor is not None and hasattr(redactor, "register"):
                redactor.register(dsn)
            self._database = DatabaseObserver(dsn, timeout_s=timeout)
        if connection.ig_base_url:
            ig = registry.section("ig")
            self._gate = GateClient(connection.ig_base_url, ig["IG_AUTH_HEADER_NAME"], connection.ig_api_key,
                                    ingest_path=ig["IG_INGEST_PATH"], health_path=ig["IG_HEALTHCHECK_PATH"],
                                    timeout_s=spec.request_timeout_s, recorder=recorder)
        self.connection, self.run, self._evidence, self._recorder = connection, run, evidence, recorder
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._gate is not None:
            self._gate.close()

    # ------------------------------------------------------------------ phases
    def run_phase(self, phase_id: str) -> PhaseOutcome:
        if phase_id not in PHASE_IDS:
            raise ConfigError(f"phase id must be one of {', '.join(PHASE_IDS)}, given: {phase_id!r}")
        if self.registry is None or self.run is None:
            raise ConfigError(f"the {self.name} target was not started: call start(run, evidence, recorder) first")
        obs = self._observed()
        files = PHASE_FILES.get(phase_id, ())
        present = set(obs.evidence_imported) | self._harness_wrote
        absent = [f for f in files if f not in present]
        facts = self._facts(phase_id, obs)
        error = None
        if self._drive_error and phase_id == "P0":  # P0 is the first phase with checks: the run is not green
            error = self._drive_error
        if absent:
            refused = {f: obs.evidence_problems[f] for f in absent if f in obs.evidence_problems}
            detail = "; ".join(f"{f}: {why}" for f, why in refused.items())
            error = (f"evidence of {phase_id} not found under the run's evidence prefix: "
                     f"{', '.join(absent)}" + (f" (refused: {detail})" if detail else ""))
        return PhaseOutcome(phase_id, not absent and error is None, error, facts,
                            tuple(f for f in files if f in present))

    def _facts(self, phase_id: str, obs: Observations) -> dict[str, Any]:
        assert self.registry is not None
        facts: dict[str, Any] = {"observed_by_harness": True, "read_only": not self.destructive}
        if phase_id == "P0":
            facts["buckets"] = dict(obs.buckets)
            facts["topics_expected"] = {t.name: t.partitions for t in self.registry.topics.values()}
            facts["topics"] = {t.name: obs.topics_on_broker.get(t.name) for t in self.registry.topics.values()}
            facts["handles_missing"] = []
            facts["handles_used"] = len(self.registry.topics) + len(self.registry.section("buckets"))
        elif phase_id == "P2":
            deps: dict[str, bool] = {"kafka": bool(obs.topics_on_broker)}
            deps.update({f"s3:{key}": ok for key, ok in obs.buckets.items()})
            if self.destructive and self._gate is not None:
                deps["gate"] = bool(obs.gate_health and obs.gate_health.get("ok"))
            if self._database is not None:
                deps["database"] = obs.database is not None
            facts["dependencies"] = deps
        return facts

    def observations(self) -> Observations | None:
        return self._obs

    # ------------------------------------------------------------------ drive, then observe
    def _observed(self) -> Observations:
        if self._obs is None:
            before: dict[Any, Any] = {}
            during: dict[str, Any] = {}
            health: Mapping[str, Any] | None = None
            if self.destructive:
                before, during, health = self._drive()
            from pytest_spine.targets.external_observe import observe_platform

            assert self.registry is not None and self.spec is not None and self.run is not None
            self._obs = observe_platform(self.registry, self.spec, self.run.platform_run_id, topics=self._topics,
                                         groups=self._groups, buckets=self._buckets, evidence=self._evidence,
                                         recorder=self._recorder, deadline_s=max(60.0, self.spec.settle_s * 4),
                                         database=self._database)
            self._obs.bracket_before = before
            self._obs.lanes_during_run = during
            self._obs.gate_health = health
            if self._gate is not None:
                self._finish_drills(self._obs)
        return self._obs

    def _command(self, name: str) -> None:
        from pytest_spine.drive.commands import expand, run_command

        assert self.spec is not None and self.run is not None
        argv = self.spec.commands.get(name)
        if not argv:
            return
        env = dict(self._environ if self._environ is not None else os.environ)
        result = run_command(name, expand(argv, {"platform_run_id": self.run.platform_run_id}),
                             timeout_s=self.spec.command_timeout_s, recorder=self._recorder, env=env)
        if not result.ok:
            why = "timed out" if result.exit_status is None else f"exited {result.exit_status}"
            raise EnvironmentFault(f"the platform command {name!r} {why} after {result.seconds:.1f} s; its output "
                                   f"ends: {result.output_tail[-400:]!r}")

    def _drive(self) -> tuple[dict[Any, Any], dict[str, Any], Mapping[str, Any] | None]:
        """Destructive: bracket the offsets, start the platform, drill through its gate, run it, snapshot its
        lanes while they are up, tear it down. A step that fails is recorded and stops the drive; the
        observation that follows judges whatever the platform did."""
        assert self.spec is not None
        before: dict[Any, Any] = {}
        during: dict[str, Any] = {}
        health: Mapping[str, Any] | None = None
        try:
            before = dict(self._topics.watermarks(self.spec.observed_topics()))
            self._command("start")
            health = self._await_health()
            if self._gate is not None:
                if not health or not health.get("ok"):
                    raise EnvironmentFault(f"the gate at IG_BASE_URL ({self._gate.base_url}) did not answer its "
                                           f"health check ({self._gate.health_path}) within "
                                           f"{max(5.0, self.spec.settle_s)} s: {health and health.get('error')}; "
                                           "check that the platform is up and the registry's ig section")
                self._send_drills()
            self._command("run")
            if self.spec.traffic_source == "harness":
                self._stream()
                self._command("close")
            during = dict(self._groups.describe(lane.group_id for lane in self.spec.lanes))
            self._command("teardown")
        except EnvironmentFault as error:
            self._drive_error = f"the harness could not drive the run: {error}"
            if self._recorder is not None:
                self._recorder.record("harness", "fail", "drive", error=str(error))
        return before, during, health

    def _await_health(self) -> Mapping[str, Any] | None:
        if self._gate is None:
            return None
        assert self.spec is not None
        deadline = time.monotonic() + max(5.0, self.spec.settle_s)
        while True:
            answer = self._gate.health()
            if answer.kind == "ok" or time.monotonic() > deadline:
                result = {"ok": answer.kind == "ok", "status_code": answer.status_code,
                          "platform_run_id": answer.body.get("platform_run_id"), "error": answer.error}
                if self._recorder is not None:
                    self._recorder.record("harness-driver", "ok" if result["ok"] else "fail", "gate_health",
                                          **result)
                return result
            time.sleep(0.2)

    # ------------------------------------------------------------------ the harness as traffic source
    def _stream(self) -> None:
        """Stream the run's stream_view through the gate (after the platform published READY), then write the
        WSP evidence from what was sent and answered."""
        from pytest_spine.clock import utc_iso
        from pytest_spine.drive import streamer

        assert self.spec is not None and self.run is not None and self.registry is not None
        if self._gate is None:
            raise EnvironmentFault("platform.traffic_source is harness, but the registry names no IG_BASE_URL")
        run_id = self.run.platform_run_id
        started = utc_iso(self.clock.now())
        control = self.spec.control_topic
        ready = streamer.find_ready(self._topics.read_all([control]), run_id) if control else None
        if ready is None:
            raise EnvironmentFault(f"no READY for run {run_id} on the control topic {control!r} after the platform's "
                                   "run command: the harness streams only after READY")
        summary = self._buckets.get_json(self.registry.bucket("S3_EVIDENCE_BUCKET"),
                                         self.registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=run_id)
                                         + "oracle/stream_sort_summary.json") or {}
        outputs = sorted(dict(summary.get("outputs", {})))
        if not outputs:
            raise EnvironmentFault("the platform's oracle/stream_sort_summary.json names no outputs to stream")
        prefixes = {o: self.registry.prefix("S3_STREAM_VIEW_PREFIX_PATTERN", platform_run_id=run_id, output_id=o)
                    for o in outputs}
        rows = streamer.stream_view_rows(self._buckets, self.registry.bucket("S3_ORACLE_BUCKET"), prefixes,
                                         self.spec.traffic_max_events)
        scenario = ready.get("scenario_run_id")
        planned = [(o, streamer.envelope_of(o, row, run_id, scenario)) for o, found in rows.items() for _, row in found]
        assert self._evidence is not None
        where = {"topic": ready["topic"], "partition": ready["partition"], "offset": ready["offset"]}
        common = {"phase_id": "P6", "scenario_run_id": scenario, "ready": where}
        self._evidence.put("wsp/wsp_start.json", {
            **common, "source": "stream_view",
            "outputs_enumerated": {o: len({key for key, _ in found}) for o, found in rows.items()}})
        totals = streamer.stream(self._gate, planned, connections=self.spec.traffic_connections)
        self._evidence.put("wsp/wsp_summary.json", {
            **common, "source": "stream_view", "per_output_counts": dict(sorted(totals.per_output.items())),
            "totals": totals.to_json(), "outcomes": dict(sorted(totals.outcomes.items())), "intended": len(planned),
            "started_at_utc": started, "ended_at_utc": utc_iso(self.clock.now()), "streamed_by": "harness"})
        self._harness_wrote.update({"wsp/wsp_start.json", "wsp/wsp_summary.json"})

    # ------------------------------------------------------------------ drills
    def _drill_envelope(self, n: int, payload_extra: Mapping[str, Any] | None = None,
                        run_id: str | None = None) -> dict[str, Any]:
        from pytest_spine.clock import utc_iso
        from pytest_spine.drive.envelope import envelope

        assert self.spec is not None and self.run is not None
        event_class = sorted(self.spec.event_class_topics)[0]
        seed = self.run.seed
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.run.platform_run_id}/{n}").hex[:12]
        event_id = f"spine-drill-{seed}-{n}-{stable}"
        payload = {"flow_id": f"drill-flow-{n}", "amount": 10 + n, "drill": True, **dict(payload_extra or {})}
        return envelope(run_id or self.run.platform_run_id, event_class, event_id, payload, utc_iso(self.clock.now()))

    def _send_drills(self) -> None:
        gate = self._gate
        assert gate is not None and self.run is not None
        fresh = [self._drill_envelope(i) for i in range(DRILL_EVENTS)]
        first = [gate.send(fresh[0], drill="fresh")]
        if first[0].status_code in (401, 403):
            raise EnvironmentFault(f"the gate at IG_BASE_URL ({gate.base_url}) refused the harness's key "
                                   f"({first[0].status_code}: {first[0].error}); set SPINE_IG_API_KEY or the SSM "
                                   "parameter SSM_IG_API_KEY_PATH to the gate's key")
        first += [gate.send(e, drill="fresh") for e in fresh[1:]]
        replays = [gate.send(e, drill="duplicate_replay") for e in fresh]
        changed = dict(fresh[0], payload={**fresh[0]["payload"], "amount": 999_999})
        anomaly = gate.send(changed, drill="payload_change")
        no_key = gate.send(self._drill_envelope(100), key=None, drill="unauthenticated_ingest")
        wrong_key = gate.send(self._drill_envelope(101), key=f"wrong-{uuid.uuid4().hex}", drill="wrong_key_ingest")
        other_run = f"{self.run.platform_run_id}-other"
        scope = gate.send(self._drill_envelope(102, run_id=other_run), drill="run_scope_mismatch")
        oversize = gate.send(self._drill_envelope(103, {"blob": "x" * (70 * 1024)}), drill="oversize")
        self._drill_events = {"fresh": fresh, "first": first, "replays": replays, "changed": changed,
                              "anomaly": anomaly, "no_key": no_key, "wrong_key": wrong_key, "scope": scope,
                              "other_run": other_run, "oversize": oversize}

    def _finish_drills(self, obs: Observations) -> None:
        """Judge-ready drill results: what the gate answered, and what then appeared on the topics."""
        from pytest_spine.drive.envelope import identity

        d = self._drill_events
        if not d:
            return
        assert self.spec is not None
        tuples: dict[Any, int] = {}
        for view in obs.topics.values():
            for ident, count in view.tuples.items():
                tuples[ident] = tuples.get(ident, 0) + count
        fresh_ids = [identity(e) for e in d["fresh"]]
        admitted = sum(1 for a in d["first"] if a.outcome == "ADMIT")
        published = sum(tuples.get(i, 0) for i in fresh_ids)
        outcomes: dict[str, int] = {}
        for answer in d["replays"]:
            key = answer.outcome or f"status {answer.status_code}"
            outcomes[key] = outcomes.get(key, 0) + 1
        lane_outputs = sum(1 for view in obs.topics.values() for src in view.sources
                           if any(src[0] == t and (src[1], src[2]) in offs
                                  for i in fresh_ids for t, offs in _offsets_of(obs, i).items()))
        self._drills["duplicate_replay"] = {
            "replayed": len(d["replays"]), "outcomes": outcomes, "admitted_first": admitted,
            "published_delta": published - admitted,
            "actions_delta": lane_outputs - admitted * len(self.spec.lanes[:1]) if self.spec.lanes else 0}
        original = fresh_ids[0]
        self._drills["payload_change"] = {
            "outcome": d["anomaly"].outcome or f"status {d['anomaly'].status_code}",
            "original_intact": tuples.get(original, 0) == 1}
        self._drills["unauthenticated_ingest"] = {"status_code": d["no_key"].status_code}
        self._drills["wrong_key_ingest"] = {"status_code": d["wrong_key"].status_code}
        foreign_published = sum(1 for view in obs.topics.values() for f in view.foreign
                                if f.get("platform_run_id") == d["other_run"])
        rejected = d["scope"].kind == "fail" and d["scope"].status_code is not None \
            and 400 <= d["scope"].status_code < 500 and not foreign_published
        self._drills["run_scope_mismatch"] = {"rejected": rejected, "components": {"ig": rejected},
                                              "status_code": d["scope"].status_code,
                                              "published": foreign_published}
        self._drills["oversize"] = {"status_code": d["oversize"].status_code}

    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        obs = self._observed()
        if name == "substrate":
            assert self.registry is not None
            return {"topics": dict(obs.topics_on_broker),
                    "problems": substrate_problems(self.registry, obs.topics_on_broker)}
        if name == "running_daemons":
            running = [f"consumer group {lane.group_id} ({len(lane.state.members)} members: "
                       f"{', '.join(m.client_id for m in lane.state.members)})"
                       for lane in obs.lanes.values() if lane.state is not None and lane.state.members]
            return {"running": running, "observed": True}
        if name == "consumer_instances":
            if not obs.lanes_during_run:
                raise DrillNotRun("not observed: the groups' live members can only be counted while the run is up; "
                                  "read-only, the harness comes after the run" if not self.destructive else
                                  "not observed: the run did not get as far as its lanes")
            return {state.group_id: len(state.members) for state in obs.lanes_during_run.values()}
        if name in self._drills:
            return self._drills[name]
        if not self.destructive:
            raise DrillNotRun(READ_ONLY_DRILL)
        if name in ("unauthenticated_ingest", "wrong_key_ingest", "run_scope_mismatch", "duplicate_replay",
                    "payload_change"):
            raise DrillNotRun(f"not run: {self._drive_error or 'the registry names no IG_BASE_URL'}")
        raise DrillNotRun(INTERNAL_DRILL)

    def not_applicable(self) -> Mapping[str, str]:
        return dict(NOT_APPLICABLE)

    def describe(self) -> Mapping[str, Any]:
        facts: dict[str, Any] = {"target": self.name, "in_process": False, "black_box": True,
                                 "read_only": not self.destructive, "observer": "confluent-kafka + boto3"}
        if self.spec is not None:
            facts["platform"] = self.spec.name
        if self.registry is not None and self.connection is not None:
            facts.update({"registry": self.registry.source, "kafka_bootstrap": self.connection.bootstrap,
                          "s3_endpoint_url": self.connection.s3_endpoint_url,
                          "ig_base_url": self.connection.ig_base_url,
                          "credential_sources": dict(self.connection.sources)})
        return facts


def _offsets_of(obs: Observations, ident: Any) -> dict[str, set[tuple[int, int]]]:
    found: dict[str, set[tuple[int, int]]] = {}
    for name, view in obs.topics.items():
        for partition, offset in view.tuple_offsets.get(ident, []):
            found.setdefault(name, set()).add((partition, offset))
    return found


def create_target(**options: Any) -> ExternalPlatformTarget:
    return ExternalPlatformTarget(**options)
