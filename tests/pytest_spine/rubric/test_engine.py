from __future__ import annotations

import pytest

from pytest_spine.rubric.engine import (
    CATEGORIES,
    Category,
    Decision,
    RubricError,
    parse_pairs,
    score,
    validate_weights,
)

WEEK_1 = {"measurement": 2, "outcomes": 1, "ci": 3, "security": 1, "operability": 2, "discipline": 3}
WEEK_2 = {"measurement": 3, "outcomes": 1, "ci": 3, "security": 2, "operability": 2, "discipline": 3}


def _all(value: int, **overrides: int) -> dict[str, int]:
    return {c.key: overrides.get(c.key, value) for c in CATEGORIES}


def test_seed_004_week_1_total_points_and_decision() -> None:
    result = score(WEEK_1)
    assert result.total == 46.25
    assert [round(s.points, 2) for s in result.scores] == [10.00, 6.25, 11.25, 3.75, 7.50, 7.50]
    assert result.decision is Decision.STAY_PHASE_1
    assert result.decision.value == "Stay in Phase 1"


def test_seed_004_week_2_total_and_decision() -> None:
    result = score(WEEK_2)
    assert result.total == 55.00
    assert [round(s.points, 2) for s in result.scores] == [15.00, 6.25, 11.25, 7.50, 7.50, 7.50]
    assert result.decision is Decision.STAY_PHASE_1


def test_weights_are_the_seeds() -> None:
    assert {c.key: c.weight for c in CATEGORIES} == {
        "measurement": 20, "outcomes": 25, "ci": 15, "security": 15, "operability": 15, "discipline": 10}
    assert score(_all(4)).total == 100.0
    assert score(_all(0)).total == 0.0


@pytest.mark.parametrize(("scores", "total", "decision"), [
    (_all(3, outcomes=4, ci=4, measurement=4, security=2), 86.25, Decision.ENTER_VALIDATION),
    # >= 85 but a category below 2: hardening complete only
    (_all(3, outcomes=4, measurement=4, ci=4, discipline=1), 85.0, Decision.HARDENING_COMPLETE),
    (_all(4, discipline=1, security=1), 81.25, Decision.HARDENING_COMPLETE),
    (_all(4, ci=1), 88.75, Decision.HARDENING_COMPLETE),
    (_all(4, security=1, operability=1), 77.5, Decision.STAY_PHASE_1),
    (_all(3), 75.0, Decision.STAY_PHASE_1),
    # >= 90 with a category at 2 is the validation window, not re-entry
    (_all(4, discipline=2), 95.0, Decision.ENTER_VALIDATION),
    (_all(4, measurement=3, discipline=3), 92.5, Decision.ENTER_REENTRY),
    (_all(4), 100.0, Decision.ENTER_REENTRY),
])
def test_decision_ladder(scores: dict[str, int], total: float, decision: Decision) -> None:
    result = score(scores)
    assert result.total == total
    assert result.decision is decision


def test_threshold_boundaries_exactly() -> None:
    # 80.00 = 20 + 25 + 15 + 7.5 + 7.5 + 5
    at_80 = score({"measurement": 4, "outcomes": 4, "ci": 4, "security": 2, "operability": 2, "discipline": 2})
    assert at_80.total == 80.0
    assert at_80.decision is Decision.HARDENING_COMPLETE
    below = score({"measurement": 4, "outcomes": 4, "ci": 4, "security": 2, "operability": 1, "discipline": 3})
    assert below.total == 78.75
    assert below.decision is Decision.STAY_PHASE_1
    assert "below the hardening threshold 80" in below.notes[0]


def test_no_go_overrides_a_perfect_score() -> None:
    result = score(_all(4), no_go=["An open Sev-1 reliability or security incident"])
    assert result.total == 100.0
    assert result.decision is Decision.NO_GO
    assert result.no_go == ("An open Sev-1 reliability or security incident",)


@pytest.mark.parametrize(("pairs", "message"), [
    (["measurement=5"], "measurement must be an integer from 0 to 4"),
    (["measurement=-1"], "given: -1"),
    (["measurement=two"], "given: 'two'"),
    (["speed=2"], "unknown category 'speed'"),
    (["measurement"], "not of the form category=N"),
    (["measurement=2", "measurement=3"], "measurement is given twice"),
    (["measurement=2"], "scores are missing for outcomes, ci, security, operability, discipline"),
])
def test_bad_pairs_name_the_input(pairs: list[str], message: str) -> None:
    with pytest.raises(RubricError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_pairs(pairs)


def test_score_rejects_out_of_range_unknown_and_bool() -> None:
    with pytest.raises(RubricError, match=r"security must be an integer from 0 to 4 \(0 Missing .. 4 Pro.*given: 7"):
        score({**WEEK_1, "security": 7})
    with pytest.raises(RubricError, match="unknown category 'uptime'"):
        score({**WEEK_1, "uptime": 2})
    with pytest.raises(RubricError, match="given: True"):
        score({**WEEK_1, "ci": True})
    with pytest.raises(RubricError, match="scores are missing for discipline"):
        score({k: v for k, v in WEEK_1.items() if k != "discipline"})


def test_weights_must_sum_to_100() -> None:
    bad = [Category(c.key, c.title, 30 if c.key == "outcomes" else c.weight, c.short) for c in CATEGORIES]
    with pytest.raises(RubricError, match=r"weights must sum to 100, they sum to 105 \(measurement=20, outcomes=30"):
        validate_weights(bad)
    with pytest.raises(RubricError, match="must define exactly the categories"):
        validate_weights(CATEGORIES[:5])
