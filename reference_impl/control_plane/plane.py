"""The control plane: command updates in, job transitions, dispatch, leases, retries, logs, ops status.

Every state change goes through ``_move`` (legal-table check + compare-and-set + history + log), so a
rejected command never changes anything. History operations recorded here (the contract with
``pytest_spine.invariants.control_plane``):

``cp_policy`` · ``cp_update`` (invoke/ok/fail) · ``cp_job_created`` · ``cp_transition`` · ``cp_reject`` ·
``cp_dispatch`` · ``cp_lease`` · ``heavy_start`` · ``heavy_end`` (ok/fail) · ``heavy_skip`` · ``cp_retry`` ·
``cp_complete`` (fail: a stale or failed report) · ``cp_restart`` · ``cp_snapshot`` · ``cp_trace``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from reference_impl.control_plane.errors import ControlPlaneError, ExecutionFailed, ReportingFailed
from reference_impl.control_plane.mutants import check_mutant_name
from reference_impl.control_plane.policy import RetryPolicy, TimeoutClasses
from reference_impl.control_plane.records import Job, Reply
from reference_impl.control_plane.states import TERMINAL_STATES, JobState, is_legal
from reference_impl.control_plane.store import ControlStore

S = JobState
COMMANDS = ("/request", "/approve", "/resume", "/cancel", "/recover", "/status", "/ops")
_CAS_RETRIES = 5


class NowClock(Protocol):
    def now(self) -> float: ...


class Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


class NullRecorder:
    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        """Records nothing: a control plane run outside the harness."""


# The heavy side: given the job and its timeout, returns a result or raises ExecutionFailed.
Executor = Callable[[Job, float], str]


def trace_id_for(update_id: int) -> str:
    return "tr-" + hashlib.sha256(f"update:{update_id}".encode()).hexdigest()[:16]


class _Rejected(Exception):
    def __init__(self, reason: str, job: Job | None = None) -> None:
        self.reason = reason
        self.job = job
        super().__init__(reason)


class ControlPlane:
    def __init__(
        self,
        store: ControlStore,
        clock: NowClock,
        recorder: Recorder | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeouts: TimeoutClasses | None = None,
        seed: int = 0,
        mutant: str | None = None,
        request_ttl: float = 3600.0,
        restart: bool = False,
        platform_run_id: str = "control-plane",
    ) -> None:
        check_mutant_name(mutant)
        self.platform_run_id = platform_run_id
        self.store = store
        self.clock = clock
        self.recorder: Recorder = recorder if recorder is not None else NullRecorder()
        self.retry = retry or RetryPolicy()
        self.timeouts = timeouts or TimeoutClasses()
        self.mutant = mutant
        self.request_ttl = request_ttl
        self._rng = random.Random(f"control-plane-retry:{seed}")
        self._replayed_jobs = 0
        # Fault point: the next N result reports fail after the heavy execution succeeded.
        self.fail_next_reports = 0
        self._rec("cp", "ok", "cp_policy", retry=self.retry.to_json(), timeouts=self.timeouts.to_json(),
                  store=store.kind, request_ttl=request_ttl)
        if restart:
            self._on_restart()

    # -- recording ---------------------------------------------------------------------------------

    def _rec(self, process: str, type: str, f: str, **value: Any) -> None:
        # ``at`` is the control plane's own (injected) time: a recorder on another clock keeps it honest.
        self.recorder.record(process, type, f, at=self.clock.now(), **value)

    def _event(self, name: str, trace_id: str | None, **payload: Any) -> None:
        # Telemetry (docs/history-vocabulary.md `event`): the control_plane family of the taxonomy.
        self.recorder.record("cp", "ok", "event", name=name, category="control_plane", version="1",
                             platform_run_id=self.platform_run_id, scenario_run_id=None, trace_id=trace_id,
                             payload=payload)

    def _log(self, event: str, *, level: str = "info", trace_id: str | None = None, **fields: Any) -> None:
        record = {"ts": self.clock.now(), "level": level, "event": event, "trace_id": trace_id, **fields}
        self.store.append_log(record)

    def _worker_trace(self, job: Job) -> str | None:
        return None if self.mutant == "lost_trace_id" else job.trace_id

    # -- state changes -----------------------------------------------------------------------------

    def _move(self, job: Job, target: JobState, *, cause: str, actor: str, recovery: bool = False,
              worker_side: bool = False, **changes: Any) -> Job | None:
        """Compare-and-set one transition; None when the row changed underneath (the caller re-reads)."""
        if not is_legal(job.state, target, recovery=recovery) and not self._mutant_allows(job.state, target):
            raise _Rejected(f"illegal transition {job.state.value} -> {target.value}", job)
        new = job.evolve(state=target, updated_at=self.clock.now(), **changes)
        if not self.store.write_job(job.version, new):
            return None
        trace = self._worker_trace(job) if worker_side else job.trace_id
        self._rec("cp", "ok", "cp_transition", job_id=job.job_id, **{"from": job.state.value},
                  to=target.value, trace_id=trace, cause=cause, actor=actor, recovery=recovery,
                  generation=new.generation)
        self._log("transition", trace_id=trace, job_id=job.job_id, **{"from": job.state.value},
                  to=target.value, cause=cause, actor=actor)
        self._event("control_plane.transition", trace, job_id=job.job_id, from_state=job.state.value,
                    to_state=target.value)
        return new

    def _claim_transition(self, job: Job, src: str, dst: str, cause: str, worker: str) -> None:
        trace = self._worker_trace(job)
        self._rec("cp", "ok", "cp_transition", job_id=job.job_id, **{"from": src}, to=dst, trace_id=trace,
                  cause=cause, actor=worker, recovery=False, generation=job.generation)
        self._log("transition", trace_id=trace, job_id=job.job_id, **{"from": src}, to=dst, cause=cause,
                  actor=worker)
        self._event("control_plane.transition", trace, job_id=job.job_id, from_state=src, to_state=dst)

    def _mutant_allows(self, source: JobState, target: JobState) -> bool:
        allowed = {
            "skip_queued": {(S.APPROVED, S.RUNNING)},
            "terminal_resumable": {(s, S.QUEUED) for s in (S.FAILED, S.CANCELED, S.EXPIRED)},
            "resume_ignores_gates": {(S.REQUESTED, S.QUEUED)},
        }.get(self.mutant or "", set())
        return (source, target) in allowed

    # -- commands ----------------------------------------------------------------------------------

    def handle_update(self, update: Any) -> Reply:
        """One command update (Telegram style: ``{"update_id": 7, "message": {"text": "/approve job-3"}}``).

        Never raises for bad input: malformed updates, unknown commands, unknown jobs and illegal
        commands are rejected with a reason, logged, and change nothing.
        """
        update_id, text, problem = _parse_update(update)
        self._rec("poller", "invoke", "cp_update", update_id=update_id, text=text,
                  command=_command_of(text))
        try:
            reply = self._handle(update_id, text, problem)
        except ControlPlaneError:
            raise
        except Exception as error:  # an internal fault is reported, never hidden as a rejection
            self._rec("poller", "fail", "cp_update", update_id=update_id, error=repr(error))
            self._log("command_error", level="error", update_id=update_id, error=repr(error))
            return Reply(update_id, "error", f"internal error: {error!r}")
        self._rec("poller", "ok", "cp_update", update_id=update_id, outcome=reply.outcome, reason=reply.reason,
                  job_id=reply.job_id, trace_id=reply.trace_id, state=reply.state)
        return reply

    def _handle(self, update_id: int | None, text: str | None, problem: str | None) -> Reply:
        if problem is not None or update_id is None or text is None:
            reason = problem or "malformed update"
            if update_id is not None:  # a numbered update is remembered even when malformed: replays dedupe
                first = self.store.register_update(update_id, self.clock.now())
                if first is not None:
                    self._log("update_duplicate", update_id=update_id, idempotency="update_id",
                              first_outcome=first.get("outcome"))
                    return Reply(update_id, "duplicate", "update already handled: answered from the first outcome")
            self._log("update_malformed", level="warning", update_id=update_id, reason=reason)
            reply = Reply(update_id, "rejected", reason)
            if update_id is not None:
                self.store.store_reply(update_id, reply.to_json())
            return reply
        command, args = _split(text)
        replay_new_job = self.mutant == "replayed_update_new_job" and command == "/request"
        if not replay_new_job:
            first = self.store.register_update(update_id, self.clock.now())
            if first is not None:
                self._log("update_duplicate", trace_id=first.get("trace_id"), update_id=update_id,
                          idempotency="update_id", first_outcome=first.get("outcome"))
                return Reply(update_id, "duplicate", "update already handled: answered from the first outcome",
                             job_id=first.get("job_id"), trace_id=first.get("trace_id"), state=first.get("state"))
        reply = self._dispatch_command(update_id, command, args)
        if not replay_new_job:
            self.store.store_reply(update_id, reply.to_json())
        return reply

    def _dispatch_command(self, update_id: int, command: str, args: list[str]) -> Reply:
        self._log("command_received", trace_id=self._trace_of(command, args, update_id),
                  update_id=update_id, command=command, args=args)
        handlers: dict[str, Callable[[int, list[str]], Reply]] = {
            "/request": self._cmd_request,
            "/approve": self._cmd_approve,
            "/resume": self._cmd_resume,
            "/cancel": self._cmd_cancel,
            "/recover": self._cmd_recover,
            "/status": self._cmd_status,
            "/ops": self._cmd_ops,
        }
        handler = handlers.get(command)
        if handler is None:
            return self._reject(update_id, command, None, f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
        try:
            return handler(update_id, args)
        except _Rejected as rejected:
            return self._reject(update_id, command, rejected.job, rejected.reason)

    def _trace_of(self, command: str, args: list[str], update_id: int) -> str | None:
        if command == "/request":
            return trace_id_for(update_id)
        if args:
            job = self.store.get_job(args[0])
            return job.trace_id if job else None
        return None

    def _reject(self, update_id: int, command: str, job: Job | None, reason: str) -> Reply:
        if self.mutant == "crash_on_rejection":
            raise RuntimeError(f"unhandled: {reason}")
        trace = job.trace_id if job else None
        self._rec("cp", "ok", "cp_reject", update_id=update_id, command=command,
                  job_id=job.job_id if job else None, state=job.state.value if job else None, reason=reason)
        self._log("command_rejected", level="warning", trace_id=trace, update_id=update_id, command=command,
                  job_id=job.job_id if job else None, reason=reason)
        return Reply(update_id, "rejected", reason, job_id=job.job_id if job else None, trace_id=trace,
                     state=job.state.value if job else None)

    def _job_arg(self, args: list[str], command: str) -> Job:
        if len(args) != 1:
            raise _Rejected(f"{command} takes exactly one job id, given: {' '.join(args)!r}")
        job = self.store.get_job(args[0])
        if job is None:
            raise _Rejected(f"no job {args[0]!r}: check the id with /ops")
        return job

    def _accepted(self, update_id: int, job: Job, reason: str) -> Reply:
        return Reply(update_id, "accepted", reason, job_id=job.job_id, trace_id=job.trace_id, state=job.state.value)

    def _cmd_request(self, update_id: int, args: list[str]) -> Reply:
        if not args or len(args) > 2:
            raise _Rejected(f"/request takes a task name and an optional timeout class, given: {' '.join(args)!r}")
        task = args[0]
        timeout_class = args[1] if len(args) == 2 else "standard"
        if timeout_class not in self.timeouts.seconds:
            known = ", ".join(sorted(self.timeouts.seconds))
            raise _Rejected(f"unknown timeout class {timeout_class!r}; known: {known}")
        job_id = f"job-{update_id}"
        if self.mutant == "replayed_update_new_job":
            self._replayed_jobs += 1
            job_id = f"job-{update_id}-{self._replayed_jobs}"
        now = self.clock.now()
        job = Job(job_id=job_id, trace_id=trace_id_for(update_id), task=task, state=S.REQUESTED,
                  created_at=now, updated_at=now, update_id=update_id, timeout_class=timeout_class)
        if not self.store.insert_job(job):
            existing = self.store.get_job(job_id)
            raise _Rejected(f"job {job_id!r} already exists", existing)
        self._rec("cp", "ok", "cp_job_created", job_id=job_id, update_id=update_id, trace_id=job.trace_id,
                  task=task, state=job.state.value, timeout_class=timeout_class)
        self._log("job_created", trace_id=job.trace_id, job_id=job_id, update_id=update_id, task=task,
                  state=job.state.value)
        return self._accepted(update_id, job, "job requested: /approve it, then /resume")

    def _retrying(self, update_id: int, command: str, args: list[str],
                  step: Callable[[Job], tuple[Job | None, str]]) -> Reply:
        for _ in range(_CAS_RETRIES):
            job = self._job_arg(args, command)
            new, reason = step(job)
            if new is not None:
                return self._accepted(update_id, new, reason)
        raise _Rejected(f"{command}: job {args[0]!r} kept changing underneath; retry the command")

    def _cmd_approve(self, update_id: int, args: list[str]) -> Reply:
        def step(job: Job) -> tuple[Job | None, str]:
            if job.state is S.APPROVED:
                return job, "already approved (no-op)"
            if job.state is not S.REQUESTED:
                raise _Rejected(f"/approve needs a REQUESTED job, {job.job_id} is {job.state.value}", job)
            new = self._move(job, S.APPROVED, cause="command", actor=f"update:{update_id}", approved=True)
            if new is not None and self.mutant == "approve_dispatches":
                dispatched = self._dispatch(new, update_id, "/approve", S.QUEUED)
                return dispatched or new, "approved and dispatched"
            return new, "approved: /resume dispatches it"

        return self._retrying(update_id, "/approve", args, step)

    def _cmd_resume(self, update_id: int, args: list[str]) -> Reply:
        def step(job: Job) -> tuple[Job | None, str]:
            key = _dispatch_key(job)
            if job.state in (S.QUEUED, S.RUNNING, S.SUCCEEDED) and job.dispatch_key == key:
                if self.mutant == "double_dispatch_on_resume" and job.state is not S.SUCCEEDED:
                    moved = job if job.state is S.QUEUED else self._move(
                        job, S.QUEUED, cause="command", actor=f"update:{update_id}",
                        lease_owner=None, lease_expires_at=None)
                    if moved is None:
                        return None, ""
                    again = moved.evolve(dispatch_key=f"{key}:r{update_id}")
                    if not self.store.write_job(moved.version, again):
                        return None, ""
                    self.store.put_dispatch(again.dispatch_key or "", job.job_id, self.clock.now())
                    self._rec_dispatch(again, update_id, "/resume", duplicate=False)
                    return again, "dispatched again"
                # A duplicate dispatch request: same key, the store says it exists, nothing happens.
                fresh = self.store.put_dispatch(key, job.job_id, self.clock.now())
                self._rec_dispatch(job, update_id, "/resume", duplicate=not fresh)
                self._log("dispatch_duplicate", trace_id=job.trace_id, job_id=job.job_id, dispatch_key=key,
                          idempotency="dispatch_key", update_id=update_id)
                return job, "already dispatched (duplicate /resume is a no-op)"
            if job.state in TERMINAL_STATES:
                if self.mutant == "terminal_resumable" and job.state is not S.SUCCEEDED:
                    again = job.evolve(generation=job.generation + 1)
                    if not self.store.write_job(job.version, again):
                        return None, ""
                    return self._dispatch(again, update_id, "/resume", S.QUEUED), "resumed"
                raise _Rejected(f"{job.job_id} is {job.state.value} (terminal): only /recover can revive it", job)
            gates = self._gate_problems(job)
            if gates and self.mutant != "resume_ignores_gates":
                raise _Rejected(f"/resume refused for {job.job_id}: {gates}", job)
            target = S.RUNNING if self.mutant == "skip_queued" else S.QUEUED
            return self._dispatch(job, update_id, "/resume", target), "dispatched"

        return self._retrying(update_id, "/resume", args, step)

    def _gate_problems(self, job: Job) -> str:
        problems = []
        if job.state is not S.APPROVED:
            problems.append(f"state is {job.state.value}, not APPROVED")
        if not job.approved:
            problems.append("no approval recorded")
        if self.clock.now() - job.created_at > self.request_ttl:
            problems.append(f"request older than {self.request_ttl:g}s")
        return "; ".join(problems)

    def _dispatch(self, job: Job, update_id: int, command: str, target: JobState) -> Job | None:
        key = _dispatch_key(job)
        extra: dict[str, Any] = {}
        if target is S.RUNNING:  # only the skip_queued mutant: a lease that is already over
            extra = {"lease_owner": None, "lease_expires_at": self.clock.now()}
        new = self._move(job, target, cause="command", actor=f"update:{update_id}", dispatch_key=key,
                         next_attempt_at=self.clock.now(), generation_attempts=0, **extra)
        if new is None:
            return None
        fresh = self.store.put_dispatch(key, job.job_id, self.clock.now())
        self._rec_dispatch(new, update_id, command, duplicate=not fresh)
        self._log("dispatch", trace_id=job.trace_id, job_id=job.job_id, dispatch_key=key,
                  update_id=update_id, command=command)
        return new

    def _rec_dispatch(self, job: Job, update_id: int, command: str, *, duplicate: bool) -> None:
        self._rec("cp", "ok", "cp_dispatch", job_id=job.job_id, dispatch_key=job.dispatch_key,
                  update_id=update_id, command=command, generation=job.generation, duplicate=duplicate,
                  trace_id=job.trace_id)

    def _cmd_cancel(self, update_id: int, args: list[str]) -> Reply:
        def step(job: Job) -> tuple[Job | None, str]:
            if job.state in TERMINAL_STATES:
                raise _Rejected(f"{job.job_id} is already {job.state.value} (terminal)", job)
            return self._move(job, S.CANCELED, cause="command", actor=f"update:{update_id}",
                              lease_owner=None, lease_expires_at=None), "canceled"

        return self._retrying(update_id, "/cancel", args, step)

    def _cmd_recover(self, update_id: int, args: list[str]) -> Reply:
        def step(job: Job) -> tuple[Job | None, str]:
            if not is_legal(job.state, S.APPROVED, recovery=True):
                raise _Rejected(f"/recover needs a FAILED, CANCELED or EXPIRED job, {job.job_id} is "
                                f"{job.state.value}", job)
            now = self.clock.now()
            return self._move(job, S.APPROVED, cause="recovery", actor=f"update:{update_id}", recovery=True,
                              generation=job.generation + 1, approved=True, created_at=now,
                              generation_attempts=0), "recovered: /resume dispatches it"

        return self._retrying(update_id, "/recover", args, step)

    def _cmd_status(self, update_id: int, args: list[str]) -> Reply:
        job = self._job_arg(args, "/status")
        return self._accepted(update_id, job, f"{job.job_id} is {job.state.value} after {job.attempts} attempt(s)")

    def _cmd_ops(self, update_id: int, args: list[str]) -> Reply:
        status = self.ops_status()
        return Reply(update_id, "accepted", f"queue depth {status['queue_depth']}, stale running "
                     f"{len(status['stale_running'])}, recent failures {len(status['recent_failures'])}")

    # -- expiry ------------------------------------------------------------------------------------

    def expire_stale(self) -> int:
        """REQUESTED/APPROVED jobs older than the request TTL become EXPIRED."""
        expired = 0
        for job in self.store.jobs():
            if job.state in (S.REQUESTED, S.APPROVED) and self.clock.now() - job.created_at > self.request_ttl \
                    and self._move(job, S.EXPIRED, cause="expiry", actor="cp") is not None:
                expired += 1
        return expired

    # -- worker side -------------------------------------------------------------------------------

    def _reclaim_cutoff(self) -> float:
        if self.mutant == "lease_never_expires":
            return float("-inf")
        if self.mutant == "two_owners":
            return float("inf")
        return self.clock.now()

    def claim(self, worker: str) -> Job | None:
        """Lease one job to ``worker`` (a QUEUED job that is due, or a RUNNING one whose lease expired)."""
        now = self.clock.now()
        for _ in range(_CAS_RETRIES):
            exhausted: list[Job] = []

            def build(job: Job, exhausted: list[Job] = exhausted) -> Job:
                lease = self.timeouts.lease(job.timeout_class)
                changes: dict[str, Any] = {"state": S.RUNNING, "lease_owner": worker,
                                           "lease_expires_at": now + lease, "updated_at": now}
                if self.mutant != "attempts_not_recorded":
                    changes["attempts"] = job.attempts + 1
                    changes["generation_attempts"] = job.generation_attempts + 1
                if job.state is S.RUNNING and self.mutant != "attempts_not_recorded":
                    changes["last_error"] = f"lease of {job.lease_owner} expired at {job.lease_expires_at}"
                if job.state is S.RUNNING and job.generation_attempts >= self.retry.max_attempts \
                        and self.mutant != "two_owners":
                    exhausted.append(job)
                    return job.evolve(state=S.FAILED, lease_owner=None, lease_expires_at=None, updated_at=now,
                                      last_error=f"lease of {job.lease_owner} expired and the retry budget "
                                                 f"({self.retry.max_attempts}) is spent")
                return job.evolve(**changes)

            claimed = self.store.claim_next(now, self._reclaim_cutoff(), build)
            if claimed is None:
                return None
            before, after = claimed
            if exhausted:
                self._claim_transition(after, "RUNNING", "FAILED", "lease_expired", worker)
                self._log("retry_budget_exhausted", level="error", trace_id=self._worker_trace(after),
                          job_id=after.job_id, error=after.last_error)
                continue
            if before.state is S.RUNNING:
                self._claim_transition(before, "RUNNING", "QUEUED", "lease_expired", worker)
                self._log("lease_expired", trace_id=self._worker_trace(before), job_id=before.job_id,
                          previous_owner=before.lease_owner, lease_expires_at=before.lease_expires_at)
            self._claim_transition(after, "QUEUED", "RUNNING", "claim", worker)
            self._rec(worker, "ok", "cp_lease", job_id=after.job_id, worker=worker,
                      action="reclaim" if before.state is S.RUNNING else "claim", now=now,
                      lease_expires_at=after.lease_expires_at, previous_owner=before.lease_owner,
                      previous_expires_at=before.lease_expires_at, attempts=after.attempts,
                      trace_id=self._worker_trace(after))
            self._log("lease_claimed", trace_id=self._worker_trace(after), job_id=after.job_id, worker=worker,
                      attempt=after.attempts, lease_expires_at=after.lease_expires_at)
            return after
        return None

    def execute(self, job: Job, worker: str, executor: Executor) -> str:
        """Run the heavy execution of a claimed job and report it; returns what happened.

        The heavy side keeps a ledger by dispatch key, so a job reclaimed after its execution had
        already succeeded (success, then the report failed) is reported, not executed again.
        """
        key = job.dispatch_key or _dispatch_key(job)
        trace = self._worker_trace(job)
        prior = None if self.mutant == "dispatch_key_ignored" else self.store.execution_result(key)
        if prior is not None:
            self._rec(worker, "ok", "heavy_skip", job_id=job.job_id, worker=worker, dispatch_key=key,
                      attempt=job.attempts, trace_id=trace)
            self._log("execution_skipped_idempotent", trace_id=trace, job_id=job.job_id, dispatch_key=key,
                      idempotency="dispatch_key")
            return self.report(job, worker, prior)
        timeout = self.timeouts.timeout(job.timeout_class)
        self._rec(worker, "ok", "heavy_start", job_id=job.job_id, worker=worker, dispatch_key=key,
                  attempt=job.attempts, trace_id=trace)
        self._log("execution_started", trace_id=trace, job_id=job.job_id, worker=worker, attempt=job.attempts)
        started = self.clock.now()
        try:
            result = executor(job, timeout)
            elapsed = self.clock.now() - started
            if elapsed > timeout:
                raise ExecutionFailed(f"timeout after {elapsed:g}s (class {job.timeout_class}: {timeout:g}s)")
        except ExecutionFailed as failure:
            self._rec(worker, "fail", "heavy_end", job_id=job.job_id, worker=worker, dispatch_key=key,
                      attempt=job.attempts, error=str(failure), trace_id=trace)
            self._log("execution_failed", level="warning", trace_id=trace, job_id=job.job_id,
                      attempt=job.attempts, error=str(failure))
            return self.fail_attempt(job, worker, str(failure))
        self.store.record_execution(key, result, self.clock.now())
        self._rec(worker, "ok", "heavy_end", job_id=job.job_id, worker=worker, dispatch_key=key,
                  attempt=job.attempts, result=result, trace_id=trace)
        self._log("execution_finished", trace_id=trace, job_id=job.job_id, attempt=job.attempts)
        return self.report(job, worker, result)

    def _current_owner(self, job: Job, worker: str) -> tuple[Job | None, str]:
        current = self.store.get_job(job.job_id)
        if current is None:
            return None, "the job no longer exists"
        if current.state is not S.RUNNING or current.lease_owner != worker:
            return None, f"{worker} no longer owns the job (state {current.state.value}, owner {current.lease_owner})"
        if current.lease_expires_at is not None and current.lease_expires_at < self.clock.now():
            return None, f"the lease of {worker} expired at {current.lease_expires_at}"
        return current, ""

    def report(self, job: Job, worker: str, result: str) -> str:
        """Write SUCCEEDED. Raises ReportingFailed when the report fault point is armed."""
        if self.fail_next_reports > 0:
            self.fail_next_reports -= 1
            self._rec(worker, "fail", "cp_complete", job_id=job.job_id, worker=worker, reason="report failed")
            self._log("report_failed", level="error", trace_id=self._worker_trace(job), job_id=job.job_id,
                      worker=worker, error="could not report the result")
            if self.mutant == "silent_job_loss":
                self.store.delete_job(job.job_id)
            raise ReportingFailed(f"{worker} could not report the result of {job.job_id}")
        current, problem = self._current_owner(job, worker)
        if current is None:
            self._rec(worker, "fail", "cp_complete", job_id=job.job_id, worker=worker, reason=problem)
            self._log("report_stale", level="warning", trace_id=self._worker_trace(job), job_id=job.job_id,
                      reason=problem)
            return "stale"
        moved = self._move(current, S.SUCCEEDED, cause="complete", actor=worker, worker_side=True,
                           lease_owner=None, lease_expires_at=None)
        return "succeeded" if moved is not None else "stale"

    def fail_attempt(self, job: Job, worker: str, error: str) -> str:
        current, problem = self._current_owner(job, worker)
        if current is None:
            self._rec(worker, "fail", "cp_complete", job_id=job.job_id, worker=worker, reason=problem)
            return "stale"
        trace = self._worker_trace(job)
        tight = self.mutant == "retry_tight_loop"
        last_error = None if self.mutant == "attempts_not_recorded" else error
        if current.generation_attempts >= self.retry.max_attempts and not tight:
            self._move(current, S.FAILED, cause="retry_budget", actor=worker, worker_side=True,
                       lease_owner=None, lease_expires_at=None, last_error=last_error)
            self._log("retry_budget_exhausted", level="error", trace_id=trace, job_id=job.job_id,
                      attempts=current.attempts, error=error)
            return "failed"
        delay = 0.0 if tight else self.retry.delay(current.generation_attempts, self._rng)
        at = self.clock.now() + delay
        moved = self._move(current, S.QUEUED, cause="retry", actor=worker, worker_side=True, lease_owner=None,
                           lease_expires_at=None, last_error=last_error, next_attempt_at=at)
        if moved is None:
            return "stale"
        self._rec(worker, "ok", "cp_retry", job_id=job.job_id, attempt=current.generation_attempts, delay=delay,
                  next_attempt_at=at, error=error, trace_id=trace)
        self._log("retry_scheduled", trace_id=trace, job_id=job.job_id, attempt=current.generation_attempts,
                  delay=delay, error=error)
        return "retry"

    # -- restart, snapshots, ops -------------------------------------------------------------------

    def _on_restart(self) -> None:
        before = {job.job_id: job.state.value for job in self.store.jobs()}
        if self.mutant == "restart_requeues_running":
            for job in self.store.jobs():
                if job.state is S.RUNNING:
                    self.store.write_job(job.version, job.evolve(state=S.QUEUED, lease_owner=None,
                                                                 lease_expires_at=None))
        after = {job.job_id: job.state.value for job in self.store.jobs()}
        self._rec("cp", "ok", "cp_restart", before=before, after=after)
        self._log("restart", jobs=len(after))

    def snapshot(self) -> list[dict[str, Any]]:
        return [job.to_json() for job in self.store.jobs()]

    def record_snapshot(self, label: str = "final") -> list[dict[str, Any]]:
        jobs = self.snapshot()
        self._rec("cp", "ok", "cp_snapshot", label=label, now=self.clock.now(), jobs=jobs,
                  ops=self.ops_status())
        return jobs

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Every retained log record of one trace (the end-to-end chain of one task)."""
        return self.store.logs(trace_id=trace_id)

    def record_trace_samples(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            job = self.store.get_job(job_id)
            trace_id = job.trace_id if job else None
            records = self.trace(trace_id) if trace_id else []
            self._rec("harness", "ok", "cp_trace", job_id=job_id, trace_id=trace_id,
                      events=[r.get("event") for r in records],
                      states=[r.get("to") for r in records if r.get("event") == "transition"],
                      final_state=job.state.value if job else None)

    def ops_status(self, recent: int = 10) -> dict[str, Any]:
        """CP-007: queue depth, stale RUNNING jobs and recent failures, readable at a glance."""
        now = self.clock.now()
        jobs = self.store.jobs()
        by_state = {state.value: 0 for state in JobState}
        for job in jobs:
            by_state[job.state.value] += 1
        queued = [j for j in jobs if j.state is S.QUEUED]
        stale = [
            {"job_id": j.job_id, "owner": j.lease_owner, "lease_expired_for": now - (j.lease_expires_at or now),
             "attempts": j.attempts, "trace_id": j.trace_id}
            for j in jobs if j.state is S.RUNNING and (j.lease_expires_at is None or j.lease_expires_at < now)
        ]
        failures = [r for r in self.store.logs() if r.get("level") in ("error", "warning")
                    and r.get("event") != "command_rejected" and r.get("event") != "update_malformed"]
        return {
            "now": now,
            "store": self.store.kind,
            "jobs": len(jobs),
            "by_state": by_state,
            "queue_depth": len(queued),
            "queue_due": sum(1 for j in queued if j.next_attempt_at <= now),
            "oldest_queued_age": max((now - j.updated_at for j in queued), default=0.0),
            "running": by_state[S.RUNNING.value],
            "stale_running": stale,
            "recent_failures": [
                {"ts": r.get("ts"), "event": r.get("event"), "job_id": r.get("job_id"), "error": r.get("error")}
                for r in failures[-recent:]
            ],
            "healthy": not stale,
        }


def _dispatch_key(job: Job) -> str:
    return f"{job.job_id}:g{job.generation}"


def _parse_update(update: Any) -> tuple[int | None, str | None, str | None]:
    """(update_id, text, problem): never raises, whatever arrives."""
    if not isinstance(update, Mapping):
        return None, None, f"an update must be a JSON object, given: {type(update).__name__}"
    raw_id = update.get("update_id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int) or raw_id < 0:
        return None, None, f"update_id must be a non-negative integer, given: {raw_id!r}"
    message = update.get("message")
    text = message.get("text") if isinstance(message, Mapping) else None
    if not isinstance(text, str) or not text.strip():
        return raw_id, None, f"update {raw_id} has no message.text (a command like '/approve job-1')"
    if not text.strip().startswith("/"):
        return raw_id, None, f"update {raw_id}: {text[:40]!r} is not a command (commands start with '/')"
    return raw_id, text.strip(), None


def _command_of(text: str | None) -> str | None:
    return text.split()[0].split("@")[0] if text else None


def _split(text: str) -> tuple[str, list[str]]:
    parts = text.split()
    return parts[0].split("@")[0], parts[1:]
