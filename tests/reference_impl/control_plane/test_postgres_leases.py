"""Leases through the database: concurrent claimers on separate connections, and a real worker process
killed with SIGKILL mid-execution (CH-RESTART-DURING-RUNNING on the real store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.invariants.registry import CheckContext, iter_specs, run_checks
from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
from pytest_spine.verdicts import Status
from reference_impl.control_plane.plane import ControlPlane
from reference_impl.control_plane.postgres_store import PostgresStore
from reference_impl.control_plane.records import Job
from reference_impl.control_plane.states import JobState
from reference_impl.control_plane.worker import Worker

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = unique_schema("lease")
    yield name
    store = PostgresStore(shared_postgres_dsn(), schema=name)
    store.drop()
    store.close()


def ok(job: Job, timeout: float) -> str:
    return "done"


def test_concurrent_claimers_on_separate_connections_never_share_a_job(schema: str) -> None:
    clock = ManualClock()
    setup = PostgresStore(shared_postgres_dsn(), schema=schema)
    plane = ControlPlane(setup, clock)
    for n in range(12):
        plane.handle_update({"update_id": 3 * n + 1, "message": {"text": "/request build"}})
        plane.handle_update({"update_id": 3 * n + 2, "message": {"text": f"/approve job-{3 * n + 1}"}})
        plane.handle_update({"update_id": 3 * n + 3, "message": {"text": f"/resume job-{3 * n + 1}"}})
    claimed: dict[str, list[str]] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        store = PostgresStore(shared_postgres_dsn(), schema=schema)
        mine = ControlPlane(store, clock)
        barrier.wait()
        got = []
        while (job := mine.claim(name)) is not None:
            got.append(job.job_id)
        claimed[name] = got
        store.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [job for jobs in claimed.values() for job in jobs]
    assert sorted(everything) == sorted(f"job-{3 * n + 1}" for n in range(12))  # each job exactly once
    assert {job.lease_owner for job in setup.jobs()} <= {"w0", "w1", "w2", "w3"}
    setup.close()


def test_a_worker_process_killed_mid_execution_is_recovered(schema: str, tmp_path: Path) -> None:
    clock = ManualClock()
    history = History(clock)
    store = PostgresStore(shared_postgres_dsn(), schema=schema)
    plane = ControlPlane(store, clock, history)
    for n, text in enumerate(("/request build", "/approve job-1", "/resume job-1"), start=1):
        plane.handle_update({"update_id": n, "message": {"text": text}})
    lines = tmp_path / "worker-history.jsonl"
    worker = subprocess.Popen(
        [sys.executable, "-m", "reference_impl.control_plane.worker", "--dsn", shared_postgres_dsn(),
         "--schema", schema, "--worker-id", "proc-1", "--now", str(clock.now()), "--history", str(lines)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "CLAIMED job-1"
        assert worker.stdout.readline().strip() == "EXECUTING job-1"
        history.record("nemesis", "ok", "fault", name="sigkill_worker", action="inject", subject="job-1")
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
        if worker.stdout:
            worker.stdout.close()
        if worker.stderr:
            worker.stderr.close()
    assert worker.returncode == -signal.SIGKILL
    for line in lines.read_text().splitlines():  # the dead worker's own records, in its order
        row = json.loads(line)
        history.record(row["process"], row["type"], row["f"], **row["value"])
    job = store.get_job("job-1")
    assert job is not None and job.state is JobState.RUNNING and job.lease_owner == "proc-1"
    restarted = ControlPlane(store, clock, history, restart=True)
    assert Worker(restarted, "w2", ok).step() is None  # the lease is still valid
    clock.advance(restarted.timeouts.lease("standard") + 1)
    assert Worker(restarted, "w2", ok).step() == "succeeded"
    restarted.record_snapshot()
    restarted.record_trace_samples(["job-1"])
    verdicts = run_checks(history.operations(), CheckContext(), list(iter_specs("control_plane")))
    assert {v.check_id: v.status for v in verdicts if v.status is not Status.PASS} == {}
    final = store.get_job("job-1")
    assert final is not None and (final.state, final.attempts) == (JobState.SUCCEEDED, 2)
    store.close()
