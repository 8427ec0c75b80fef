"""The records the control plane stores: jobs (one row each) and command replies."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.control_plane.states import JobState


@dataclass(frozen=True, slots=True)
class Job:
    """One job row. ``version`` guards every write (compare-and-set), ``generation`` counts recoveries."""

    job_id: str
    trace_id: str
    task: str
    state: JobState
    created_at: float
    updated_at: float
    update_id: int
    timeout_class: str = "standard"
    generation: int = 0
    approved: bool = False
    dispatch_key: str | None = None
    attempts: int = 0
    generation_attempts: int = 0
    last_error: str | None = None
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    next_attempt_at: float = 0.0
    version: int = 0

    def evolve(self, **changes: Any) -> Job:
        """A new row with the changes and the version bumped (the store checks the old version)."""
        return dataclasses.replace(self, version=self.version + 1, **changes)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["state"] = JobState(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one update: accepted, duplicate (a replay, answered from the first outcome),
    rejected (bad input or an illegal command: nothing changed) or error (an internal fault)."""

    update_id: int | None
    outcome: str
    reason: str
    job_id: str | None = None
    trace_id: str | None = None
    state: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
