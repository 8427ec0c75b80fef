"""The reference control plane (seed 001, CP-001..CP-010): a job state machine driven by chat-style
command updates, a durable queue with database leases, capped retries with backoff and jitter,
structured logs with trace ids and an ops status.

Two stores implement one protocol (``store.ControlStore``): in-memory (``memory_store``) and
PostgreSQL (``postgres_store``, psycopg 3, leases through ``SELECT ... FOR UPDATE SKIP LOCKED``).
It never imports pytest_spine.
"""

from __future__ import annotations

from reference_impl.control_plane.errors import ControlPlaneError, StoreUnavailable
from reference_impl.control_plane.memory_store import MemoryStore
from reference_impl.control_plane.plane import ControlPlane
from reference_impl.control_plane.policy import RetryPolicy, TimeoutClasses
from reference_impl.control_plane.records import Job, Reply
from reference_impl.control_plane.states import LEGAL_TRANSITIONS, TERMINAL_STATES, JobState
from reference_impl.control_plane.worker import Worker

__all__ = [
    "LEGAL_TRANSITIONS",
    "TERMINAL_STATES",
    "ControlPlane",
    "ControlPlaneError",
    "Job",
    "JobState",
    "MemoryStore",
    "Reply",
    "RetryPolicy",
    "StoreUnavailable",
    "TimeoutClasses",
    "Worker",
]
