"""The ``local_parity`` target: the reference platform over the real local stack (Kafka KRaft, the S3
server, Toxiproxy) started by ``spine stack up`` or the session fixture.

Same Target protocol and the same phase machine as ``reference``; what changes is the substrate: the bus is
``KafkaBus`` and the object store ``S3ObjectStore``, named by the stack's handles registry. The platform's
traffic goes through Toxiproxy (the PROXIED listener and the S3 proxy), so network faults bite the platform
while the harness's own checks read the truth over the direct endpoints. Every run starts on freshly created
topics (exactly the registry's topic map, with its partition counts), deleted consumer groups and no stale SR
leases, so two targets on one stack must not overlap in time.

Chaos engines reach ``faults`` (named fault points, shared with the adapters), ``toxiproxy`` (a
``ToxiproxyApi``; every toxic is reset by ``stop()``, even after a failed test) and ``stack`` (the state).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_spine.clock import Clock
from pytest_spine.errors import EnvironmentFault, TargetUnavailable
from pytest_spine.handles import HandlesRegistry, load_registry, substrate_problems
from pytest_spine.stack.fixture import running_stack, stack_dir_default
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from pytest_spine.stack.state import StackState
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi
from pytest_spine.targets.base import EvidenceSink, ProbeNotSupported, Recorder, RunSpec
from pytest_spine.targets.reference import NOT_APPLICABLE as REFERENCE_NOT_APPLICABLE
from pytest_spine.targets.reference import ReferenceTarget
from reference_impl.handles import DEFAULT_HANDLES, TopicHandle
from reference_impl.handles import HandlesRegistry as PlatformHandles
from reference_impl.platform import SpinePlatform

# How long a publish waits for the broker's acknowledgement before it is an unknown outcome.
BUS_TIMEOUT_S = 10.0
# A scenario's object-store calls on loopback: long enough for a slowed link, short enough that a
# partitioned one fails in seconds (each put is tried twice).
SCENARIO_STORE_TIMEOUT_S = 5.0
# Scenario links (pytest_spine.faults.toxics) -> the stack's Toxiproxy proxies.
PROXIED_LINKS: Mapping[str, str] = {"bus": "kafka", "object_store": "s3", "gate": "ig"}

NOT_APPLICABLE: Mapping[str, str] = {
    "P(-1)-image_in_registry": "no container registry on the local stack; the local translation is "
                               "P(-1)-entrypoints_importable",
    "P(-1)-image_ref_ready": "no task definitions on the local stack: nothing pulls an image",
    "P0-forbidden_infra_absent": "the local stack runs on 127.0.0.1: no NAT gateway or load balancer can exist",
    "P12-cloud_resources_destroyed": "no cloud resources on the local stack; its processes are stopped by "
                                     "'spine stack down'",
}


def platform_handles(registry: HandlesRegistry) -> PlatformHandles:
    """The reference platform's registry with the names the harness registry pins (topics, buckets,
    prefixes, consumer groups, auth header); event-class routing and knobs stay the platform's."""
    topics = dict(DEFAULT_HANDLES.topics)
    for key, topic in registry.topics.items():
        topics[key] = TopicHandle(key, topic.name, topic.partitions)
    return dataclasses.replace(
        DEFAULT_HANDLES, topics=topics,
        buckets={**DEFAULT_HANDLES.buckets, **registry.section("buckets")},
        prefixes={**DEFAULT_HANDLES.prefixes, **registry.section("prefixes")},
        consumer_groups={**DEFAULT_HANDLES.consumer_groups, **registry.section("consumer_groups")},
        ig_auth_header_name=registry.section("ig").get("IG_AUTH_HEADER_NAME", DEFAULT_HANDLES.ig_auth_header_name),
        required_platform_run_id_env_key=registry.section("ig").get(
            "REQUIRED_PLATFORM_RUN_ID_ENV_KEY", DEFAULT_HANDLES.required_platform_run_id_env_key),
    )


class LocalParityTarget(ReferenceTarget):
    name = "local_parity"

    def __init__(self, *, stack_dir: str | Path | None = None, handles: str | Path | None = None,
                 use_proxies: bool = True, reset_topics: bool = True, clock: Clock | None = None,
                 traffic_events: int | None = None, **options: Any) -> None:
        super().__init__(clock=clock, traffic_events=traffic_events, **options)
        self.stack_dir = Path(stack_dir) if stack_dir is not None else stack_dir_default()
        self.handles_path = handles
        self.use_proxies = use_proxies
        self.reset_topics = reset_topics
        self.stack: StackState | None = None
        self.registry: HandlesRegistry | None = None
        self.toxiproxy: ToxiproxyApi | None = None
        self.preflight_problems: list[str] = []
        self._adapters: list[Any] = []

    def _endpoint(self, state: StackState, direct: str, proxied: str) -> str:
        endpoints = state.endpoints()
        if self.use_proxies and proxied in endpoints:
            return endpoints[proxied]
        return endpoints[direct]

    def preflight(self) -> None:
        """What can be checked before any test runs, without touching the services: a running stack with
        Kafka and S3, and a registry that loads."""
        state = self._running_stack()
        load_registry(self.handles_path or state.registry_path)

    def _running_stack(self) -> StackState:
        state = running_stack(self.stack_dir)
        if state is None:
            raise TargetUnavailable(f"no running local stack in {self.stack_dir.resolve()}; start it with "
                                    f"'spine stack up --dir {self.stack_dir}' (or set SPINE_STACK_DIR)")
        missing = [s for s in ("kafka", "s3") if s not in state.services]
        if missing:
            raise TargetUnavailable(f"the local stack in {state.stack_dir} lacks {', '.join(missing)}; "
                                    "restart it with those services")
        return state

    def start(self, run: RunSpec, evidence: EvidenceSink, recorder: Recorder) -> None:
        from reference_impl.adapters.kafka_bus import BusUnavailable, KafkaBus
        from reference_impl.adapters.s3_store import S3ObjectStore

        state = self._running_stack()
        registry = load_registry(self.handles_path or state.registry_path)
        # The reference target builds the run's config (per-run API key, image provenance, mutant check).
        super().start(run, evidence, recorder)
        assert self.platform is not None and self.faults is not None
        config = dataclasses.replace(self.platform.config, env="local_parity", handles=platform_handles(registry))
        direct = state.endpoint("kafka.bootstrap")
        if self.reset_topics:
            from pytest_spine.stack.kafka import reset_topics

            reset_topics(direct, {t.name: t.partitions for t in registry.topics.values()},
                         list(registry.section("consumer_groups").values()), drop_unregistered=True)
        try:
            bus = KafkaBus(self._endpoint(state, "kafka.bootstrap", "kafka.bootstrap_proxied"),
                           client_id=f"local-parity-{run.platform_run_id}", timeout_s=BUS_TIMEOUT_S,
                           faults=self.faults)
            store = S3ObjectStore(endpoint_url=self._endpoint(state, "s3.endpoint_url", "s3.endpoint_url_proxied"),
                                  region=state.endpoints().get("s3.region", "us-east-1"), timeout_s=10.0,
                                  faults=self.faults, client_kwargs={"aws_access_key_id": LOCAL_ACCESS_KEY,
                                                                     "aws_secret_access_key": LOCAL_SECRET_KEY})
            self.preflight_problems = substrate_problems(registry, bus.topics(), store.buckets())
        except BusUnavailable as error:
            raise EnvironmentFault(f"local_parity cannot reach Kafka: {error}") from None
        if self.reset_topics:
            self._clear_stale_leases(store, registry)
        self._adapters = [bus]
        self.bus = bus  # type: ignore[assignment]  # the chaos-facing attribute: the real bus here
        self.store = store  # type: ignore[assignment]
        self.platform = SpinePlatform(config, bus=bus, store=store, evidence=evidence, recorder=recorder,
                                      clock=self.clock, faults=self.faults)
        self.stack = state
        self.registry = registry
        if "toxiproxy" in state.services:
            self.toxiproxy = ToxiproxyApi(state.endpoint("toxiproxy.api_url"))
            self.toxiproxy.reset()  # no fault from an earlier, interrupted run leaks into this one

    @staticmethod
    def _clear_stale_leases(store: Any, registry: HandlesRegistry) -> None:
        """SR leases left by earlier runs that stopped before P12 (their holders were in-process platforms of
        harness processes that have ended). On the throwaway stack a run starts without them, as it does on
        a fresh in-memory store; on a live environment (dev_min) they are never touched."""
        pattern = registry.section("prefixes").get("SR_LEASE_KEY_PATTERN")
        if not pattern or "{" not in pattern:
            return
        head = pattern.split("{", 1)[0]
        bucket = registry.bucket("S3_EVIDENCE_BUCKET")
        for key in store.list(bucket, head):
            store.delete(bucket, key)

    def control_plane_store(self) -> tuple[str, str]:
        """The control plane of local_parity runs on the stack's PostgreSQL (a worker killed during RUNNING is a
        real process SIGKILLed): ``("postgres", dsn)``. No stack PostgreSQL is an EnvironmentFault naming the
        fix, never a fallback to the in-memory store."""
        from pytest_spine.stack.shared_postgres import stack_dsn

        state = self.stack or running_stack(self.stack_dir)
        if state is None:
            raise EnvironmentFault(f"no running local stack in {self.stack_dir.resolve()} for the control plane's "
                                   f"PostgreSQL; start it with 'spine stack up --dir {self.stack_dir}'")
        return "postgres", stack_dsn(state)

    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        if name == "substrate":
            return self._substrate()
        if name == "running_daemons":
            return self._running_daemons()
        if name == "security_drill":
            return self._security_drill(str(params["check_id"]))
        return super().probe(name, **params)

    def _security_drill(self, check_id: str) -> Mapping[str, Any]:
        """The security layer guards the gate's control messages inside the platform process, which here is the
        same reference platform as on ``reference`` (only its bus and store are real): its drills are the
        reference drills, run with this run's seed, mutant and run id."""
        from pytest_spine.targets.reference_security import run_drill

        if self.run is None:
            raise ProbeNotSupported(self.name, "security_drill", "the target was not started")
        scale = float(self.run.workload_scale)
        params: dict[str, Any] = {"measure_bytes": False} if check_id == "SEC-REPLAY-REJECT" and scale < 1.0 else {}
        result = run_drill(check_id, seed=self.run.seed, mutant=self.run.mutant,
                           platform_run_id=self.run.platform_run_id, **params)
        return {"observation": dict(result.observation), "operations": [op.to_json() for op in result.operations],
                "canaries": list(result.canaries)}

    def _running_daemons(self) -> Mapping[str, Any]:
        """The platform's daemons, plus every consumer or reporter process this session's scenarios started
        that is still alive (found by the session's run id in their command line, from any xdist worker)."""
        from pytest_spine.stack.consumers import running_services

        found = dict(super().probe("running_daemons"))
        marker = self.run.platform_run_id if self.run is not None else None
        processes = running_services(marker) if marker else []
        found["running"] = [*found.get("running", []), *(f"{p['service']} pid {p['pid']}" for p in processes)]
        found["service_processes"] = processes
        return found

    def _substrate(self) -> Mapping[str, Any]:
        """What P0 checks on the real substrate, read over the direct endpoints (faults do not blind it)."""
        from reference_impl.adapters.kafka_bus import KafkaBus
        from reference_impl.adapters.s3_store import S3ObjectStore

        if self.stack is None or self.registry is None:
            raise ProbeNotSupported(self.name, "substrate", "the target was not started")
        bus = KafkaBus(self.stack.endpoint("kafka.bootstrap"), client_id="spine-substrate-probe", timeout_s=5.0)
        try:
            topics = dict(bus.topics())
        finally:
            bus.close()
        store = S3ObjectStore(endpoint_url=self.stack.endpoint("s3.endpoint_url"), timeout_s=5.0,
                              client_kwargs={"aws_access_key_id": LOCAL_ACCESS_KEY,
                                             "aws_secret_access_key": LOCAL_SECRET_KEY})
        buckets = store.buckets()
        return {"topics": topics, "buckets": buckets,
                "problems": substrate_problems(self.registry, topics, buckets),
                "services_running": {n: s.running() for n, s in self.stack.services.items()}}

    def not_applicable(self) -> Mapping[str, str]:
        return {**{k: v for k, v in REFERENCE_NOT_APPLICABLE.items() if k not in NOT_APPLICABLE},
                **NOT_APPLICABLE}

    def describe(self) -> Mapping[str, Any]:
        facts = dict(super().describe())
        facts.update({"target": self.name, "in_process": False, "bus": "KafkaBus", "object_store": "S3ObjectStore",
                      "through_toxiproxy": self.use_proxies and self.toxiproxy is not None,
                      "preflight_problems": list(self.preflight_problems)})
        if self.stack is not None:
            facts["stack"] = {"stack_dir": self.stack.stack_dir, "mode": self.stack.mode,
                              "endpoints": self.stack.endpoints(), "registry": self.stack.registry_path}
        return facts

    def stop(self) -> None:
        if self._stopped:
            return
        try:
            super().stop()
        finally:
            if self.toxiproxy is not None:
                # Network faults are rolled back even when the test failed; a Toxiproxy already gone has
                # nothing left to roll back.
                with contextlib.suppress(EnvironmentFault):
                    self.toxiproxy.reset()
            for adapter in self._adapters:
                adapter.close()
            self._adapters = []


def create_target(**options: Any) -> LocalParityTarget:
    return LocalParityTarget(**options)


# -- scenarios --------------------------------------------------------------------------------------------
def local_parity_driver(platform_run_id: str, seed: int, mutant: str | None, history: Any) -> Any:
    """The chaos driver on the local stack: the reference driver's platform, brought up to P2 over KafkaBus
    and S3ObjectStore (through Toxiproxy) on freshly reset topics, so every scenario instance starts as
    clean as an in-memory one. Fault points are shared with the adapters; ``close()`` releases them."""
    from pytest_spine.clock import ManualClock
    from pytest_spine.scenarios.reference_driver import BRING_UP, MemoryEvidence
    from pytest_spine.stack.kafka import reset_topics
    from pytest_spine.targets.local_parity_consumers import LocalParityDriver, prune_process_runs
    from reference_impl.adapters.kafka_bus import KafkaBus
    from reference_impl.adapters.s3_store import S3ObjectStore
    from reference_impl.canonical import derive_id
    from reference_impl.faultpoints import FaultPoints
    from reference_impl.mutants import MUTANTS, resolve
    from reference_impl.runtime import PlatformConfig

    state = running_stack()
    if state is None:
        raise TargetUnavailable(f"no running local stack in {stack_dir_default().resolve()}; start it with "
                                "'spine stack up' (or set SPINE_STACK_DIR)")
    registry = load_registry(state.registry_path)
    reset_topics(state.endpoint("kafka.bootstrap"), {t.name: t.partitions for t in registry.topics.values()},
                 list(registry.section("consumer_groups").values()), drop_unregistered=True)
    endpoints = state.endpoints()
    faults = FaultPoints()
    bus = KafkaBus(endpoints.get("kafka.bootstrap_proxied", endpoints["kafka.bootstrap"]),
                   client_id=f"scenario-{platform_run_id}", timeout_s=BUS_TIMEOUT_S, faults=faults)
    credentials = {"aws_access_key_id": LOCAL_ACCESS_KEY, "aws_secret_access_key": LOCAL_SECRET_KEY}
    store = S3ObjectStore(endpoint_url=endpoints.get("s3.endpoint_url_proxied", endpoints["s3.endpoint_url"]),
                          timeout_s=SCENARIO_STORE_TIMEOUT_S, faults=faults, client_kwargs=credentials)
    LocalParityTarget._clear_stale_leases(store, registry)
    spine_mutant = mutant if mutant in MUTANTS else None
    config = PlatformConfig(platform_run_id=platform_run_id, seed=seed, env="local_parity",
                            mutations=resolve(frozenset({spine_mutant}) if spine_mutant else frozenset()),
                            api_key=f"scenario-key-{derive_id('ig', platform_run_id, length=12)}",
                            handles=platform_handles(registry))
    clock = ManualClock()
    evidence = MemoryEvidence()
    platform = SpinePlatform(config, bus=bus, store=store, evidence=evidence, recorder=history, clock=clock,
                             faults=faults)
    for phase in BRING_UP:
        report = platform.run_phase(phase)
        if not report.completed:
            bus.close()
            raise TargetUnavailable(f"the scenario's local_parity platform did not come up: phase {phase} "
                                    f"failed: {report.error}")
    driver = LocalParityDriver(platform, history, clock, evidence)
    # The truth is read over the direct endpoints, so a fault on the proxied links never blinds the checks.
    truth_bus = KafkaBus(endpoints["kafka.bootstrap"], client_id=f"scenario-truth-{platform_run_id}",
                         timeout_s=BUS_TIMEOUT_S)
    driver.truth_bus = truth_bus
    driver.truth_store = S3ObjectStore(endpoint_url=endpoints["s3.endpoint_url"], timeout_s=10.0,
                                       client_kwargs=credentials)
    # A process_kill fault runs the consumers as processes of this run (the session's run id is in their
    # command line, which is how P12 finds any left running) with the same mutant as the platform.
    process_runs = Path(state.stack_dir) / "scenario-processes"
    prune_process_runs(process_runs)
    driver.process_setup = {"state": state, "registry": registry, "truth_bus": truth_bus,
                            "truth_store": driver.truth_store, "seed": seed,
                            "base_dir": process_runs / platform_run_id,
                            "mutations": (spine_mutant,) if spine_mutant else ()}
    if "toxiproxy" in state.services:
        driver.toxiproxy = ToxiproxyApi(state.endpoint("toxiproxy.api_url"))
        driver.toxiproxy.reset()  # no toxic of an earlier, interrupted run leaks into this one
        driver.links = {link: proxy for link, proxy in PROXIED_LINKS.items()
                        if proxy in driver.toxiproxy.proxies()}
        driver.capabilities = driver.capabilities | {"network_faults"}
    inner_close = driver.close

    def close() -> None:
        try:
            inner_close()
        finally:
            try:
                if driver.toxiproxy is not None:
                    # The last line of rollback: whatever a failed scenario left on the proxies goes.
                    with contextlib.suppress(EnvironmentFault):
                        driver.toxiproxy.reset()
            finally:
                truth_bus.close()
                bus.close()

    driver.close = close  # type: ignore[method-assign]
    return _with_control_plane(driver, mutant, state)


def _with_control_plane(driver: Any, mutant: str | None, state: StackState) -> Any:
    """The control-plane scenarios run on the stack's PostgreSQL, so CH-RESTART-DURING-RUNNING SIGKILLs a real
    worker process. Without one every control-plane run fails naming the fix (no in-memory fallback)."""
    from pytest_spine.stack.shared_postgres import stack_dsn
    from pytest_spine.targets.reference_control_plane import ControlPlaneChaosDriver

    try:
        dsn, problem = stack_dsn(state), None
    except EnvironmentFault as missing:
        dsn, problem = None, str(missing)
    return ControlPlaneChaosDriver(driver, mutant, store="postgres", dsn=dsn, unavailable=problem)


def _register_driver() -> None:
    # Scenarios find drivers by env name; importing the target makes local_parity's available.
    from pytest_spine.scenarios import execute

    execute.register_driver("local_parity", local_parity_driver)


_register_driver()
