"""The canonical job states (CP-001) and the one table of legal transitions.

Terminal states leave only through an explicit recovery action (``/recover``), which has its own
table so a checker can tell a recovery from an illegal resurrection.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class JobState(enum.StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


S = JobState

TERMINAL_STATES: frozenset[JobState] = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELED, S.EXPIRED})

# RUNNING -> QUEUED is a retry after a transient failure or a reclaim after an expired lease.
LEGAL_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    S.REQUESTED: frozenset({S.APPROVED, S.CANCELED, S.EXPIRED}),
    S.APPROVED: frozenset({S.QUEUED, S.CANCELED, S.EXPIRED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELED, S.EXPIRED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.QUEUED, S.CANCELED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
    S.EXPIRED: frozenset(),
}

# Only /recover may take these; a recovered job must be resumed again (the gates apply anew).
RECOVERY_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = {
    S.FAILED: frozenset({S.APPROVED}),
    S.CANCELED: frozenset({S.APPROVED}),
    S.EXPIRED: frozenset({S.APPROVED}),
}


def is_legal(source: JobState, target: JobState, *, recovery: bool = False) -> bool:
    table = RECOVERY_TRANSITIONS if recovery else LEGAL_TRANSITIONS
    return target in table.get(source, frozenset())


def legal_table_json() -> dict[str, list[str]]:
    """The table as plain data, recorded into the history so an offline checker uses the same law."""
    return {src.value: sorted(dst.value for dst in dsts) for src, dsts in LEGAL_TRANSITIONS.items()}


def recovery_table_json() -> dict[str, list[str]]:
    return {src.value: sorted(dst.value for dst in dsts) for src, dsts in RECOVERY_TRANSITIONS.items()}
