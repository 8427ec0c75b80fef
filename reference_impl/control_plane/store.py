"""The one protocol both durable stores implement (in-memory and PostgreSQL).

Every method is atomic on its own; ``claim_next`` is the lease primitive: it picks one claimable job
(QUEUED and due, or RUNNING with a lease that expired before ``reclaim_cutoff``), lets the control
plane build the claimed row and writes it, all inside one store-level critical section (a row lock
taken with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from reference_impl.control_plane.records import Job

LOG_QUERY_LIMIT = 500


class ControlStore(Protocol):
    kind: str

    def register_update(self, update_id: int, received_at: float) -> Mapping[str, Any] | None:
        """Record a first sighting of the update id. None when new; else the stored reply of the first
        sighting (an empty mapping while that one is still being handled)."""
        ...

    def store_reply(self, update_id: int, reply: Mapping[str, Any]) -> None: ...

    def insert_job(self, job: Job) -> bool:
        """False (and nothing written) when the job id already exists."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def jobs(self) -> list[Job]:
        """All jobs, ordered by creation."""
        ...

    def write_job(self, expected_version: int, job: Job) -> bool:
        """Compare-and-set: replace the row only if its version is still ``expected_version``."""
        ...

    def delete_job(self, job_id: str) -> None: ...

    def claim_next(self, now: float, reclaim_cutoff: float,
                   build: Callable[[Job], Job]) -> tuple[Job, Job] | None:
        """Atomically claim one job; returns (row before, row after) or None when nothing is claimable."""
        ...

    def put_dispatch(self, key: str, job_id: str, at: float) -> bool:
        """Insert-if-absent of a dispatch idempotency key: False means a duplicate dispatch (a no-op)."""
        ...

    def record_execution(self, key: str, result: str, at: float) -> bool:
        """The heavy side's ledger: the result of the execution for a dispatch key, written once."""
        ...

    def execution_result(self, key: str) -> str | None: ...

    def append_log(self, record: Mapping[str, Any]) -> None: ...

    def logs(self, limit: int = LOG_QUERY_LIMIT, trace_id: str | None = None) -> list[dict[str, Any]]:
        """The latest ``limit`` (at most 500) structured log records, oldest first, optionally of one trace."""
        ...

    def close(self) -> None: ...
