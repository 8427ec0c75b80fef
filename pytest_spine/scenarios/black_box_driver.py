"""The chaos driver of a platform the harness did not write (a black box: ``pytest_spine.targets.external``).

The harness reaches such a platform only as a client and an observer, so that is all this driver does:

- per scenario instance it starts the platform for the instance's own run id with the registry's ``start``
  command, waits until the gate answers its health check for that run, and on ``close`` runs ``teardown``
  (``close`` is always called, from the caller's ``finally``: also on a failure and on Ctrl-C);
- ``ingest`` (and ``send``, ``health``): it sends through the registry's gate (``IG_BASE_URL``, and nothing
  else) with :class:`GateClient`, which records every send and answer as ``ingest`` operations; ``send_race``
  makes each send leave as several concurrent copies;
- ``judge``: it observes the substrate for the run id (``observe_platform``: the gate's topics, the receipts),
  plus the gate's topics for every other run id it sent for, and judges the scenario's invariants by their
  observed forms (``pytest_spine.invariants.observed``). The platform records nothing into the history, so the
  history checkers would pass on silence;
- budgets: the harness's defaults, lowered by the registry's ``platform.chaos_budgets``, scale the workload's
  counts down, pace the sends, and stop sending when the duration is spent.

It offers no fault points, consumers, run closing, gates, network or process faults: scenarios that need them
are NOT_APPLICABLE, with the runner's "lacks ..." reason. Nothing here runs without --spine-allow-destructive.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pytest_spine.clock import utc_iso
from pytest_spine.drive.envelope import envelope as contract_envelope
from pytest_spine.drive.gate_client import OWN_KEY, GateAnswer, GateClient
from pytest_spine.errors import EnvironmentFault, SpineError, TargetUnavailable
from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.history import History, Operation
from pytest_spine.invariants.observed import Sight, judge
from pytest_spine.invariants.registry import EvidenceReader
from pytest_spine.observe.substrate import Observations, read_topics
from pytest_spine.scenarios.driver import ChaosDriver, KeyChoice, SendResult
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.workloads import WorkloadSpec
from pytest_spine.targets.platform_spec import ChaosBudgets, PlatformSpec, platform_spec
from pytest_spine.verdicts import Verdict

NAME = "black_box"
TRAFFIC = "traffic"
PROCESS = "harness-chaos"
# What one scenario may send to a platform under test unless the registry lowers it (platform.chaos_budgets).
DEFAULT_BUDGETS = ChaosBudgets(max_events=20_000, max_rate_per_s=500.0, max_duration_s=60.0)
# The share of max_duration_s the workload is planned to fill at the throughput measured on the steady-state probes:
# the rest is for what the count does not show (raced copies, refused sends, the probes after).
THROUGHPUT_SHARE = 0.4
OBSERVE_DEADLINE_S = 60.0
START_ATTEMPTS = 2
# Why a workload without a black-box form cannot run there (appended to its NOT_APPLICABLE reason).
WHY_NOT: Mapping[str, str] = {
    "security_rate_burst": "it judges the per-node token bucket of the signed control endpoint (burst 100, "
                           "10/s); the gate's ingest contract names 429 but declares no limit the harness could "
                           "hold a platform to",
    "security_sig_tamper_flood": "it judges signatures, nonces and node quarantine of the signed control "
                                 "endpoint, which the ingest contract does not have; the gate's one API key is "
                                 "walked by the no-key and wrong-key sends of CH-REPLAY-FLOOD",
    "control_plane": "it drives the control plane (commands, jobs, workers, the poller), which the platform "
                     "contract does not expose",
    "late_context": "it needs the consumers run on demand and the decision lane's degrade records",
    "consumer_crash": "it needs the consumers run, crashed and restarted on demand",
    "concurrent_reporters": "it needs the platform's reporters raced on demand",
    "publish_ambiguity": "it needs the broker's acknowledgement withheld inside the platform",
}


@dataclass(frozen=True, slots=True)
class PlatformAccess:
    """What the driver needs of the session's black-box target: the registry, its platform section, the resolved
    connection (gate URL and key, broker, store) and the environment the platform's commands run with."""

    registry: HandlesRegistry
    spec: PlatformSpec
    connection: Any  # pytest_spine.targets.dev_min.DevMinConnection
    environ: Mapping[str, str]

    @classmethod
    def from_target(cls, target: Any) -> PlatformAccess:
        registry, spec, connection = (getattr(target, name, None) for name in ("registry", "spec", "connection"))
        if registry is None or spec is None or connection is None:
            raise TargetUnavailable("the black-box target was not started: its registry and connection are unknown")
        return cls(registry, spec, connection, dict(target.environ))

    @classmethod
    def from_registry(cls, registry: HandlesRegistry | str, environ: Mapping[str, str]) -> PlatformAccess:
        from pytest_spine.targets.dev_min import resolve_connection

        loaded = load_registry(registry) if isinstance(registry, str) else registry
        spec = platform_spec(loaded)
        if spec is None:
            raise TargetUnavailable(f"the registry {loaded.source} has no 'platform' section")
        return cls(loaded, spec, resolve_connection(loaded, environ), dict(environ))


def budgets_for(spec: PlatformSpec) -> ChaosBudgets:
    """The harness's defaults, each lowered by the registry's ``chaos_budgets`` (a registry cannot raise them)."""
    given = spec.chaos_budgets

    def lower(default: float | None, registry: float | None) -> float | None:
        if default is None:
            return registry
        return default if registry is None else min(default, registry)

    events = lower(DEFAULT_BUDGETS.max_events, given.max_events)
    return ChaosBudgets(max_events=None if events is None else int(events),
                        max_rate_per_s=lower(DEFAULT_BUDGETS.max_rate_per_s, given.max_rate_per_s),
                        max_duration_s=lower(DEFAULT_BUDGETS.max_duration_s, given.max_duration_s))


class _Empty:
    """The black box's evidence as the scenario laws' reader: the harness imports none into a scenario."""

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        return None

    def list(self) -> list[str]:
        return []


class BlackBoxDriver:
    name = NAME
    capabilities = frozenset({"ingest", "read_topic", "gate_client", "concurrent_ingest", "observed_laws"})

    def __init__(self, access: PlatformAccess, platform_run_id: str, history: History, *, seed: int = 0) -> None:
        from pytest_spine.observe.buckets import BucketObserver
        from pytest_spine.observe.groups import GroupObserver
        from pytest_spine.observe.topics import TopicObserver

        self.access = access
        self.history = history
        self.platform_run_id = platform_run_id
        self.seed = seed
        spec, connection = access.spec, access.connection
        ig = access.registry.section("ig")
        if not connection.ig_base_url:
            raise TargetUnavailable(f"the registry {access.registry.source} names no IG_BASE_URL: the harness has no "
                                    "gate to send chaos traffic to")
        # Every send goes to the registry's gate and nowhere else: the client is bound to IG_BASE_URL.
        self.client = GateClient(connection.ig_base_url, ig["IG_AUTH_HEADER_NAME"], connection.ig_api_key,
                               ingest_path=ig["IG_INGEST_PATH"], health_path=ig["IG_HEALTHCHECK_PATH"],
                               timeout_s=spec.request_timeout_s, recorder=history, process=PROCESS)
        timeout = min(10.0, max(1.0, spec.request_timeout_s * 2))
        self._topics = TopicObserver(connection.bootstrap, connection.kafka_config, timeout_s=timeout)
        self._groups = GroupObserver(connection.bootstrap, connection.kafka_config, timeout_s=timeout)
        self._buckets = BucketObserver(endpoint_url=connection.s3_endpoint_url, region=connection.region,
                                       timeout_s=timeout)
        self._wrong_key = f"spine-wrong-{uuid.uuid4().hex}"
        classes = sorted(spec.event_class_topics)
        self._traffic = next((c for c in classes if "traffic" in c), classes[0] if classes else TRAFFIC)
        self._contexts = [c for c in classes if c != self._traffic]
        self._race = 1
        self._pool: ThreadPoolExecutor | None = None
        self._started = False
        self._closed = False
        self._health: list[bool] = []
        self._budget = budgets_for(spec)
        self._plan: dict[str, Any] = {}
        self._deadline: float | None = None
        self._began: float | None = None
        self._next_at = 0.0
        self._sent = 0
        self._unsent = 0
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def started(cls, access: PlatformAccess, platform_run_id: str, seed: int, history: History) -> BlackBoxDriver:
        """A driver whose platform runs for ``platform_run_id``; raises TargetUnavailable (after tearing down
        whatever started) when it does not come up."""
        driver = cls(access, platform_run_id, history, seed=seed)
        try:
            driver.start()
        except BaseException:
            driver.close()
            raise
        return driver

    def start(self) -> None:
        if not self.access.spec.commands.get("start"):
            raise TargetUnavailable(f"the registry {self.access.registry.source} declares no platform.commands.start: "
                                    "the harness cannot start the platform for the scenario's own run id")
        self._started = True  # before the command: a half-started platform is still torn down
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._command("start")
                break
            except EnvironmentFault as error:
                if attempt == START_ATTEMPTS:
                    raise TargetUnavailable(f"the platform did not start for run {self.platform_run_id} in "
                                            f"{START_ATTEMPTS} attempts: {error}") from None
                # A platform's start-up is not what a scenario judges: one more attempt, after a teardown, both in
                # the history (a platform that cannot start twice running is BLOCKED, with the reason).
                self.history.record(PROCESS, "info", "platform_start_retry", attempt=attempt, error=str(error)[-400:])
                if self.access.spec.commands.get("teardown"):
                    with contextlib.suppress(EnvironmentFault):
                        self._command("teardown")
        deadline = time.monotonic() + max(5.0, self.access.spec.settle_s)
        while True:
            answer = self.client.health()
            serving = answer.body.get("platform_run_id")
            ok = answer.kind == "ok" and serving in (None, self.platform_run_id)
            if ok or time.monotonic() > deadline:
                self.history.record(PROCESS, "ok" if ok else "fail", "gate_health", status_code=answer.status_code,
                                    platform_run_id=serving, error=answer.error)
                if not ok:
                    raise TargetUnavailable(f"the gate at IG_BASE_URL ({self.client.base_url}) did not answer its "
                                            f"health check for run {self.platform_run_id} within "
                                            f"{max(5.0, self.access.spec.settle_s)} s after start (it serves "
                                            f"{serving!r}: {answer.error})")
                return
            time.sleep(0.2)

    def close(self) -> None:
        """Tear the platform down (once; also after a failed start). A failed teardown is raised after the
        history has it: something may be left running."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
            if self._started and self.access.spec.commands.get("teardown"):
                self._command("teardown")
        finally:
            self.client.close()
            self._topics.close()

    def _command(self, name: str) -> None:
        from pytest_spine.drive.commands import expand, run_command

        argv = expand(self.access.spec.commands[name], {"platform_run_id": self.platform_run_id})
        result = run_command(name, argv, timeout_s=self.access.spec.command_timeout_s, recorder=self.history,
                             env=dict(self.access.environ))
        if not result.ok:
            why = "timed out" if result.exit_status is None else f"exited {result.exit_status}"
            raise EnvironmentFault(f"the platform command {name!r} {why} after {result.seconds:.1f} s; its output "
                                   f"ends: {result.output_tail[-400:]!r}")

    # -- traffic ------------------------------------------------------------------------------------
    def envelope(self, event_id: str, *, platform_run_id: str | None = None, event_class: str = TRAFFIC,
                 flow_id: str | None = None, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # The payload is derived from the event id alone: the same event sent twice is a replay, not a change.
        body = dict(payload) if payload is not None else {
            "flow_id": flow_id or event_id, "amount_minor": 1000 + zlib.crc32(event_id.encode()) % 5000,
            "row_id": event_id}
        body.setdefault("flow_id", flow_id or event_id)
        return contract_envelope(platform_run_id or self.platform_run_id, self._event_class(event_class), event_id,
                                 body, utc_iso(time.time()))

    def _event_class(self, name: str) -> str:
        if name == TRAFFIC:
            return self._traffic
        if name.startswith("context:") and name.removeprefix("context:").isdigit() and self._contexts:
            return self._contexts[int(name.removeprefix("context:")) % len(self._contexts)]
        return name

    def ingest(self, envelope: Mapping[str, Any], process: str = "client-1") -> str | None:
        answers = self._send(envelope, OWN_KEY, process, None)
        if any(a.outcome == "ADMIT" for a in answers):
            return "ADMIT"  # one of the race's copies won the admission
        return next((a.outcome for a in answers if a.kind == "ok"), None)

    def send(self, document: Mapping[str, Any] | bytes, *, key: KeyChoice = "own", process: str = "client-1",
             drill: str | None = None) -> SendResult:
        presented = {"own": OWN_KEY, "none": None, "wrong": self._wrong_key}[key]
        answers = self._send(document, presented, process, drill)
        first = answers[0] if answers else None
        if first is None:
            return SendResult("fail", None)  # not sent: the budget is spent (the history says so)
        return SendResult(first.kind, first.status_code, first.outcome)

    def health(self) -> bool:
        answer = self.client.health()
        ok = answer.kind == "ok" and answer.body.get("platform_run_id") in (None, self.platform_run_id)
        self._health.append(ok)
        self.history.record(PROCESS, "ok" if ok else "fail", "gate_health", status_code=answer.status_code,
                            platform_run_id=answer.body.get("platform_run_id"), error=answer.error)
        return ok

    def set_race(self, copies: int) -> None:
        with self._lock:
            if copies > 1 and (self._pool is None or self._race != copies):
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                # One thread per copy, kept for the race: each keeps its own keep-alive connection to the gate.
                self._pool = ThreadPoolExecutor(copies, thread_name_prefix="spine-race")
                self._warm(copies)
            self._race = max(1, copies)

    def _warm(self, copies: int) -> None:
        """Open every copy's connection (a health GET on each race thread) before the first race: a copy that
        still has to connect leaves late, and the copies would not race at all."""
        assert self._pool is not None
        barrier = threading.Barrier(copies)

        def warm() -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=self.access.spec.request_timeout_s)  # one GET per thread, not one thread twice
            self.client.health()

        for future in [self._pool.submit(warm) for _ in range(copies)]:
            future.result(timeout=self._race_timeout_s())
        self.history.record(PROCESS, "ok", "race_warmup", connections=copies)

    def _race_timeout_s(self) -> float:
        """A copy waits for the barrier, then sends with the client's timeout (connect, then the answer)."""
        return 3 * self.access.spec.request_timeout_s + 1.0

    def _send(self, document: Mapping[str, Any] | bytes, key: Any, process: str,
              drill: str | None) -> list[GateAnswer]:
        copies = self._race
        if not self._within_budget(copies):
            return []
        if copies <= 1 or self._pool is None:
            return [self.client.send(document, key=key, process=process, drill=drill)]
        barrier = threading.Barrier(copies)

        def one(number: int) -> GateAnswer:
            # Released together, so the copies really race for the tuple (a broken barrier still sends).
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=self.access.spec.request_timeout_s)
            return self.client.send(document, key=key, process=process if number == 0 else f"{process}-race-{number}",
                                  drill=drill)

        futures = [self._pool.submit(one, number) for number in range(copies)]
        return [future.result(timeout=self._race_timeout_s()) for future in futures]

    # -- budgets ------------------------------------------------------------------------------------
    def plan_budget(self, spec: WorkloadSpec, params: Mapping[str, Any], scale: float) -> float:
        """Scale the workload down to max_events, to what max_rate_per_s allows in max_duration_s, and to what the
        gate's measured throughput (the steady-state probes, sent before this is called) allows in a share of
        max_duration_s: a slow platform gets a smaller workload, not a scenario cut off half-way."""
        planned = spec.scaled_counts(spec.resolved(params, scale))
        rate, duration = self._budget.max_rate_per_s, self._budget.max_duration_s
        caps = [c for c in (self._budget.max_events,) if c is not None]
        if rate is not None and duration is not None:
            caps.append(int(rate * duration))
        measured = self._measured_rate()
        if measured is not None and duration is not None:
            caps.append(max(1, int(measured * duration * THROUGHPUT_SHARE)))
        cap = min(caps) if caps else None
        factor = min(1.0, cap / planned) if cap is not None and planned else 1.0
        budgeted = scale * factor
        self._plan = {"budget_max_events": self._budget.max_events, "budget_max_rate_per_s": rate,
                      "budget_max_duration_s": duration,
                      "budget_measured_rate_per_s": None if measured is None else round(measured, 1),
                      "budget_scale": round(budgeted, 6), "planned_events": planned,
                      "budget_events": spec.scaled_counts(spec.resolved(params, budgeted))}
        return budgeted

    def _measured_rate(self) -> float | None:
        """Requests per second the gate has answered so far (None before any send)."""
        with self._lock:
            if self._began is None or not self._sent:
                return None
            elapsed = time.monotonic() - self._began
        return self._sent / elapsed if elapsed > 0 else None

    def _within_budget(self, requests: int) -> bool:
        """Pace to max_rate_per_s; after max_duration_s (from the first send) send nothing more."""
        with self._lock:
            now = time.monotonic()
            if self._began is None:
                self._began = now
                if self._budget.max_duration_s is not None:
                    self._deadline = now + self._budget.max_duration_s
            if self._deadline is not None and now > self._deadline:
                if not self._unsent:
                    self.history.record(PROCESS, "info", "budget", spent="max_duration_s",
                                        max_duration_s=self._budget.max_duration_s, sent=self._sent)
                self._unsent += requests
                return False
            wait = 0.0
            if self._budget.max_rate_per_s:
                wait = max(0.0, self._next_at - now)
                self._next_at = max(self._next_at, now) + requests / self._budget.max_rate_per_s
            self._sent += requests
        if wait:
            time.sleep(wait)
        return True

    def budget_report(self) -> tuple[Mapping[str, Any], str | None]:
        elapsed = time.monotonic() - self._began if self._began is not None else 0.0
        figures = {**self._plan, "budget_requests_sent": self._sent, "budget_requests_unsent": self._unsent,
                   "budget_elapsed_s": round(elapsed, 3)}
        if not self._unsent:
            return figures, None
        return figures, (f"the chaos budget max_duration_s={self._budget.max_duration_s} was spent after "
                         f"{self._sent} requests; {self._unsent} were not sent, so the scenario did not run whole "
                         "(lower platform.chaos_budgets.max_events, or let it run longer)")

    # -- observation --------------------------------------------------------------------------------
    def judge(self, check_ids: Sequence[str], ops: Sequence[Operation], when: str) -> list[Verdict]:
        return judge(check_ids, ops, self.observe(ops, when))

    def observe(self, ops: Sequence[Operation], when: str = "after") -> Sight:
        """One observation of the run (recorded in the history), and of every other run id the sends named."""
        from pytest_spine.targets.external_observe import observe_platform

        spec = self.access.spec
        self.history.record("observer", "invoke", "observe", when=when, platform_run_id=self.platform_run_id)
        try:
            obs = observe_platform(self.access.registry, spec, self.platform_run_id, topics=self._topics,
                                   groups=self._groups, buckets=self._buckets, evidence=None, recorder=self.history,
                                   deadline_s=OBSERVE_DEADLINE_S)
            foreign: dict[str, Observations] = {}
            for other in sorted(_other_runs(ops, self.platform_run_id)):
                foreign[other] = self._read_gate_topics(other)
                self.history.record("observer", "ok", "foreign_records", platform_run_id=other,
                                    records=sum(v.run_records() for v in foreign[other].topics.values()))
        except (EnvironmentFault, SpineError) as error:
            self.history.record("observer", "fail", "observe", when=when, error=str(error))
            return Sight(self.platform_run_id, None, str(error), dict(spec.event_class_topics))
        self.history.record("observer", "ok", "observe", when=when, receipts=len(obs.receipts),
                            run_records={n: v.run_records() for n, v in sorted(obs.topics.items())})
        return Sight(self.platform_run_id, obs, None, dict(spec.event_class_topics), foreign, tuple(self._health))

    def _read_gate_topics(self, run_id: str) -> Observations:
        spec = self.access.spec
        seen = Observations(run_id)
        present = set(self._topics.topics())
        topics = [t for t in spec.ingest_topics if t in present]
        read_topics(self._topics, seen, topics, ingest=topics, outputs=(), control=None,
                    deadline_s=OBSERVE_DEADLINE_S)
        return seen

    def published_event_ids(self, event_class: str = TRAFFIC) -> frozenset[str]:
        """Event ids of this run on the topic of ``event_class``, as the harness reads it from the broker."""
        topic = self.access.spec.event_class_topics.get(self._event_class(event_class))
        if topic is None:
            return frozenset()
        seen = Observations(self.platform_run_id)
        read_topics(self._topics, seen, [topic], ingest=[topic], outputs=(), control=None,
                    deadline_s=OBSERVE_DEADLINE_S)
        view = seen.topics.get(topic)
        return frozenset(ident[2] for ident in view.tuples) if view is not None else frozenset()

    # -- what a black box does not offer (not in ``capabilities``: the runner never calls these) -----------
    def _not_offered(self, what: str) -> TargetUnavailable:
        return TargetUnavailable(f"a black box offers no {what}: the harness reaches it only through its gate and "
                                 "its substrate")

    def consume(self) -> int:
        raise self._not_offered("consumers to run")

    def restart_consumer(self) -> None:
        raise self._not_offered("consumers to restart")

    def close_run(self, holders: int) -> Mapping[str, Any]:
        raise self._not_offered("reporters to race")

    def arm(self, point: str, *, error: str | None = None, delay_s: float | None = None, times: int | None = None,
            match: Mapping[str, Any] | None = None) -> None:
        raise self._not_offered(f"fault point {point!r}")

    def disarm(self, point: str) -> None:
        return  # nothing was armed

    def armed(self) -> list[str]:
        return []

    def fault_errors(self) -> frozenset[str]:
        return frozenset()

    def gate(self, criterion_id: str) -> tuple[str, str]:
        return "UNKNOWN", f"gate {criterion_id} is not evaluated on a black box's scenario run"

    def downstream(self) -> Mapping[str, Any]:
        raise self._not_offered("view of what its consumers made durable")

    def evidence(self) -> EvidenceReader:
        return _Empty()


def _other_runs(ops: Sequence[Operation], run_id: str) -> set[str]:
    return {str(op.value["platform_run_id"]) for op in ops
            if op.f == "ingest" and op.type == "invoke" and isinstance(op.value.get("platform_run_id"), str)
            and op.value["platform_run_id"] != run_id}


# -- the session's side -------------------------------------------------------------------------------------------
def factory_for(target: Any) -> Callable[[str, int, str | None, History], ChaosDriver]:
    """The driver factory of ``execute.run_instance`` for the session's black-box target."""
    access = PlatformAccess.from_target(target)

    def make(platform_run_id: str, seed: int, mutant: str | None, history: History) -> ChaosDriver:
        driver: ChaosDriver = BlackBoxDriver.started(access, platform_run_id, seed, history)
        return driver

    return make


def not_applicable(scenario: Scenario, env: str, *, allow_destructive: bool) -> str | None:
    """Why ``scenario`` cannot run on a black box (None when the black-box driver can run it). Decided before
    anything is started or sent."""
    from pytest_spine.scenarios.runner import lacks_reason

    if not allow_destructive:
        return (f"{scenario.id} sends chaos traffic to the platform under test, and this run verifies it read-only; "
                "nothing was sent (give --spine-allow-destructive to run it)")
    why = WHY_NOT.get(scenario.workload.generator) if scenario.black_box is None else None
    if env not in scenario.envs and scenario.black_box is None:
        return (f"{scenario.id} is declared for {', '.join(scenario.envs)}, not {env!r}, and has no black_box "
                f"variant" + (f": {why}" if why else ""))
    variant = scenario.for_target(env, black_box=True)
    reason = lacks_reason(variant, NAME, BlackBoxDriver.capabilities)
    if reason is None:
        return None
    return reason + (f" ({why})" if why else "")

