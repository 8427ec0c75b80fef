"""The ``dev_min`` target: the same adapters against a live environment described by a handles registry
(``--spine-handles PATH``, ``environment: dev_min``).

Read-only by default: it verifies an existing run (``--spine-run-id``): the run's evidence under the S3
evidence prefix is read back phase by phase into the bundle (so the gates judge it), the broker's topics are
checked against the registry's topic map, and the replay anchors against the topics' offsets. It sends
traffic (runs the reference platform over the live Kafka and S3, teeing its evidence into the evidence
bucket with write-once puts) or runs drills only with ``--spine-allow-destructive``.

Connection: the Kafka bootstrap is ``KAFKA_BOOTSTRAP`` (a literal, or ``from-ssm`` to read
``SSM_CONFLUENT_BOOTSTRAP_PATH``), SASL credentials come from ``SPINE_KAFKA_API_KEY``/``SPINE_KAFKA_API_SECRET``
or the SSM paths, S3 and SSM use the normal AWS credential chain (``AWS_ENDPOINT_URL`` in the registry's
``aws`` section points them elsewhere, e.g. at the loopback stack posing as live), the gate's key comes from
``SPINE_IG_API_KEY`` or ``SSM_IG_API_KEY_PATH``. Credentials are registered with the bundle's redactor and
never written to evidence, facts or messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.clock import Clock, SystemClock
from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.handles import HandleError, HandlesRegistry, load_registry, substrate_problems
from pytest_spine.targets.base import PHASE_IDS, EvidenceSink, PhaseOutcome, ProbeNotSupported, Recorder, RunSpec

FROM_SSM = "from-ssm"
FACTS_DIR = "_spine/phase_outcomes"  # beside the run's evidence: what a destructive run observed, per phase
READ_ONLY_REASON = ("dev_min is read-only without --spine-allow-destructive: drills that send traffic or "
                    "inject faults are refused")

NOT_APPLICABLE: Mapping[str, str] = {
    "P(-1)-image_in_registry": "the verifier reads the run's evidence; ECR is not among the handles it can reach",
    "P0-forbidden_infra_absent": "needs the cloud account's network inventory, which the registry does not name",
    "P12-cloud_resources_destroyed": "needs the cloud account's resource inventory, which the registry does not "
                                     "name",
}


@dataclass(frozen=True, slots=True)
class DevMinConnection:
    bootstrap: str
    kafka_config: Mapping[str, str] = field(repr=False)  # may hold SASL credentials
    s3_endpoint_url: str | None
    region: str
    ig_base_url: str | None
    ig_api_key: str | None = field(repr=False)
    sources: Mapping[str, str] = field(default_factory=dict)  # where each setting came from (never values)

    def secrets(self) -> list[str]:
        found = [v for k, v in self.kafka_config.items() if k in ("sasl.username", "sasl.password") and v]
        if self.ig_api_key:
            found.append(self.ig_api_key)
        return found


def _ssm_client(registry: HandlesRegistry, timeout_s: float) -> Any:
    import boto3
    from botocore.config import Config

    aws = registry.section("aws")
    return boto3.client("ssm", endpoint_url=aws.get("AWS_ENDPOINT_URL"), region_name=aws.get("AWS_REGION",
                                                                                            "us-east-1"),
                        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                      retries={"max_attempts": 2}))


def _ssm_value(registry: HandlesRegistry, handle: str, timeout_s: float) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    path = registry.resolve(handle)
    try:
        answer = _ssm_client(registry, timeout_s).get_parameter(Name=path, WithDecryption=True)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise EnvironmentFault(f"SSM handle {handle} ({path}) cannot be read: {code}; create the parameter or fix "
                               "the credentials") from None
    except BotoCoreError as error:
        raise EnvironmentFault(f"SSM handle {handle} ({path}) cannot be read: {error}") from None
    return str(answer["Parameter"]["Value"])


def resolve_connection(registry: HandlesRegistry, environ: Mapping[str, str] | None = None,
                       timeout_s: float = 10.0) -> DevMinConnection:
    env = os.environ if environ is None else environ
    kafka = registry.section("kafka")
    sources: dict[str, str] = {}
    bootstrap = kafka["KAFKA_BOOTSTRAP"]
    if bootstrap == FROM_SSM:
        bootstrap = _ssm_value(registry, "SSM_CONFLUENT_BOOTSTRAP_PATH", timeout_s)
        sources["kafka_bootstrap"] = "ssm:SSM_CONFLUENT_BOOTSTRAP_PATH"
    else:
        sources["kafka_bootstrap"] = "registry:KAFKA_BOOTSTRAP"
    config: dict[str, str] = {"security.protocol": kafka.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")}
    if config["security.protocol"].startswith("SASL"):
        config["sasl.mechanism"] = kafka.get("KAFKA_SASL_MECHANISM", "PLAIN")
        for setting, env_name, handle in (("sasl.username", "SPINE_KAFKA_API_KEY", "SSM_CONFLUENT_API_KEY_PATH"),
                                          ("sasl.password", "SPINE_KAFKA_API_SECRET",
                                           "SSM_CONFLUENT_API_SECRET_PATH")):
            if env.get(env_name):
                config[setting] = env[env_name]
                sources[setting] = f"env:{env_name}"
            else:
                config[setting] = _ssm_value(registry, handle, timeout_s)
                sources[setting] = f"ssm:{handle}"
    ig = registry.section("ig")
    ig_key: str | None = None
    if env.get("SPINE_IG_API_KEY"):
        ig_key, sources["ig_api_key"] = env["SPINE_IG_API_KEY"], "env:SPINE_IG_API_KEY"
    elif "SSM_IG_API_KEY_PATH" in registry.section("ssm"):
        try:
            ig_key, sources["ig_api_key"] = _ssm_value(registry, "SSM_IG_API_KEY_PATH", timeout_s), \
                "ssm:SSM_IG_API_KEY_PATH"
        except EnvironmentFault:
            sources["ig_api_key"] = "unavailable"  # only destructive drills need it; they say so
    aws = registry.section("aws")
    return DevMinConnection(bootstrap, config, aws.get("AWS_ENDPOINT_URL"), aws.get("AWS_REGION", "us-east-1"),
                            ig.get("IG_BASE_URL"), ig_key, sources)


class S3EvidenceTee:
    """The harness's bundle plus the live evidence bucket: every document also goes to
    ``s3://<S3_EVIDENCE_BUCKET>/<S3_EVIDENCE_PREFIX_PATTERN><relpath>`` with a write-once put."""

    def __init__(self, inner: EvidenceSink, store: Any, bucket: str, root: str) -> None:
        self.inner = inner
        self.store = store
        self.bucket = bucket
        self.root = root
        self.redactor = getattr(inner, "redactor", None)

    def put(self, relpath: str, document: Mapping[str, Any]) -> None:
        self.inner.put(relpath, document)
        body = json.dumps(dict(document), sort_keys=True, separators=(",", ":"), default=str).encode()
        self.store.put(self.bucket, f"{self.root}{relpath}", body, if_none_match=True)

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        return self.inner.get(relpath)

    def list(self) -> list[str]:
        return self.inner.list()


class DevMinTarget:
    name = "dev_min"

    def __init__(self, *, handles: str | None = None, clock: Clock | None = None,
                 traffic_events: int | None = None, environ: Mapping[str, str] | None = None,
                 **options: Any) -> None:
        self.handles_path = handles or None
        self.clock: Clock = clock or SystemClock()
        self._traffic_events = traffic_events
        self._environ = environ
        self.options = dict(options)
        self.registry: HandlesRegistry | None = None
        self.connection: DevMinConnection | None = None
        self.run: RunSpec | None = None
        self.bus: Any = None
        self.store: Any = None
        self.faults: Any = None
        self.platform: Any = None
        self.toxiproxy: Any = None
        self._evidence: EvidenceSink | None = None
        self._inner: Any = None  # the platform-running target when destructive
        self._run_keys: list[str] | None = None
        self._imported: set[str] = set()
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def destructive(self) -> bool:
        return bool(self.run and self.run.allow_destructive)

    def preflight(self) -> None:
        """What can be checked before any test runs, without touching the live environment: the registry."""
        self._registry()

    def _registry(self) -> HandlesRegistry:
        if not self.handles_path:
            raise ConfigError("--spine-env=dev_min needs --spine-handles PATH: the registry of the live "
                              "environment (buckets, topic map, SSM paths, endpoints)")
        registry = load_registry(self.handles_path)
        if registry.environment != "dev_min":
            raise HandleError(f"the handles registry {registry.source} describes environment "
                              f"{registry.environment!r}; --spine-env=dev_min needs one with 'environment: dev_min'")
        return registry

    def start(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        from reference_impl.adapters.kafka_bus import BusUnavailable, KafkaBus
        from reference_impl.adapters.s3_store import S3ObjectStore, StoreUnavailable

        registry = self._registry()
        connection = resolve_connection(registry, self._environ)
        redactor = getattr(evidence, "redactor", None)
        if redactor is not None and hasattr(redactor, "register"):
            for secret in connection.secrets():
                redactor.register(secret)
        try:
            bus = KafkaBus(connection.bootstrap, client_id="spine-dev-min", timeout_s=10.0,
                           extra_config=connection.kafka_config)
            topics = dict(bus.topics())
        except BusUnavailable as error:
            raise EnvironmentFault(f"dev_min: the broker of handle KAFKA_BOOTSTRAP ({connection.bootstrap}) is not "
                                   f"usable: {error}") from None
        store = S3ObjectStore(endpoint_url=connection.s3_endpoint_url, region=connection.region, timeout_s=10.0)
        buckets: list[str] = []
        for key, bucket in registry.section("buckets").items():
            try:
                store.list(bucket, "_probe/")
                buckets.append(bucket)
            except KeyError:
                pass  # reported by substrate_problems, naming the handle
            except StoreUnavailable as error:
                bus.close()
                raise EnvironmentFault(f"dev_min: bucket handle {key} ({bucket}) is not readable: {error}") from None
        problems = substrate_problems(registry, topics, buckets)
        if problems:
            bus.close()
            raise EnvironmentFault("dev_min: the live substrate does not match the registry "
                                   f"{registry.source}:\n  " + "\n  ".join(problems))
        self.registry, self.connection, self.run = registry, connection, run
        self.bus, self.store, self._evidence = bus, store, evidence
        self._stopped = False
        if run.allow_destructive:
            self._start_destructive(run, evidence, recorder)

    def _start_destructive(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        import dataclasses

        from pytest_spine.targets.local_parity import platform_handles
        from pytest_spine.targets.reference import ReferenceTarget
        from reference_impl.platform import SpinePlatform

        assert self.registry is not None
        inner = ReferenceTarget(clock=self.clock, traffic_events=self._traffic_events)
        tee = S3EvidenceTee(evidence, self.store, self.registry.bucket("S3_EVIDENCE_BUCKET"),
                            self.registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=run.platform_run_id))
        inner.start(run, tee, recorder)
        assert inner.platform is not None and inner.faults is not None
        self.bus.faults = inner.faults
        self.store.faults = inner.faults
        config = dataclasses.replace(inner.platform.config, env="dev_min", handles=platform_handles(self.registry))
        inner.platform = SpinePlatform(config, bus=self.bus, store=self.store, evidence=tee, recorder=recorder,
                                       clock=self.clock, faults=inner.faults)
        self._inner, self.platform, self.faults = inner, inner.platform, inner.faults

    # ------------------------------------------------------------------ phases
    def _root(self) -> str:
        assert self.registry is not None and self.run is not None
        return self.registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id=self.run.platform_run_id)

    def run_phase(self, phase_id: str) -> PhaseOutcome:
        if phase_id not in PHASE_IDS:
            raise ConfigError(f"phase id must be one of {', '.join(PHASE_IDS)}, given: {phase_id!r}")
        if self.registry is None:
            raise ConfigError("the dev_min target was not started: call start(run, evidence, recorder) first")
        if self._inner is not None:
            outcome: PhaseOutcome = self._inner.run_phase(phase_id)
            record = {"phase_id": phase_id, "completed": outcome.completed, "error": outcome.error,
                      "facts": dict(outcome.facts), "evidence_paths": list(outcome.evidence_paths)}
            body = json.dumps(record, sort_keys=True, default=str).encode()
            self.store.put(self.registry.bucket("S3_EVIDENCE_BUCKET"),
                           f"{self._root()}{FACTS_DIR}/{phase_id}.json", body, if_none_match=True)
            return outcome
        return self._observe(phase_id)

    def _observe(self, phase_id: str) -> PhaseOutcome:
        """Read-only: the run's evidence for this phase, imported into the bundle, and what was observed."""
        assert self.registry is not None and self._evidence is not None
        bucket = self.registry.bucket("S3_EVIDENCE_BUCKET")
        root = self._root()
        if self._run_keys is None:
            self._run_keys = self.store.list(bucket, root)
        if not self._run_keys:
            return PhaseOutcome(phase_id, False, f"no evidence for run {self.run and self.run.platform_run_id!r} "
                                f"under s3://{bucket}/{root}: pass the id of an existing run with --spine-run-id")
        stored = self._read_json(bucket, f"{root}{FACTS_DIR}/{phase_id}.json")
        imported: list[str] = []
        for key in self._run_keys:
            relpath = key[len(root):]
            if relpath.startswith("_") or not relpath.endswith(".json") or relpath in self._imported:
                continue
            document = self._read_json(bucket, key)
            if document is None or document.get("phase_id") != phase_id:
                continue
            self._evidence.put(relpath, document)
            self._imported.add(relpath)
            imported.append(relpath)
        facts: dict[str, Any] = dict(stored.get("facts", {})) if stored else {}
        facts["observed_read_only"] = True
        if phase_id == "P11":
            facts["replay_anchor_problems"] = self._anchor_problems()
        if stored is not None:
            completed = bool(stored.get("completed"))
            error = stored.get("error")
        else:
            completed = bool(imported) or phase_id in ("P(-1)", "P0")
            error = None if completed else f"no evidence of phase {phase_id} under s3://{bucket}/{root}"
        if facts.get("replay_anchor_problems"):
            completed, error = False, "replay anchors do not match the topics: " + "; ".join(
                facts["replay_anchor_problems"][:3])
        return PhaseOutcome(phase_id, completed, error, facts, tuple(imported))

    def _read_json(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            loaded = json.loads(self.store.get(bucket, key))
        except KeyError:
            return None
        except ValueError:
            return {"unreadable": key}
        return loaded if isinstance(loaded, dict) else None

    def _anchor_problems(self) -> list[str]:
        """Every replay anchor must lie inside its topic partition's current offsets on the live broker."""
        assert self._evidence is not None
        anchors = (self._evidence.get("replay_anchors.json") or {}).get("anchors")
        if not anchors:
            return ["replay_anchors.json has no anchors"]
        problems: list[str] = []
        ends: dict[str, Mapping[int, int]] = {}
        for anchor in anchors:
            topic, partition = str(anchor.get("topic")), int(anchor.get("partition", -1))
            if topic not in ends:
                try:
                    ends[topic] = self.bus.end_offsets(topic)
                except Exception as error:
                    problems.append(f"topic {topic!r}: {error}")
                    ends[topic] = {}
                    continue
            end = ends[topic].get(partition)
            if end is None:
                problems.append(f"anchor {topic}[{partition}]: no such partition on the broker")
            elif int(anchor.get("end_offset", 0)) > end:
                problems.append(f"anchor {topic}[{partition}] ends at {anchor.get('end_offset')} but the topic's "
                                f"end offset is {end}")
        return problems

    # ------------------------------------------------------------------ probes and facts
    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        if name == "substrate":
            assert self.registry is not None
            topics = dict(self.bus.topics())
            return {"topics": topics, "problems": substrate_problems(self.registry, topics)}
        if self._inner is None:
            raise ProbeNotSupported(self.name, name, READ_ONLY_REASON)
        result: Mapping[str, Any] = self._inner.probe(name, **params)
        return result

    def not_applicable(self) -> Mapping[str, str]:
        return dict(NOT_APPLICABLE)

    def describe(self) -> Mapping[str, Any]:
        facts: dict[str, Any] = {"target": self.name, "in_process": False, "read_only": not self.destructive,
                                 "bus": "KafkaBus", "object_store": "S3ObjectStore"}
        if self.registry is not None and self.connection is not None:
            facts.update({"registry": self.registry.source, "kafka_bootstrap": self.connection.bootstrap,
                          "security_protocol": self.connection.kafka_config.get("security.protocol"),
                          "s3_endpoint_url": self.connection.s3_endpoint_url, "region": self.connection.region,
                          "credential_sources": dict(self.connection.sources)})
        return facts

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._inner is not None:
                self._inner.stop()
        finally:
            if self.bus is not None:
                self.bus.close()


def create_target(**options: Any) -> DevMinTarget:
    return DevMinTarget(**options)
