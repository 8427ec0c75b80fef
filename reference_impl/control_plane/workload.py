"""Control-plane workloads: the baseline mix and the chaos-lite scenarios of CP-008, driven on an
injected clock and recorded into a History.

Faults are recorded as ``fault`` operations (process ``nemesis``, ``action`` inject/rollback, ``subject``)
so the v1.2 gate can measure time to recovery from the history alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.control_plane.errors import ExecutionFailed
from reference_impl.control_plane.plane import ControlPlane, Recorder
from reference_impl.control_plane.poller import Poller, SleepClock, UpdateSource
from reference_impl.control_plane.records import Job, Reply
from reference_impl.control_plane.states import JobState
from reference_impl.control_plane.store import ControlStore
from reference_impl.control_plane.worker import Worker

SCENARIOS = (
    "CP-BASELINE",
    "CH-POLL-TIMEOUT-BURST",
    "CH-DUPLICATE-COMMAND-REPLAY",
    "CH-RESTART-DURING-RUNNING",
    "CH-SUCCESS-THEN-REPORTING-FAILURE",
    "CH-DUPLICATE-RESUME",
)


class SimulatedExecutor:
    """The heavy side, deterministic from the seed. Task names choose the behaviour:
    ``flaky`` fails its first two attempts, ``doomed`` always fails, ``slow`` overruns its timeout
    once, anything else fails transiently with probability ``fail_rate``."""

    def __init__(self, clock: SleepClock, seed: int, fail_rate: float = 0.15, duration: float = 5.0) -> None:
        self.clock = clock
        self.seed = seed
        self.fail_rate = fail_rate
        self.duration = duration

    def __call__(self, job: Job, timeout: float) -> str:
        attempt = job.generation_attempts
        if job.task == "slow" and attempt == 1:
            # Overruns its class; the execution harness kills it shortly after, well inside the lease grace.
            self.clock.sleep(timeout + 5.0)
            return "late"
        self.clock.sleep(self.duration)
        if job.task == "doomed" or (job.task == "flaky" and attempt <= 2):
            raise ExecutionFailed(f"transient: {job.task} attempt {attempt} failed")
        draw = int(hashlib.sha256(f"{self.seed}:{job.dispatch_key}:{attempt}".encode()).hexdigest()[:8], 16)
        if job.task not in ("flaky", "steady") and draw / 0xFFFFFFFF < self.fail_rate:
            raise ExecutionFailed(f"transient: upstream 503 on attempt {attempt}")
        return f"result:{job.dispatch_key}"


@dataclass
class Driver:
    """Sends commands, runs workers, injects faults and restarts, always on the injected clock."""

    store: ControlStore
    clock: SleepClock
    recorder: Recorder
    seed: int
    mutant: str | None = None
    workers: int = 2
    fail_rate: float = 0.15
    # The faults this run may inject (None = all of the workload's faults); a scenario arms them by name.
    armed: frozenset[str] | None = None
    platform_run_id: str = "control-plane"
    plane: ControlPlane = field(init=False)
    pool: list[Worker] = field(init=False)
    source: UpdateSource = field(init=False)
    poller: Poller = field(init=False)
    sent: list[Mapping[str, Any]] = field(init=False, default_factory=list)
    _next_update: int = field(init=False, default=1)
    _incident: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"cp-workload:{self.seed}")
        self.executor = SimulatedExecutor(self.clock, self.seed, self.fail_rate)
        self.plane = ControlPlane(self.store, self.clock, self.recorder, seed=self.seed, mutant=self.mutant,
                                  platform_run_id=self.platform_run_id)
        self.pool = [Worker(self.plane, f"worker-{i + 1}", self.executor) for i in range(self.workers)]
        self.source = UpdateSource()
        self.poller = Poller(self.source, self.plane, self.clock, self.recorder, seed=self.seed, mutant=self.mutant)

    # -- commands ----------------------------------------------------------------------------------

    def update(self, text: str) -> Mapping[str, Any]:
        update = {"update_id": self._next_update, "message": {"text": text}}
        self._next_update += 1
        self.sent.append(update)
        return update

    def send(self, text: str) -> Reply:
        return self.plane.handle_update(self.update(text))

    def replay(self, update: Mapping[str, Any]) -> Reply:
        return self.plane.handle_update(update)

    def request(self, task: str, timeout_class: str = "standard") -> str:
        reply = self.send(f"/request {task} {timeout_class}")
        return reply.job_id or ""

    # -- faults ------------------------------------------------------------------------------------

    def active(self, name: str) -> bool:
        return self.armed is None or name in self.armed

    def crash_a_worker(self, worker: Worker) -> Job | None:
        """A worker dies between claim and report. On PostgreSQL a real worker process is SIGKILLed."""
        if self.store.kind == "postgres":
            from reference_impl.control_plane.worker import kill_worker_process

            job_id = kill_worker_process(self.store, worker.worker_id, self.clock.now(), self.recorder,
                                         platform_run_id=self.platform_run_id)
            return self.store.get_job(job_id) if job_id else None
        return worker.claim_and_crash()

    def fault(self, name: str, action: str, subject: str) -> None:
        if action == "inject":
            self._incident += 1
        self.recorder.record("nemesis", "ok", "fault", at=self.clock.now(), name=name, action=action,
                             subject=subject, incident=self._incident)

    def restart(self) -> None:
        """A control-plane restart: a new process over the same durable store."""
        self.fault("control_plane_restart", "inject", "cp")
        self.plane = ControlPlane(self.store, self.clock, self.recorder, seed=self.seed + 1, mutant=self.mutant,
                                  restart=True, platform_run_id=self.platform_run_id)
        for worker in self.pool:
            worker.plane = self.plane
        self.poller.plane = self.plane
        self.fault("control_plane_restart", "rollback", "cp")

    # -- running -----------------------------------------------------------------------------------

    def _next_wakeup(self) -> float | None:
        now = self.clock.now()
        times = []
        for job in self.store.jobs():
            if job.state is JobState.QUEUED and job.next_attempt_at > now:
                times.append(job.next_attempt_at)
            if job.state is JobState.RUNNING and job.lease_expires_at is not None and job.lease_expires_at > now:
                times.append(job.lease_expires_at)
        return min(times) if times else None

    def run_workers(self, max_steps: int = 400) -> int:
        """Let the workers run until nothing is claimable now or later (the clock jumps to the next
        due retry or lease expiry); bounded, so a broken plane cannot loop forever."""
        steps = 0
        while steps < max_steps:
            progressed = False
            for worker in self.pool:
                if worker.step() is not None:
                    progressed = True
                    steps += 1
            if progressed:
                continue
            wake = self._next_wakeup()
            if wake is None:
                break
            self.clock.sleep(wake - self.clock.now() + 0.001)
        return steps

    def finish(self, samples: int = 5) -> dict[str, Any]:
        self.run_workers()
        self.plane.expire_stale()
        jobs = self.plane.record_snapshot("final")
        ids = sorted(j["job_id"] for j in jobs)
        sample = self.rng.sample(ids, min(samples, len(ids))) if ids else []
        self.plane.record_trace_samples(sorted(sample))
        return {"jobs": len(jobs), "sampled": sorted(sample), "ops": self.plane.ops_status()}


# -- the workloads ---------------------------------------------------------------------------------


def baseline(d: Driver) -> None:
    """The mix of a working day: requests, approvals, resumes, bad input, replays, failures, a crash,
    a restart, a cancel, a recovery and an expiry."""
    tasks = ["build", "report", "flaky", "doomed", "slow", "steady", "build", "report"]
    jobs = [d.request(task) for task in tasks]
    for job_id in jobs:
        d.send(f"/approve {job_id}")
    # Bad input: unknown command, malformed updates, an unknown job, a resume before approval.
    d.send("/frobnicate now")
    d.replay({"update_id": "x", "message": {"text": "/approve job-1"}})
    d.replay({"message": {"text": "/ops"}})
    d.send("/resume job-999")
    pending = d.request("report")
    d.send(f"/resume {pending}")
    for job_id in jobs:
        d.send(f"/resume {job_id}")
    d.send(f"/resume {jobs[0]}")  # a duplicate resume
    d.replay(d.sent[0])  # a replayed /request update
    if d.active("worker_crash"):
        d.crash_a_worker(d.pool[0])
        d.fault("worker_crash", "inject", d.pool[0].worker_id)
    if d.active("control_plane_restart"):
        d.restart()
    d.run_workers()
    if d.active("worker_crash"):
        d.fault("worker_crash", "rollback", d.pool[0].worker_id)
    # The doomed job failed its budget: an operator recovers it once (it fails again).
    d.send(f"/resume {jobs[3]}")  # refused: terminal
    d.send(f"/recover {jobs[3]}")
    d.send(f"/resume {jobs[3]}")
    late = d.request("build")
    d.send(f"/cancel {late}")
    d.send(f"/cancel {late}")  # refused: already terminal
    d.request("never-approved")
    d.run_workers()
    d.clock.sleep(d.plane.request_ttl + 1.0)
    d.send("/ops")


def poll_timeout_burst(d: Driver) -> None:
    """Bursts of long-poll timeouts while commands queue up in the chat: the poller backs off, recovers,
    and every command is handled once."""
    for burst in range(3):
        for task in ("build", "report"):
            d.source.push(d.update(f"/request {task}"))
        if d.active("poll_timeout_burst"):
            d.source.timeouts_armed = 3 + burst
            d.fault("poll_timeout_burst", "inject", "poller")
        d.poller.drain()
        if d.active("poll_timeout_burst"):
            d.fault("poll_timeout_burst", "rollback", "poller")
        for job in d.store.jobs():
            if job.state is JobState.REQUESTED:
                d.source.push(d.update(f"/approve {job.job_id}"))
                d.source.push(d.update(f"/resume {job.job_id}"))
        d.poller.drain()
        d.run_workers()


def duplicate_command_replay(d: Driver) -> None:
    """The poller dies after handling updates but before committing its offset: every update of the
    batch is delivered again; replays must not create jobs or executions."""
    for task in ("build", "report", "steady"):
        d.source.push(d.update(f"/request {task}"))
    crash = d.active("poller_crash_before_commit")
    if crash:
        d.fault("poller_crash_before_commit", "inject", "poller")
    d.poller.poll_once(crash_before_commit=crash)
    d.poller.poll_once()  # the restarted poller re-reads the same batch
    if crash:
        d.fault("poller_crash_before_commit", "rollback", "poller")
    for job in d.store.jobs():
        d.source.push(d.update(f"/approve {job.job_id}"))
        d.source.push(d.update(f"/resume {job.job_id}"))
    d.poller.poll_once(crash_before_commit=crash)
    d.poller.poll_once()
    if d.active("update_replay"):
        for update in list(d.sent):
            d.replay(update)  # and a blunt replay of everything, in order
    d.run_workers()


def restart_during_running(d: Driver) -> None:
    """A worker dies mid-execution and the control plane restarts: the job is reclaimed after its lease
    expires, by another worker, and finishes once."""
    jobs = [d.request(task) for task in ("steady", "steady", "build")]
    for job_id in jobs:
        d.send(f"/approve {job_id}")
        d.send(f"/resume {job_id}")
    crashed = d.crash_a_worker(d.pool[0]) if d.active("worker_crash") else None
    if crashed is not None:
        d.fault("worker_crash", "inject", crashed.job_id)
        d.pool = d.pool[1:]  # the dead worker stays dead
    if d.active("control_plane_restart"):
        d.restart()
    d.run_workers()
    if crashed is not None:
        d.fault("worker_crash", "rollback", crashed.job_id)


def success_then_reporting_failure(d: Driver) -> None:
    """The heavy execution succeeds, then the report fails: the job must neither vanish nor execute
    twice; it is reclaimed and reported from the execution ledger."""
    jobs = [d.request("steady") for _ in range(3)]
    for job_id in jobs:
        d.send(f"/approve {job_id}")
        d.send(f"/resume {job_id}")
    if d.active("report_failure"):
        d.plane.fail_next_reports = 2
        d.fault("report_failure", "inject", jobs[0])
    d.run_workers()
    if d.active("report_failure"):
        d.fault("report_failure", "rollback", jobs[0])


def duplicate_resume(d: Driver) -> None:
    """/resume sent again and again (a double tap, a retrying client, a resume while RUNNING)."""
    jobs = [d.request(task) for task in ("steady", "build")]
    repeats = 3 if d.active("duplicate_resume") else 1
    for job_id in jobs:
        d.send(f"/approve {job_id}")
        for _ in range(repeats):
            d.send(f"/resume {job_id}")
    first = d.plane.claim(d.pool[0].worker_id)
    if first is not None:
        if d.active("duplicate_resume"):
            d.send(f"/resume {first.job_id}")  # while it is RUNNING
        d.plane.execute(first, d.pool[0].worker_id, d.executor)
    d.run_workers()
    if d.active("duplicate_resume"):
        for job_id in jobs:
            d.send(f"/resume {job_id}")  # after it SUCCEEDED


WORKLOADS: Mapping[str, Callable[[Driver], None]] = {
    "CP-BASELINE": baseline,
    "CH-POLL-TIMEOUT-BURST": poll_timeout_burst,
    "CH-DUPLICATE-COMMAND-REPLAY": duplicate_command_replay,
    "CH-RESTART-DURING-RUNNING": restart_during_running,
    "CH-SUCCESS-THEN-REPORTING-FAILURE": success_then_reporting_failure,
    "CH-DUPLICATE-RESUME": duplicate_resume,
}


FAULTS = ("worker_crash", "control_plane_restart", "poll_timeout_burst", "poller_crash_before_commit",
          "update_replay", "report_failure", "duplicate_resume")


def run_workload(name: str, *, store: ControlStore, clock: SleepClock, recorder: Recorder, seed: int,
                 mutant: str | None = None, workers: int = 2,
                 armed: frozenset[str] | None = None, platform_run_id: str = "control-plane") -> dict[str, Any]:
    """Run one named workload to quiescence and record the final snapshot and trace samples."""
    if name not in WORKLOADS:
        raise KeyError(f"unknown control-plane workload {name!r}; known: {', '.join(WORKLOADS)}")
    driver = Driver(store, clock, recorder, seed, mutant=mutant, workers=workers, armed=armed,
                    platform_run_id=platform_run_id)
    WORKLOADS[name](driver)
    summary = driver.finish()
    summary["workload"] = name
    return summary
