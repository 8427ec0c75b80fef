"""Control-plane laws (seed 001, CP-001..CP-008) checked over a recorded history, one pass each.

The checkers read the operations a control plane records (the vocabulary is in
``docs/control-plane.md``): ``cp_update`` (invoke/ok/fail), ``cp_job_created``, ``cp_transition``,
``cp_reject``, ``cp_dispatch``, ``cp_lease``, ``heavy_start``, ``heavy_end``, ``heavy_skip``, ``cp_retry``,
``cp_complete``, ``cp_restart``, ``cp_snapshot``, ``cp_trace``, ``cp_policy``.

The law (the legal-transition table and the thresholds) is written here from the seed, not read from the
system under test: a control plane that records a wrong table is still judged by the right one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, brief
from pytest_spine.invariants.registry import CheckContext, invariant
from pytest_spine.invariants.tally import Tally
from pytest_spine.verdicts import Status, Verdict

KIND = "control_plane"
STATES = ("REQUESTED", "APPROVED", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "EXPIRED")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "EXPIRED"})
LEGAL: Mapping[str, frozenset[str]] = {
    "REQUESTED": frozenset({"APPROVED", "CANCELED", "EXPIRED"}),
    "APPROVED": frozenset({"QUEUED", "CANCELED", "EXPIRED"}),
    "QUEUED": frozenset({"RUNNING", "CANCELED", "EXPIRED"}),
    "RUNNING": frozenset({"SUCCEEDED", "FAILED", "QUEUED", "CANCELED"}),
}
RECOVERY: Mapping[str, frozenset[str]] = {s: frozenset({"APPROVED"}) for s in ("FAILED", "CANCELED", "EXPIRED")}

# CP-005 thresholds: a retry sooner than this is a tight loop; a budget above this is no cap at all.
MIN_RETRY_GAP_SECONDS = 1.0
MAX_RETRY_BUDGET = 10

CP_IDS: tuple[str, ...] = (
    "CP-STATE-LEGAL", "CP-TERMINAL-STICKY", "CP-RESTART-STABLE", "CP-APPROVE-NO-DISPATCH", "CP-RESUME-GATED",
    "CP-RESUME-IDEMPOTENT", "CP-UPDATE-IDEMPOTENT", "CP-DISPATCH-IDEMPOTENT", "CP-LEASE-RECOVERY",
    "CP-SINGLE-OWNER", "CP-ATTEMPTS-RECORDED", "CP-RETRY-BUDGET", "CP-TRACEABLE", "CP-NO-SILENT-LOSS",
)

_T = ("job_id", "from", "to", "cause", "actor", "recovery", "generation", "trace_id")


def _at(op: Operation) -> float:
    """When it happened on the control plane's own clock (``at``), else when it was recorded."""
    at = op.value.get("at")
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else op.time


def _actor_update(op: Operation) -> int | None:
    actor = op.value.get("actor")
    if isinstance(actor, str) and actor.startswith("update:"):
        try:
            return int(actor.split(":", 1)[1])
        except ValueError:
            return None
    return None


class _Commands:
    """update_id -> the command the client sent (from the ``cp_update`` invocation, not the plane's say)."""

    def __init__(self) -> None:
        self.command: dict[int, str] = {}

    def observe(self, op: Operation) -> None:
        if op.f == "cp_update" and op.type == "invoke" and isinstance(op.value.get("update_id"), int):
            self.command.setdefault(op.value["update_id"], str(op.value.get("command")))


@invariant("CP-STATE-LEGAL", kind=KIND, reads=("cp_job_created", "cp_transition", "cp_update"))
class StateLegal:
    """Every transition is in the legal table, starts where the job was, and rejected commands change nothing."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-STATE-LEGAL", KIND)
        self.state: dict[str, str] = {}
        self.last: dict[str, Brief] = {}
        self.moved_by: dict[int, Brief] = {}
        self.transitions = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        if op.f == "cp_job_created":
            self.state[str(v.get("job_id"))] = "REQUESTED"
            self.last[str(v.get("job_id"))] = brief(op, "job_id", "update_id", "state")
            return
        if op.f == "cp_update":
            if op.type == "ok" and v.get("outcome") == "rejected" and v.get("update_id") in self.moved_by:
                self.out.violation(f"update {v.get('update_id')} was rejected ({v.get('reason')}) but changed a "
                                   "job's state: a rejection must change nothing", self.moved_by[v["update_id"]], op)
            return
        self.transitions += 1
        job, src, dst = str(v.get("job_id")), v.get("from"), v.get("to")
        if src not in STATES or dst not in STATES:
            self.out.violation(f"job {job}: {src!r} -> {dst!r} names a state outside {', '.join(STATES)}", op)
        known = self.state.get(job)
        if known is None:
            self.out.violation(f"job {job} moved {src} -> {dst} but was never created", op)
        elif known != src:
            self.out.violation(f"job {job} moved {src} -> {dst} but its last recorded state was {known}: "
                               "a state change happened without a recorded transition", self.last.get(job), op)
        recovery = v.get("recovery") is True and v.get("cause") == "recovery"
        table = RECOVERY if recovery else LEGAL
        if dst not in table.get(str(src), frozenset()):
            self.out.violation(f"job {job}: illegal transition {src} -> {dst} (cause {v.get('cause')!r}); legal "
                               f"from {src}: {sorted(table.get(str(src), ())) or 'nothing'}", self.last.get(job), op)
        update = _actor_update(op)
        if update is not None:
            self.moved_by.setdefault(update, brief(op, *_T))
        self.state[job] = str(dst)
        self.last[job] = brief(op, *_T)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.transitions} transitions of {len(self.state)} jobs, all legal and "
                                "contiguous; no rejected command changed a state", transitions=self.transitions)


@invariant("CP-TERMINAL-STICKY", kind=KIND, reads=("cp_job_created", "cp_transition"))
class TerminalSticky:
    """A terminal job leaves its state only through an explicit recovery to APPROVED (never SUCCEEDED)."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-TERMINAL-STICKY", KIND)
        self.terminal: dict[str, Brief] = {}
        self.recoveries = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_job_created":
            return
        entered = self.terminal.pop(job, None)
        if entered is not None:
            if v.get("recovery") is True and v.get("cause") == "recovery" and v.get("to") == "APPROVED" \
                    and v.get("from") != "SUCCEEDED":
                self.recoveries += 1
            else:
                self.out.violation(f"job {job} left terminal state {v.get('from')} for {v.get('to')} "
                                   f"(cause {v.get('cause')!r}) without an explicit recovery", entered, op)
        if v.get("to") in TERMINAL:
            self.terminal[job] = brief(op, *_T)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{len(self.terminal)} jobs ended terminal; {self.recoveries} left a terminal "
                                "state, each through /recover", recoveries=self.recoveries)


@invariant("CP-RESTART-STABLE", kind=KIND, reads=("cp_job_created", "cp_transition", "cp_restart"))
class RestartStable:
    """A restart changes no job's state: before == after, and both agree with the recorded transitions."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-RESTART-STABLE", KIND)
        self.state: dict[str, str] = {}
        self.restarts = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        if op.f == "cp_job_created":
            self.state[str(v.get("job_id"))] = "REQUESTED"
        elif op.f == "cp_transition":
            self.state[str(v.get("job_id"))] = str(v.get("to"))
        else:
            self.restarts += 1
            before = v.get("before") or {}
            after = v.get("after") or {}
            for job in sorted(set(before) | set(after) | set(self.state)):
                if before.get(job) != after.get(job):
                    self.out.violation(f"restart changed job {job}: {before.get(job)} before, {after.get(job)} "
                                       "after", op)
                    break
                if job in self.state and after.get(job) != self.state[job]:
                    self.out.violation(f"after the restart job {job} is {after.get(job)} but its recorded state "
                                       f"was {self.state[job]}", op)
                    break

    def finish(self) -> Verdict:
        if not self.restarts and not self.out.violations:
            return Verdict("CP-RESTART-STABLE", KIND, Status.NOT_APPLICABLE,
                           "the history holds no control-plane restart (cp_restart): nothing to judge")
        return self.out.verdict(f"{self.restarts} restart(s) left every job's state as recorded",
                                restarts=self.restarts)


@invariant("CP-APPROVE-NO-DISPATCH", kind=KIND, reads=("cp_update", "cp_dispatch", "cp_transition"))
class ApproveNoDispatch:
    """/approve never dispatches heavy execution (no dispatch, no move to QUEUED/RUNNING, by an /approve)."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-APPROVE-NO-DISPATCH", KIND)
        self.commands = _Commands()
        self.approvals = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        self.commands.observe(op)
        v = op.value
        if op.f == "cp_update":
            if op.type == "invoke" and v.get("command") == "/approve":
                self.approvals += 1
            return
        update = v.get("update_id") if op.f == "cp_dispatch" else _actor_update(op)
        if op.f == "cp_transition" and v.get("to") not in ("QUEUED", "RUNNING"):
            return
        if isinstance(update, int) and self.commands.command.get(update) == "/approve":
            self.out.violation(f"/approve (update {update}) dispatched job {v.get('job_id')}: "
                               f"{op.f} {v.get('from', '')}->{v.get('to', v.get('dispatch_key'))}", op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.approvals} /approve commands, none dispatched", approvals=self.approvals)


@invariant("CP-RESUME-GATED", kind=KIND, reads=("cp_policy", "cp_job_created", "cp_transition", "cp_dispatch"))
class ResumeGated:
    """A job is dispatched only from APPROVED, with an approval of its current generation, within the TTL."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-RESUME-GATED", KIND)
        self.ttl: float | None = None
        self.state: dict[str, str] = {}
        self.approved: dict[str, float] = {}  # job -> when its current generation was approved or recovered
        self.created: dict[str, float] = {}
        self.dispatches = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_policy":
            ttl = v.get("request_ttl")
            self.ttl = float(ttl) if isinstance(ttl, int | float) else None
        elif op.f == "cp_job_created":
            self.state[job] = "REQUESTED"
            self.created[job] = _at(op)
        elif op.f == "cp_transition":
            src, dst = v.get("from"), v.get("to")
            if dst == "APPROVED":
                self.approved[job] = self.created.get(job, _at(op)) if src == "REQUESTED" else _at(op)
            elif (dst == "QUEUED" and v.get("cause") == "command") or (dst == "RUNNING" and src != "QUEUED"):
                self.dispatches += 1
                if src != "APPROVED" or job not in self.approved:
                    self.out.violation(f"job {job} was dispatched from {src} (needs APPROVED with an approval "
                                       "of this generation): /resume ignored its gates", op)
                elif self.ttl is not None and _at(op) - self.approved[job] > self.ttl:
                    self.out.violation(f"job {job} was dispatched {_at(op) - self.approved[job]:g}s after its "
                                       f"request, past the {self.ttl:g}s TTL gate", op)
            if dst in TERMINAL or dst == "REQUESTED":
                self.approved.pop(job, None)
            self.state[job] = str(dst)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.dispatches} dispatches, each from APPROVED within the TTL",
                                dispatches=self.dispatches)


@invariant("CP-RESUME-IDEMPOTENT", kind=KIND, reads=("cp_update", "cp_dispatch"))
class ResumeIdempotent:
    """At most one effective dispatch per job generation: a duplicate /resume is a no-op."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-RESUME-IDEMPOTENT", KIND)
        self.first: dict[tuple[str, Any], Brief] = {}
        self.duplicates = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.f != "cp_dispatch":
            return
        v = op.value
        if v.get("duplicate") is True:
            self.duplicates += 1
            return
        key = (str(v.get("job_id")), v.get("generation"))
        first = self.first.get(key)
        if first is not None:
            self.out.violation(f"job {key[0]} generation {key[1]} was dispatched twice (keys "
                               f"{dict(first[5]).get('dispatch_key')} and {v.get('dispatch_key')}): a duplicate "
                               "/resume must not dispatch again", first, op)
        else:
            self.first[key] = brief(op, "job_id", "generation", "dispatch_key", "update_id", "command")

    def finish(self) -> Verdict:
        return self.out.verdict(f"{len(self.first)} dispatches, {self.duplicates} duplicate dispatch requests "
                                "answered as no-ops", duplicate_dispatch_requests=self.duplicates)


@invariant("CP-UPDATE-IDEMPOTENT", kind=KIND, reads=("cp_update", "cp_job_created"))
class UpdateIdempotent:
    """A replayed update creates no job and changes nothing: it is answered as a duplicate."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-UPDATE-IDEMPOTENT", KIND)
        self.created: dict[int, Brief] = {}
        self.answered: dict[int, Brief] = {}
        self.replays = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        update = v.get("update_id")
        if not isinstance(update, int):
            return
        if op.f == "cp_job_created":
            first = self.created.get(update)
            if first is not None:
                self.out.violation(f"update {update} created two jobs ({dict(first[5]).get('job_id')} and "
                                   f"{v.get('job_id')}): a replayed update must not create a job", first, op)
            else:
                self.created[update] = brief(op, "job_id", "update_id")
        elif op.type == "ok":
            first = self.answered.get(update)
            if first is None:
                self.answered[update] = brief(op, "update_id", "outcome", "job_id")
            else:
                self.replays += 1
                if v.get("outcome") != "duplicate":
                    self.out.violation(f"update {update} was handled again with outcome {v.get('outcome')!r}; a "
                                       "replay must be answered 'duplicate' from the first outcome", first, op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{len(self.answered)} updates, {self.replays} replays, all answered as "
                                "duplicates; no update created two jobs", replays=self.replays)


@invariant("CP-DISPATCH-IDEMPOTENT", kind=KIND, reads=("heavy_start", "heavy_end", "heavy_skip"))
class DispatchIdempotent:
    """One dispatch key, at most one successful heavy execution, and none started after it succeeded."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-DISPATCH-IDEMPOTENT", KIND)
        self.succeeded: dict[str, Brief] = {}
        self.skips = 0
        self.starts = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        key = str(v.get("dispatch_key"))
        done = self.succeeded.get(key)
        if op.f == "heavy_skip":
            self.skips += 1
        elif op.f == "heavy_start":
            self.starts += 1
            if done is not None:
                self.out.violation(f"dispatch {key} started heavy execution again (attempt {v.get('attempt')}) "
                                   "after it had already succeeded: a duplicate dispatch must be a no-op", done, op)
        elif op.type == "ok":
            if done is not None:
                self.out.violation(f"dispatch {key} finished heavy execution twice", done, op)
            else:
                self.succeeded[key] = brief(op, "job_id", "dispatch_key", "worker", "attempt")

    def finish(self) -> Verdict:
        return self.out.verdict(f"{len(self.succeeded)} dispatch keys executed once each; {self.skips} "
                                "re-deliveries answered from the execution ledger",
                                heavy_successes=len(self.succeeded), idempotent_skips=self.skips,
                                duplicate_heavy_executions=self.out.violations)


class _Owners:
    """The lease owner of every job as the history tells it."""

    def __init__(self) -> None:
        self.owner: dict[str, tuple[str, float, Brief]] = {}

    def observe(self, op: Operation) -> None:
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_lease":
            expires = v.get("lease_expires_at")
            self.owner[job] = (str(v.get("worker")), float(expires) if isinstance(expires, int | float) else
                               float("inf"), brief(op, "job_id", "worker", "action", "now", "lease_expires_at"))
        elif op.f == "cp_transition" and v.get("from") == "RUNNING" \
                and v.get("cause") not in ("claim", "lease_expired"):
            # A release by the owner (complete, retry, cancel); an expiry is judged by time, not trusted.
            self.owner.pop(job, None)


@invariant("CP-LEASE-RECOVERY", kind=KIND,
           reads=("cp_lease", "cp_transition", "heavy_start", "heavy_end", "heavy_skip", "cp_snapshot"))
class LeaseRecovery:
    """An interrupted RUNNING job is reclaimed once its lease expires: nothing ends stale in RUNNING."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-LEASE-RECOVERY", KIND)
        self.owners = _Owners()
        self.open: dict[str, Brief] = {}  # job -> heavy_start with no end yet
        self.reclaims = 0
        self.snapshot: Operation | None = None

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_snapshot":
            self.snapshot = op
            return
        self.owners.observe(op)
        if op.f == "heavy_start":
            self.open[job] = brief(op, "job_id", "worker", "dispatch_key", "attempt")
        elif op.f in ("heavy_end", "heavy_skip"):
            self.open.pop(job, None)
        elif op.f == "cp_lease" and v.get("action") == "reclaim":
            self.reclaims += 1
            self.open.pop(job, None)
        elif op.f == "cp_transition" and v.get("from") == "RUNNING" and v.get("to") != "RUNNING":
            self.open.pop(job, None)

    def finish(self) -> Verdict:
        if self.snapshot is None:
            self.out.violation("the history has no final cp_snapshot: whether interrupted jobs were reclaimed "
                               "cannot be shown (missing evidence is a FAIL)")
            return self.out.verdict("")
        now = float(self.snapshot.value.get("now", _at(self.snapshot)))
        rows = {str(r.get("job_id")): r for r in self.snapshot.value.get("jobs") or [] if isinstance(r, Mapping)}
        for job, start in sorted(self.open.items()):
            row = rows.get(job)
            if row is not None and row.get("state") == "RUNNING":
                expires = row.get("lease_expires_at")
                if isinstance(expires, int | float) and expires < now:
                    self.out.violation(f"job {job} was interrupted mid-execution and is still RUNNING "
                                       f"{now - expires:g}s after its lease expired: never reclaimed",
                                       start, self.snapshot)
        for job, row in sorted(rows.items()):
            expires = row.get("lease_expires_at")
            if row.get("state") == "RUNNING" and isinstance(expires, int | float) and expires < now \
                    and job not in self.open:
                self.out.violation(f"job {job} is RUNNING with a lease that expired {now - expires:g}s ago "
                                   "and nobody reclaimed it", self.snapshot)
        return self.out.verdict(f"{self.reclaims} expired leases reclaimed; no stale RUNNING job at the end",
                                reclaims=self.reclaims)


@invariant("CP-SINGLE-OWNER", kind=KIND, reads=("cp_lease", "cp_transition", "heavy_start"))
class SingleOwner:
    """No job is claimed while another worker's lease on it is still valid; only the owner executes it."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-SINGLE-OWNER", KIND)
        self.owners = _Owners()
        self.claims = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        held = self.owners.owner.get(job)
        if op.f == "cp_lease":
            self.claims += 1
            now = v.get("now", _at(op))
            if held is not None and held[0] != v.get("worker") and isinstance(now, int | float) and now < held[1]:
                self.out.violation(f"job {job} was claimed by {v.get('worker')} at {now} while {held[0]}'s lease "
                                   f"ran until {held[1]}: two owners", held[2], op)
        elif op.f == "heavy_start" and (held is None or held[0] != v.get("worker")):
            self.out.violation(f"{v.get('worker')} started executing job {job} without holding its lease "
                               f"(owner: {held[0] if held else 'nobody'})", held[2] if held else None, op)
        self.owners.observe(op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.claims} lease claims, never two live owners of one job", claims=self.claims)


@invariant("CP-ATTEMPTS-RECORDED", kind=KIND, reads=("cp_lease", "heavy_end", "cp_complete", "cp_snapshot"))
class AttemptsRecorded:
    """The stored attempt count equals the claims the history shows, and the last error is kept."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-ATTEMPTS-RECORDED", KIND)
        self.claims: dict[str, int] = defaultdict(int)
        self.last_failure: dict[str, tuple[str | None, Brief]] = {}
        self.snapshot: Operation | None = None

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_lease":
            self.claims[job] += 1
            if v.get("action") == "reclaim":
                self.last_failure[job] = (None, brief(op, "job_id", "worker", "action", "previous_owner"))
        elif op.f == "heavy_end":
            if op.type == "fail":
                self.last_failure[job] = (str(v.get("error")), brief(op, "job_id", "attempt", "error"))
        elif op.f == "cp_complete":
            # The worker had lost its lease: it could not write; whoever reclaims records the outcome.
            self.last_failure.pop(job, None)
        else:
            self.snapshot = op

    def finish(self) -> Verdict:
        if self.snapshot is None:
            self.out.violation("the history has no final cp_snapshot: attempts cannot be compared with the "
                               "store (missing evidence is a FAIL)")
            return self.out.verdict("")
        rows = {str(r.get("job_id")): r for r in self.snapshot.value.get("jobs") or [] if isinstance(r, Mapping)}
        for job, count in sorted(self.claims.items()):
            row = rows.get(job)
            if row is None:
                continue  # a vanished job is CP-NO-SILENT-LOSS's finding
            if row.get("attempts") != count:
                self.out.violation(f"job {job} records {row.get('attempts')} attempts but was claimed {count} "
                                   "times", self.snapshot)
            failure = self.last_failure.get(job)
            if failure is not None and not row.get("last_error"):
                self.out.violation(f"job {job} failed an attempt but records no last error", failure[1],
                                   self.snapshot)
            elif failure is not None and failure[0] is not None and row.get("state") != "SUCCEEDED" \
                    and row.get("last_error") != failure[0]:
                self.out.violation(f"job {job} records last error {row.get('last_error')!r}, but its last failed "
                                   f"attempt said {failure[0]!r}", failure[1], self.snapshot)
        return self.out.verdict(f"{len(self.claims)} jobs: attempt counts and last errors match the history",
                                attempts=sum(self.claims.values()))


@invariant("CP-RETRY-BUDGET", kind=KIND, reads=("cp_policy", "cp_transition", "cp_retry", "heavy_start",
                                                  "heavy_end"))
class RetryBudget:
    """Retries are capped, back off exponentially with jitter, and never loop tightly."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-RETRY-BUDGET", KIND)
        self.budget: int | None = None
        self.max_delay: float | None = None
        self.claims: dict[tuple[str, Any], int] = defaultdict(int)
        self.failed_at: dict[str, tuple[float, Brief]] = {}
        self.delays: dict[Any, list[float]] = defaultdict(list)
        self.retries = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_policy":
            retry = v.get("retry") or {}
            budget, cap = retry.get("max_attempts"), retry.get("max_delay")
            if not isinstance(budget, int) or budget > MAX_RETRY_BUDGET:
                self.out.violation(f"the retry budget is {budget!r}: it must be a cap of at most "
                                   f"{MAX_RETRY_BUDGET} attempts", op)
            self.budget = budget if isinstance(budget, int) else None
            self.max_delay = float(cap) if isinstance(cap, int | float) else None
        elif op.f == "cp_transition":
            if v.get("to") == "RUNNING":
                key = (job, v.get("generation"))
                self.claims[key] += 1
                if self.budget is not None and self.claims[key] == self.budget + 1:
                    self.out.violation(f"job {job} generation {v.get('generation')} ran {self.claims[key]} "
                                       f"attempts, over its budget of {self.budget}", op)
            elif v.get("to") in TERMINAL:
                self.failed_at.pop(job, None)  # a later run is a recovery by an operator, not a retry
        elif op.f == "cp_retry":
            self.retries += 1
            delay = v.get("delay")
            if not isinstance(delay, int | float) or delay < MIN_RETRY_GAP_SECONDS:
                self.out.violation(f"job {job} retried after {delay!r}s: below the {MIN_RETRY_GAP_SECONDS:g}s "
                                   "floor, a tight retry loop", op)
            elif self.max_delay is not None and delay > self.max_delay + 1e-9:
                self.out.violation(f"job {job} retried after {delay:g}s, over the {self.max_delay:g}s cap", op)
            else:
                self.delays[v.get("attempt")].append(float(delay))
        elif op.f == "heavy_end" and op.type == "fail":
            self.failed_at[job] = (_at(op), brief(op, "job_id", "attempt", "error", "at"))
        elif op.f == "heavy_start":
            failed = self.failed_at.pop(job, None)
            if failed is not None and _at(op) - failed[0] < MIN_RETRY_GAP_SECONDS:
                self.out.violation(f"job {job} started again {_at(op) - failed[0]:g}s after a failed attempt: "
                                   "a tight retry loop", failed[1], op)

    def finish(self) -> Verdict:
        for attempt, delays in sorted(self.delays.items(), key=lambda item: str(item[0])):
            if len(delays) >= 3 and len(set(delays)) == 1:
                self.out.violation(f"all {len(delays)} retries after attempt {attempt} waited exactly "
                                   f"{delays[0]:g}s: no jitter, so retries of many jobs line up")
        return self.out.verdict(f"{self.retries} retries, each within the budget, ≥ {MIN_RETRY_GAP_SECONDS:g}s "
                                "apart, capped and jittered", retries=self.retries)


@invariant("CP-TRACEABLE", kind=KIND, reads=("cp_job_created", "cp_transition", "cp_lease", "heavy_start",
                                               "heavy_end", "cp_trace"))
class Traceable:
    """Every record of a job carries its trace id, and every sampled task's log chain runs from the command
    to its final state."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-TRACEABLE", KIND)
        self.trace: dict[str, str] = {}
        self.transitions: dict[str, list[str]] = defaultdict(list)
        self.samples = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        job = str(v.get("job_id"))
        if op.f == "cp_job_created":
            trace = v.get("trace_id")
            if not trace:
                self.out.violation(f"job {job} was created without a trace id", op)
            self.trace[job] = str(trace)
        elif op.f == "cp_trace":
            self.samples += 1
            events = [e for e in v.get("events") or [] if isinstance(e, str)]
            states = [s for s in v.get("states") or [] if isinstance(s, str)]
            final = v.get("final_state")
            if not v.get("trace_id") or "command_received" not in events or "job_created" not in events:
                self.out.violation(f"sampled job {job}: its log chain does not start at the command "
                                   f"(events {events[:6]})", op)
            elif states != self.transitions.get(job, []):
                self.out.violation(f"sampled job {job} ({final}): its trace shows the states {states} but the job "
                                   f"went through {self.transitions.get(job, [])}: the chain is broken", op)
            return
        if op.f == "cp_transition":
            self.transitions[job].append(str(v.get("to")))
        if job in self.trace and v.get("trace_id") != self.trace[job]:
            self.out.violation(f"{op.f} of job {job} carries trace id {v.get('trace_id')!r}, not the job's "
                               f"{self.trace[job]!r}", op)

    def finish(self) -> Verdict:
        if self.samples == 0 and not self.out.violations:
            self.out.violation("no task was sampled for traceability (no cp_trace operation): missing evidence "
                               "is a FAIL")
        return self.out.verdict(f"{len(self.trace)} jobs carry one trace id each; {self.samples} sampled tasks "
                                "trace from command to final state", sampled=self.samples)


@invariant("CP-NO-SILENT-LOSS", kind=KIND, reads=("cp_job_created", "cp_transition", "cp_snapshot"))
class NoSilentLoss:
    """Every created job is still in the store at the end, in the state its last recorded transition says."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("CP-NO-SILENT-LOSS", KIND)
        self.state: dict[str, tuple[str, Brief]] = {}
        self.snapshot: Operation | None = None

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        v = op.value
        if op.f == "cp_snapshot":
            self.snapshot = op
        elif op.f == "cp_job_created":
            self.state[str(v.get("job_id"))] = ("REQUESTED", brief(op, "job_id", "update_id"))
        else:
            self.state[str(v.get("job_id"))] = (str(v.get("to")), brief(op, *_T))

    def finish(self) -> Verdict:
        if self.snapshot is None:
            self.out.violation("the history has no final cp_snapshot: job survival cannot be shown "
                               "(missing evidence is a FAIL)")
            return self.out.verdict("")
        rows = {str(r.get("job_id")): r for r in self.snapshot.value.get("jobs") or [] if isinstance(r, Mapping)}
        for job, (state, last) in sorted(self.state.items()):
            row = rows.get(job)
            if row is None:
                self.out.violation(f"job {job} (last recorded {state}) is missing from the store: silently lost",
                                   last, self.snapshot)
            elif row.get("state") != state:
                self.out.violation(f"job {job} is {row.get('state')} in the store but its last recorded "
                                   f"transition says {state}", last, self.snapshot)
        terminal = sum(1 for state, _ in self.state.values() if state in TERMINAL)
        return self.out.verdict(f"all {len(self.state)} jobs accounted for ({terminal} terminal, the rest "
                                "visibly pending)", jobs=len(self.state), terminal=terminal)


def _register_scenarios() -> None:
    """The CP chaos-lite scenario files name the ``control_plane`` generator and fault kind: register them
    whenever the CP laws are loaded (the scenario loader loads the laws before it checks a file's ids)."""
    import importlib

    importlib.import_module("pytest_spine.scenarios.control_plane")


_register_scenarios()
