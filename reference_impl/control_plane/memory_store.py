"""The in-memory store: the reference target's default. Durable for the life of the object, so a
"restart" of the control plane is a new ControlPlane over the same store."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping
from typing import Any

from reference_impl.control_plane.records import Job
from reference_impl.control_plane.states import JobState
from reference_impl.control_plane.store import LOG_QUERY_LIMIT

# Retention well beyond the 500 queryable records: a sampled task must still trace back to its command.
_LOG_RETENTION = 1_000_000


class MemoryStore:
    kind = "memory"

    def __init__(self) -> None:
        # The in-memory store is shared by threads of one process; the lock makes each call atomic
        # (the PostgreSQL store gets the same property from row locks and transactions).
        self._lock = threading.Lock()
        self._updates: dict[int, dict[str, Any]] = {}
        self._jobs: dict[str, Job] = {}
        self._dispatches: dict[str, str] = {}
        self._executions: dict[str, str] = {}
        self._logs: collections.deque[dict[str, Any]] = collections.deque(maxlen=_LOG_RETENTION)
        self._log_seq = 0

    def register_update(self, update_id: int, received_at: float) -> Mapping[str, Any] | None:
        with self._lock:
            if update_id in self._updates:
                return dict(self._updates[update_id])
            self._updates[update_id] = {}
            return None

    def store_reply(self, update_id: int, reply: Mapping[str, Any]) -> None:
        with self._lock:
            self._updates[update_id] = dict(reply)

    def insert_job(self, job: Job) -> bool:
        with self._lock:
            if job.job_id in self._jobs:
                return False
            self._jobs[job.job_id] = job
            return True

    def get_job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: (j.created_at, j.job_id))

    def write_job(self, expected_version: int, job: Job) -> bool:
        with self._lock:
            current = self._jobs.get(job.job_id)
            if current is None or current.version != expected_version:
                return False
            self._jobs[job.job_id] = job
            return True

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def claim_next(self, now: float, reclaim_cutoff: float,
                   build: Callable[[Job], Job]) -> tuple[Job, Job] | None:
        with self._lock:
            candidates = [
                job for job in self._jobs.values()
                if (job.state is JobState.QUEUED and job.next_attempt_at <= now)
                or (job.state is JobState.RUNNING and job.lease_expires_at is not None
                    and job.lease_expires_at <= reclaim_cutoff)
            ]
            if not candidates:
                return None
            before = min(candidates, key=lambda j: (j.next_attempt_at, j.created_at, j.job_id))
            after = build(before)
            self._jobs[before.job_id] = after
            return before, after

    def put_dispatch(self, key: str, job_id: str, at: float) -> bool:
        with self._lock:
            if key in self._dispatches:
                return False
            self._dispatches[key] = job_id
            return True

    def record_execution(self, key: str, result: str, at: float) -> bool:
        with self._lock:
            if key in self._executions:
                return False
            self._executions[key] = result
            return True

    def execution_result(self, key: str) -> str | None:
        with self._lock:
            return self._executions.get(key)

    def append_log(self, record: Mapping[str, Any]) -> None:
        with self._lock:
            self._log_seq += 1
            self._logs.append({"seq": self._log_seq, **record})

    def logs(self, limit: int = LOG_QUERY_LIMIT, trace_id: str | None = None) -> list[dict[str, Any]]:
        limit = max(0, min(limit, LOG_QUERY_LIMIT))
        with self._lock:
            records = [r for r in self._logs if trace_id is None or r.get("trace_id") == trace_id]
        return [dict(r) for r in records[-limit:]] if limit else []

    def close(self) -> None:
        """Nothing to release; kept for the protocol."""
