"""How a checker turns what it saw into a Verdict: the first violation is the counterexample, the rest
are counted (the minimal evidence a reader needs, and a figure of how widespread it was)."""

from __future__ import annotations

from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, expand
from pytest_spine.invariants.registry import counterexample
from pytest_spine.verdicts import Status, Verdict


class Tally:
    __slots__ = ("check_id", "first", "first_reason", "kind", "ops", "unknown_reason", "violations")

    def __init__(self, check_id: str, kind: str = "invariant") -> None:
        self.check_id = check_id
        self.kind = kind
        self.violations = 0
        self.first: tuple[Any, ...] = ()
        self.first_reason = ""
        self.unknown_reason = ""
        self.ops = 0

    def violation(self, reason: str, *evidence: Operation | Brief | None) -> None:
        self.violations += 1
        if self.violations == 1:
            self.first_reason = reason
            self.first = counterexample(*(expand(e) if isinstance(e, tuple) else e for e in evidence))

    def unknown(self, reason: str, *evidence: Operation | Brief | None) -> None:
        """Something may have broken the law, but the history cannot tell (an ``info`` outcome)."""
        if not self.unknown_reason:
            self.unknown_reason = reason
            if not self.violations:
                self.first = counterexample(*(expand(e) if isinstance(e, tuple) else e for e in evidence))

    def verdict(self, ok_reason: str, **figures: Any) -> Verdict:
        figures = {"operations_checked": self.ops, "violations": self.violations, **figures}
        if self.violations:
            more = f" ({self.violations - 1} more violations)" if self.violations > 1 else ""
            return Verdict(self.check_id, self.kind, Status.FAIL, self.first_reason + more,
                           counterexample=self.first, figures=figures)
        if self.unknown_reason:
            return Verdict(self.check_id, self.kind, Status.UNKNOWN, self.unknown_reason,
                           counterexample=self.first, figures=figures)
        return Verdict(self.check_id, self.kind, Status.PASS, ok_reason, figures=figures)
