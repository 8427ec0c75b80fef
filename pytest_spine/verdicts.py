"""Verdicts: the outcome of one check, merged worst-first as Jepsen's checkers do."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BASES = ("observed", "recomputed", "attested")


class Status(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"
    BLOCKED = "BLOCKED"
    NOT_APPLICABLE = "NOT_APPLICABLE"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def is_failure(self) -> bool:
        """FAIL, BLOCKED and UNKNOWN all stop a gate: a timed-out search is never a PASS."""
        return self in (Status.FAIL, Status.BLOCKED, Status.UNKNOWN)


_SEVERITY = {
    Status.NOT_APPLICABLE: 0,
    Status.PASS: 1,
    Status.UNKNOWN: 2,
    Status.BLOCKED: 3,
    Status.FAIL: 4,
}


def merge(statuses: Iterable[Status]) -> Status:
    """Worst first: FAIL > BLOCKED > UNKNOWN > PASS > NOT_APPLICABLE; nothing at all is UNKNOWN."""
    worst: Status | None = None
    for status in statuses:
        if worst is None or status.severity > worst.severity:
            worst = status
    return Status.UNKNOWN if worst is None else worst


@dataclass(frozen=True, slots=True)
class Verdict:
    """One record of verdicts.json: what was checked, how it came out, and the evidence that decided it."""

    check_id: str
    kind: str  # gate | invariant | scenario | security | control_plane | telemetry | metric | history
    status: Status
    reason: str
    evidence: tuple[str, ...] = ()
    counterexample: tuple[Mapping[str, Any], ...] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)
    # observed (the harness saw it in the substrate), recomputed (derived from raw data) or attested (the
    # platform's evidence says so); None where a check has not declared it.
    basis: str | None = None

    def to_json(self) -> dict[str, Any]:
        extra = {"basis": self.basis} if self.basis else {}
        return {
            "id": self.check_id,
            "kind": self.kind,
            "status": self.status.value,
            "reason": self.reason,
            "evidence": list(self.evidence),
            "counterexample": [dict(op) for op in self.counterexample],
            "figures": dict(self.figures),
            **extra,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            check_id=str(data["id"]),
            kind=str(data["kind"]),
            status=Status(data["status"]),
            reason=str(data.get("reason", "")),
            evidence=tuple(data.get("evidence", ())),
            counterexample=tuple(data.get("counterexample", ())),
            figures=dict(data.get("figures", {})),
            basis=str(data["basis"]) if data.get("basis") else None,
        )


def passed(check_id: str, kind: str, reason: str, **kw: Any) -> Verdict:
    return Verdict(check_id, kind, Status.PASS, reason, **kw)


def failed(check_id: str, kind: str, reason: str, **kw: Any) -> Verdict:
    return Verdict(check_id, kind, Status.FAIL, reason, **kw)


def not_applicable(check_id: str, kind: str, reason: str, **kw: Any) -> Verdict:
    return Verdict(check_id, kind, Status.NOT_APPLICABLE, reason, **kw)
