from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.control_plane.errors import ExecutionFailed
from reference_impl.control_plane.plane import ControlPlane
from reference_impl.control_plane.policy import RetryPolicy
from reference_impl.control_plane.records import Job
from reference_impl.control_plane.states import LEGAL_TRANSITIONS, TERMINAL_STATES, JobState, is_legal
from reference_impl.control_plane.store import ControlStore
from reference_impl.control_plane.worker import Worker


def ok(job: Job, timeout: float) -> str:
    return f"result:{job.dispatch_key}"


def failing(job: Job, timeout: float) -> str:
    raise ExecutionFailed("transient: upstream 503")


class Chat:
    """Sends numbered command updates to a plane."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.next_id = 100

    def send(self, text: str) -> Any:
        self.next_id += 1
        return self.plane.handle_update({"update_id": self.next_id, "message": {"text": text}})


@pytest.fixture
def plane(store: ControlStore, clock: ManualClock, history: History) -> ControlPlane:
    return ControlPlane(store, clock, history, seed=7)


def approved_job(chat: Chat, task: str = "build") -> str:
    job_id = chat.send(f"/request {task}").job_id
    assert chat.send(f"/approve {job_id}").outcome == "accepted"
    return str(job_id)


def test_the_table_covers_every_state_and_terminal_states_have_no_exit() -> None:
    assert set(LEGAL_TRANSITIONS) == set(JobState)
    for state in TERMINAL_STATES:
        assert LEGAL_TRANSITIONS[state] == frozenset()
    assert is_legal(JobState.FAILED, JobState.APPROVED, recovery=True)
    assert not is_legal(JobState.FAILED, JobState.APPROVED)
    assert not is_legal(JobState.SUCCEEDED, JobState.APPROVED, recovery=True)


def test_approve_never_dispatches_and_resume_does(plane: ControlPlane, store: ControlStore) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat)
    job = store.get_job(job_id)
    assert job is not None and job.state is JobState.APPROVED and job.dispatch_key is None
    assert plane.claim("w1") is None  # nothing is claimable after /approve alone
    reply = chat.send(f"/resume {job_id}")
    assert (reply.outcome, reply.state) == ("accepted", "QUEUED")
    assert store.get_job(job_id).dispatch_key == f"{job_id}:g0"  # type: ignore[union-attr]


def test_resume_refuses_an_unapproved_job_and_changes_nothing(plane: ControlPlane, store: ControlStore) -> None:
    chat = Chat(plane)
    job_id = chat.send("/request build").job_id
    reply = chat.send(f"/resume {job_id}")
    assert reply.outcome == "rejected"
    assert "not APPROVED" in reply.reason and "no approval recorded" in reply.reason
    assert store.get_job(str(job_id)).state is JobState.REQUESTED  # type: ignore[union-attr]


def test_duplicate_resume_is_a_no_op_and_runs_heavy_once(plane: ControlPlane, store: ControlStore,
                                                         history: History) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat)
    first = chat.send(f"/resume {job_id}")
    second = chat.send(f"/resume {job_id}")
    assert (first.reason, second.reason) == ("dispatched", "already dispatched (duplicate /resume is a no-op)")
    worker = Worker(plane, "w1", ok)
    assert worker.step() == "succeeded"
    assert worker.step() is None
    assert chat.send(f"/resume {job_id}").outcome == "accepted"  # after success: still a no-op
    starts = [op for op in history.operations() if op.f == "heavy_start"]
    dispatches = [op.value["duplicate"] for op in history.operations() if op.f == "cp_dispatch"]
    assert len(starts) == 1
    assert dispatches == [False, True, True]
    assert any(r["event"] == "dispatch_duplicate" and r["idempotency"] == "dispatch_key" for r in store.logs())


def test_a_replayed_update_creates_no_second_job(plane: ControlPlane, store: ControlStore) -> None:
    update = {"update_id": 5, "message": {"text": "/request build"}}
    first = plane.handle_update(update)
    again = plane.handle_update(update)
    assert first.outcome == "accepted" and again.outcome == "duplicate"
    assert again.job_id == first.job_id == "job-5"
    assert [j.job_id for j in store.jobs()] == ["job-5"]
    assert any(r["event"] == "update_duplicate" and r["idempotency"] == "update_id" for r in store.logs())


BAD_UPDATES: list[tuple[str, Any, str]] = [
    ("not an object", ["/approve", "job-1"], "must be a JSON object"),
    ("no update_id", {"message": {"text": "/ops"}}, "update_id must be a non-negative integer"),
    ("boolean id", {"update_id": True, "message": {"text": "/ops"}}, "given: True"),
    ("negative id", {"update_id": -4, "message": {"text": "/ops"}}, "given: -4"),
    ("no text", {"update_id": 50, "message": {}}, "has no message.text"),
    ("not a command", {"update_id": 51, "message": {"text": "please approve"}}, "is not a command"),
    ("unknown command", {"update_id": 52, "message": {"text": "/frobnicate"}}, "unknown command '/frobnicate'"),
    ("unknown job", {"update_id": 53, "message": {"text": "/approve job-404"}}, "no job 'job-404'"),
    ("extra args", {"update_id": 54, "message": {"text": "/cancel job-1 job-2"}}, "exactly one job id"),
    ("bad timeout class", {"update_id": 55, "message": {"text": "/request build forever"}},
     "unknown timeout class 'forever'"),
    ("terminal job", {"update_id": 56, "message": {"text": "/cancel job-1"}}, "already CANCELED (terminal)"),
    ("resume terminal", {"update_id": 57, "message": {"text": "/resume job-1"}}, "only /recover can revive it"),
    ("recover succeeded-or-live", {"update_id": 58, "message": {"text": "/recover job-2"}},
     "needs a FAILED, CANCELED or EXPIRED job"),
]


@pytest.mark.parametrize(("case", "update", "says"), BAD_UPDATES, ids=[c[0] for c in BAD_UPDATES])
def test_bad_input_is_rejected_logged_and_changes_nothing(plane: ControlPlane, store: ControlStore, case: str,
                                                          update: Any, says: str) -> None:
    plane.handle_update({"update_id": 1, "message": {"text": "/request build"}})
    plane.handle_update({"update_id": 2, "message": {"text": "/request report"}})
    plane.handle_update({"update_id": 3, "message": {"text": "/cancel job-1"}})
    before = [job.to_json() for job in store.jobs()]
    reply = plane.handle_update(update)
    assert reply.outcome == "rejected"
    assert says in reply.reason
    assert [job.to_json() for job in store.jobs()] == before
    last = store.logs()[-1]
    assert last["event"] in ("command_rejected", "update_malformed")
    assert last["level"] == "warning"


def test_an_expired_lease_is_reclaimed_by_another_worker_never_before(plane: ControlPlane, store: ControlStore,
                                                                     clock: ManualClock) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat, "build")
    chat.send(f"/resume {job_id}")
    crashed = Worker(plane, "w1", ok).claim_and_crash()
    assert crashed is not None and crashed.job_id == job_id
    lease = plane.timeouts.lease("standard")
    clock.advance(lease - 1)
    assert plane.claim("w2") is None  # the lease is still valid: no second owner
    clock.advance(2)
    reclaimed = plane.claim("w2")
    assert reclaimed is not None and reclaimed.lease_owner == "w2"
    assert reclaimed.attempts == 2
    assert reclaimed.last_error == f"lease of w1 expired at {crashed.lease_expires_at}"
    assert plane.execute(reclaimed, "w2", ok) == "succeeded"
    assert store.get_job(job_id).state is JobState.SUCCEEDED  # type: ignore[union-attr]


def test_a_stale_owner_cannot_report(plane: ControlPlane, store: ControlStore, clock: ManualClock) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat)
    chat.send(f"/resume {job_id}")
    job = plane.claim("w1")
    assert job is not None
    clock.advance(plane.timeouts.lease("standard") + 1)
    assert plane.claim("w2") is not None
    assert plane.report(job, "w1", "late result") == "stale"
    assert store.get_job(job_id).lease_owner == "w2"  # type: ignore[union-attr]


def test_retries_back_off_with_jitter_until_the_budget_then_fail(store: ControlStore, clock: ManualClock,
                                                                  history: History) -> None:
    plane = ControlPlane(store, clock, history, retry=RetryPolicy(max_attempts=4, base_delay=2.0, max_delay=5.0))
    chat = Chat(plane)
    job_id = approved_job(chat, "doomed")
    chat.send(f"/resume {job_id}")
    worker = Worker(plane, "w1", failing)
    outcomes = []
    for _ in range(10):
        job = store.get_job(job_id)
        assert job is not None
        if job.state is not JobState.QUEUED:
            break
        clock.advance(max(0.0, job.next_attempt_at - clock.now()))
        outcomes.append(worker.step())
    assert outcomes == ["retry", "retry", "retry", "failed"]
    delays = [op.value["delay"] for op in history.operations() if op.f == "cp_retry"]
    assert len(delays) == 3
    assert 1.0 <= delays[0] <= 2.0 and 2.0 <= delays[1] <= 4.0 and 2.5 <= delays[2] <= 5.0
    final = store.get_job(job_id)
    assert final is not None
    assert (final.state, final.attempts, final.last_error) == (JobState.FAILED, 4, "transient: upstream 503")


def test_recover_revives_a_failed_job_through_approval(plane: ControlPlane, store: ControlStore,
                                                       clock: ManualClock) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat, "doomed")
    chat.send(f"/resume {job_id}")
    for _ in range(plane.retry.max_attempts):
        job = store.get_job(job_id)
        assert job is not None
        clock.advance(max(0.0, job.next_attempt_at - clock.now()))
        Worker(plane, "w1", failing).step()
    assert store.get_job(job_id).state is JobState.FAILED  # type: ignore[union-attr]
    assert chat.send(f"/resume {job_id}").outcome == "rejected"
    recovered = chat.send(f"/recover {job_id}")
    assert (recovered.outcome, recovered.state) == ("accepted", "APPROVED")
    assert chat.send(f"/resume {job_id}").state == "QUEUED"
    assert store.get_job(job_id).dispatch_key == f"{job_id}:g1"  # type: ignore[union-attr]


def test_success_then_reporting_failure_reports_from_the_ledger(plane: ControlPlane, store: ControlStore,
                                                                clock: ManualClock, history: History) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat)
    chat.send(f"/resume {job_id}")
    plane.fail_next_reports = 1
    assert Worker(plane, "w1", ok).step() == "report_failed"
    clock.advance(plane.timeouts.lease("standard") + 1)
    assert Worker(plane, "w2", ok).step() == "succeeded"
    fs = [op.f for op in history.operations() if op.f in ("heavy_start", "heavy_end", "heavy_skip")]
    assert fs == ["heavy_start", "heavy_end", "heavy_skip"]


def test_an_overrun_of_the_timeout_class_is_a_failed_attempt(plane: ControlPlane, store: ControlStore,
                                                             clock: ManualClock) -> None:
    chat = Chat(plane)
    job_id = chat.send("/request render short").job_id
    chat.send(f"/approve {job_id}")
    chat.send(f"/resume {job_id}")

    def slow(job: Job, timeout: float) -> str:
        clock.advance(timeout + 1)
        return "too late"

    assert Worker(plane, "w1", slow).step() == "retry"
    job = store.get_job(str(job_id))
    assert job is not None and job.last_error == "timeout after 61s (class short: 60s)"


def test_the_latest_500_log_records_are_queryable_by_trace(plane: ControlPlane, store: ControlStore) -> None:
    for n in range(520):
        store.append_log({"ts": float(n), "level": "info", "event": "filler", "trace_id": f"t{n % 2}"})
    latest = store.logs()
    assert len(latest) == 500
    assert [r["ts"] for r in latest[:2]] == [20.0, 21.0] and latest[-1]["ts"] == 519.0
    assert store.logs(limit=10_000) == latest
    odd = store.logs(trace_id="t1")
    assert len(odd) == 260  # every record of that trace, not only those among the latest 500
    assert all(r["trace_id"] == "t1" for r in odd)


def test_a_task_traces_from_command_to_final_state(plane: ControlPlane, store: ControlStore) -> None:
    chat = Chat(plane)
    job_id = approved_job(chat)
    chat.send(f"/resume {job_id}")
    Worker(plane, "w1", ok).step()
    job = store.get_job(job_id)
    assert job is not None
    events = [r["event"] for r in plane.trace(job.trace_id)]
    assert events[:2] == ["command_received", "job_created"]
    assert events[-1] == "transition" and plane.trace(job.trace_id)[-1]["to"] == "SUCCEEDED"
    assert {"dispatch", "lease_claimed", "execution_started", "execution_finished"} <= set(events)


def test_ops_status_shows_queue_depth_stale_running_and_failures(plane: ControlPlane, clock: ManualClock) -> None:
    chat = Chat(plane)
    first, second = approved_job(chat), approved_job(chat)
    chat.send(f"/resume {first}")
    chat.send(f"/resume {second}")
    Worker(plane, "w1", ok).claim_and_crash()
    status = plane.ops_status()
    assert (status["queue_depth"], status["running"], status["stale_running"]) == (1, 1, [])
    clock.advance(plane.timeouts.lease("standard") + 5)
    status = plane.ops_status()
    assert [s["job_id"] for s in status["stale_running"]] == [first]
    assert status["stale_running"][0]["lease_expired_for"] == pytest.approx(5.0)
    assert status["healthy"] is False
    Worker(plane, "w2", failing).step()
    assert plane.ops_status()["recent_failures"][-1]["event"] in ("execution_failed", "retry_scheduled")


def test_a_restart_changes_no_state(store: ControlStore, clock: ManualClock, history: History) -> None:
    plane = ControlPlane(store, clock, history)
    chat = Chat(plane)
    job_id = approved_job(chat)
    chat.send(f"/resume {job_id}")
    Worker(plane, "w1", ok).claim_and_crash()
    before = [job.to_json() for job in store.jobs()]
    ControlPlane(store, clock, history, restart=True)
    assert [job.to_json() for job in store.jobs()] == before
    restart = next(op for op in history.operations() if op.f == "cp_restart")
    assert restart.value["before"] == restart.value["after"] == {job_id: "RUNNING"}


def test_unknown_mutant_names_are_refused(store: ControlStore, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match=r"unknown control-plane mutant 'nope'; known: .*approve_dispatches"):
        ControlPlane(store, clock, mutant="nope")
