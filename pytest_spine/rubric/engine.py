"""The weighted reliability rubric of seed 004 §4-5: six categories scored 0-4, a weighted total, a decision.

``total = Σ score / 4 × weight``; the decision ladder is 80 (hardening complete), 85 with no category
below 2 (enter the SLO validation window), 90 with no category below 3 (feature re-entry); any automatic
No-Go condition overrides the ladder.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_spine.errors import SpineError


class RubricError(SpineError):
    """A score, a category key or a rubric file is wrong."""


@dataclass(frozen=True, slots=True)
class Category:
    key: str
    title: str
    weight: int
    short: str  # column header of the weekly table ("CI/Test")


# Seed 004 §4, in the seed's column order.
CATEGORIES: tuple[Category, ...] = (
    Category("measurement", "Measurement Completeness", 20, "Measurement"),
    Category("outcomes", "Reliability Outcomes", 25, "Outcomes"),
    Category("ci", "Test and CI Strength", 15, "CI/Test"),
    Category("security", "Security and Abuse Resistance", 15, "Security"),
    Category("operability", "Operability and Incident Readiness", 15, "Operability"),
    Category("discipline", "Delivery Discipline", 10, "Discipline"),
)
CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in CATEGORIES)
MIN_SCORE, MAX_SCORE = 0, 4
SCALE: dict[int, str] = {0: "Missing", 1: "Ad hoc", 2: "Baseline", 3: "Strong", 4: "Production-grade"}


class Decision(enum.StrEnum):
    NO_GO = "No-Go"
    STAY_PHASE_1 = "Stay in Phase 1"
    HARDENING_COMPLETE = "Hardening complete"
    ENTER_VALIDATION = "Enter Phase 2"
    ENTER_REENTRY = "Enter Phase 3"

    @property
    def long(self) -> str:
        return _LONG[self]


_LONG = {
    Decision.NO_GO: "No-Go (automatic condition)",
    Decision.STAY_PHASE_1: "Stay in Phase 1 (Metric Hardening)",
    Decision.HARDENING_COMPLETE: "Hardening complete (total >= 80); leave Phase 1 when G1-G4 pass",
    Decision.ENTER_VALIDATION: "Enter Phase 2 (SLO Validation Window)",
    Decision.ENTER_REENTRY: "Enter Phase 3 (Feature and Polish Re-entry)",
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Seed 004 §5; a rubric file may restate them but not weaken the ordering."""

    hardening: float = 80.0
    validation: float = 85.0
    validation_min_category: int = 2
    reentry: float = 90.0
    reentry_min_category: int = 3


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: Category
    score: int
    rationale: str = ""
    evidence: tuple[str, ...] = ()

    @property
    def points(self) -> float:
        return self.score / MAX_SCORE * self.category.weight


@dataclass(frozen=True, slots=True)
class RubricResult:
    scores: tuple[CategoryScore, ...]
    total: float
    decision: Decision
    no_go: tuple[str, ...] = ()  # the automatic No-Go conditions that fired, each as a sentence
    notes: tuple[str, ...] = field(default_factory=tuple)  # why the ladder stopped where it did

    def score_of(self, key: str) -> int:
        for item in self.scores:
            if item.category.key == key:
                return item.score
        raise RubricError(f"no category {key!r}; known categories: {', '.join(CATEGORY_KEYS)}")

    @property
    def lowest(self) -> int:
        return min(s.score for s in self.scores)


def validate_weights(categories: Sequence[Category], where: str = "the rubric") -> None:
    keys = [c.key for c in categories]
    if sorted(keys) != sorted(CATEGORY_KEYS) or len(set(keys)) != len(keys):
        raise RubricError(f"{where} must define exactly the categories {', '.join(CATEGORY_KEYS)}, "
                          f"given: {', '.join(keys) or '(none)'}")
    total = sum(c.weight for c in categories)
    if total != 100:
        listing = ", ".join(f"{c.key}={c.weight}" for c in categories)
        raise RubricError(f"{where}: category weights must sum to 100, they sum to {total} ({listing}); "
                          "fix the weights so the total score stays on a 0-100 scale")


def check_score(key: str, value: object, where: str = "score") -> int:
    if key not in CATEGORY_KEYS:
        raise RubricError(f"{where}: unknown category {key!r}; use one of {', '.join(CATEGORY_KEYS)}")
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SCORE <= value <= MAX_SCORE:
        raise RubricError(f"{where}: {key} must be an integer from {MIN_SCORE} to {MAX_SCORE} "
                          f"(0 Missing .. 4 Production-grade), given: {value!r}")
    return value


_PAIR = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*(\S+)\s*$")


def parse_pairs(pairs: Iterable[str]) -> dict[str, int]:
    """``["measurement=2", ...]`` -> scores; every category exactly once, each an integer 0-4."""
    scores: dict[str, int] = {}
    for pair in pairs:
        match = _PAIR.match(pair)
        if not match:
            raise RubricError(f"score {pair!r} is not of the form category=N (e.g. measurement=2)")
        key, raw = match.group(1), match.group(2)
        try:
            value: object = int(raw)
        except ValueError:
            value = raw
        check_score(key, value, where=f"score {pair!r}")
        if key in scores:
            raise RubricError(f"score {pair!r}: {key} is given twice ({key}={scores[key]} already)")
        scores[key] = int(raw)
    missing = [k for k in CATEGORY_KEYS if k not in scores]
    if missing:
        raise RubricError(f"scores are missing for {', '.join(missing)}; give all six categories as key=N")
    return scores


def decide(total: float, scores: Sequence[int], thresholds: Thresholds,
           no_go: Sequence[str] = ()) -> tuple[Decision, tuple[str, ...]]:
    """The seed's ladder, top rung first; returns the decision and why higher rungs were not reached."""
    if no_go:
        return Decision.NO_GO, tuple(no_go)
    lowest = min(scores)
    notes: list[str] = []
    if total >= thresholds.reentry and lowest >= thresholds.reentry_min_category:
        return Decision.ENTER_REENTRY, ()
    if total >= thresholds.reentry:
        notes.append(f"re-entry needs every category >= {thresholds.reentry_min_category}; lowest is {lowest}")
    if total >= thresholds.validation and lowest >= thresholds.validation_min_category:
        return Decision.ENTER_VALIDATION, tuple(notes)
    if total >= thresholds.validation:
        notes.append(f"the validation window needs every category >= {thresholds.validation_min_category}; "
                     f"lowest is {lowest}")
    if total >= thresholds.hardening:
        return Decision.HARDENING_COMPLETE, tuple(notes)
    notes.append(f"total {total:.2f} is below the hardening threshold {thresholds.hardening:g}")
    return Decision.STAY_PHASE_1, tuple(notes)


def score(
    scores: Mapping[str, int],
    *,
    categories: Sequence[Category] = CATEGORIES,
    thresholds: Thresholds | None = None,
    no_go: Sequence[str] = (),
    rationale: Mapping[str, str] | None = None,
    evidence: Mapping[str, Sequence[str]] | None = None,
) -> RubricResult:
    """Score a rubric: every category once, integers 0-4; ``no_go`` lists conditions that fired."""
    validate_weights(categories)
    for key, value in scores.items():
        check_score(key, value)
    missing = [c.key for c in categories if c.key not in scores]
    if missing:
        raise RubricError(f"scores are missing for {', '.join(missing)}; every category needs a score 0-4")
    rows = tuple(
        CategoryScore(c, scores[c.key], (rationale or {}).get(c.key, ""), tuple((evidence or {}).get(c.key, ())))
        for c in categories
    )
    # Rounded to the cent: the seed quotes totals like 46.25 and float noise must not move a threshold.
    total = round(sum(r.points for r in rows), 2)
    decision, notes = decide(total, [r.score for r in rows], thresholds or Thresholds(), no_go)
    return RubricResult(rows, total, decision, tuple(no_go), notes)
