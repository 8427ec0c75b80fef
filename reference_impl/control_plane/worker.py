"""Workers: claim a job through the store's lease, run the heavy execution, report.

``python -m reference_impl.control_plane.worker --dsn ... --schema ... --worker-id w9 --now T`` is a real
worker process over PostgreSQL: it claims one job, prints ``CLAIMED <job_id>`` and executes slowly, so
a test can SIGKILL it mid-execution (CH-RESTART-DURING-RUNNING on the real store). Its history lines
go to ``--history`` (JSON lines) for the harness to merge.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from reference_impl.control_plane.errors import ReportingFailed, StoreUnavailable
from reference_impl.control_plane.plane import ControlPlane, Executor
from reference_impl.control_plane.records import Job


class WorkerCrashed(BaseException):
    """Raised by a test executor to stop a worker dead mid-execution (nothing after it runs).

    A BaseException so that no handler of the control plane can swallow it, as with SIGKILL."""


class Worker:
    def __init__(self, plane: ControlPlane, worker_id: str, executor: Executor) -> None:
        self.plane = plane
        self.worker_id = worker_id
        self.executor = executor

    def step(self) -> str | None:
        """Claim and run one job; None when nothing is claimable. Reporting failures are absorbed: the
        lease expires and the job is reclaimed (that is the recovery path under test)."""
        job = self.plane.claim(self.worker_id)
        if job is None:
            return None
        try:
            return self.plane.execute(job, self.worker_id, self.executor)
        except ReportingFailed:
            return "report_failed"

    def claim_and_crash(self) -> Job | None:
        """Claim one job, start its heavy execution and die: the job stays RUNNING with a live lease."""
        job = self.plane.claim(self.worker_id)
        if job is None:
            return None

        def dies(job: Job, timeout: float) -> str:
            raise WorkerCrashed(self.worker_id)

        with contextlib.suppress(WorkerCrashed, ReportingFailed):
            self.plane.execute(job, self.worker_id, dies)
        return job


class FixedClock:
    """The harness's injected time, frozen for the life of a short worker process."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class JsonlRecorder:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self._handle.write(json.dumps({"process": process, "type": type, "f": f, "value": value},
                                      sort_keys=True, default=str) + "\n")
        self._handle.flush()


class _Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


def kill_worker_process(store: Any, worker_id: str, now: float, recorder: _Recorder,
                        timeout: float = 60.0, platform_run_id: str = "control-plane") -> str | None:
    """Start a real worker process on the PostgreSQL store, let it claim a job and start executing it, SIGKILL it,
    and replay its records into ``recorder``. Returns the job it held (None when it found nothing)."""
    with tempfile.TemporaryDirectory(prefix="cp-worker-") as folder:
        lines = Path(folder) / "history.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "reference_impl.control_plane.worker", "--dsn", store.dsn, "--schema",
             store.schema, "--worker-id", worker_id, "--now", repr(now), "--history", str(lines),
             "--platform-run-id", platform_run_id],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        job_id = None
        executing = False
        sent: str | None = None
        try:
            assert process.stdout is not None
            for _ in range(2):  # CLAIMED <job>, then EXECUTING <job> once its heavy execution began
                ready, _, _ = select.select([process.stdout], [], [], timeout)
                line = process.stdout.readline().strip() if ready else ""
                if line.startswith("CLAIMED "):
                    job_id = line.split(" ", 1)[1]
                executing = line.startswith("EXECUTING ")
                if not line.startswith("CLAIMED "):
                    break
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                sent = "SIGKILL"
            process.wait(timeout=timeout)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if lines.exists():
            for line in lines.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                recorder.record(row["process"], row["type"], row["f"], **row["value"])
        # What the OS says happened to the worker: its pid, the signal sent and how it ended (-9 = killed by
        # SIGKILL), so the evidence shows a real process died, not a simulated crash.
        recorder.record("nemesis", "ok" if sent and process.returncode == -signal.SIGKILL else "info",
                        "process_kill", worker=worker_id, pid=process.pid, signal=sent,
                        returncode=process.returncode, job_id=job_id, during_execution=executing)
        return job_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.control_plane.worker",
                                     description="Run one control-plane worker over PostgreSQL")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--now", type=float, required=True, help="The injected clock's time (epoch seconds)")
    parser.add_argument("--hold", type=float, default=3600.0, help="Wall seconds the heavy execution takes")
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--platform-run-id", default="control-plane",
                        help="The run its events belong to (the plane that started it)")
    args = parser.parse_args(argv)

    from reference_impl.control_plane.postgres_store import PostgresStore

    with args.history.open("a", encoding="utf-8") as handle:
        recorder = JsonlRecorder(handle)
        try:
            store = PostgresStore(args.dsn, schema=args.schema)
        except StoreUnavailable as error:
            print(f"worker {args.worker_id}: {error}", file=sys.stderr)
            return 3
        plane = ControlPlane(store, FixedClock(args.now), recorder, platform_run_id=args.platform_run_id)
        job = plane.claim(args.worker_id)
        if job is None:
            print("NOTHING", flush=True)
            return 0
        print(f"CLAIMED {job.job_id}", flush=True)

        def slow(job: Job, timeout: float) -> str:
            print(f"EXECUTING {job.job_id}", flush=True)  # heavy_start is recorded: kill me now
            time.sleep(args.hold)  # real time: this is where the SIGKILL lands
            return f"result:{job.dispatch_key}"

        outcome = plane.execute(job, args.worker_id, slow)
        print(f"DONE {job.job_id} {outcome}", flush=True)
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
