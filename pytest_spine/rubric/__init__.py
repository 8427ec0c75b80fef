"""The weighted reliability rubric (seed 004), the v1.2 gate and Θ-03 scorecards, and their renderers."""

from __future__ import annotations

from pytest_spine.rubric.engine import (
    CATEGORIES,
    CATEGORY_KEYS,
    Category,
    CategoryScore,
    Decision,
    RubricError,
    RubricResult,
    Thresholds,
    parse_pairs,
    score,
)
from pytest_spine.rubric.terminal import render_terminal_scorecard

__all__ = [
    "CATEGORIES",
    "CATEGORY_KEYS",
    "Category",
    "CategoryScore",
    "Decision",
    "RubricError",
    "RubricResult",
    "Thresholds",
    "parse_pairs",
    "render_terminal_scorecard",
    "score",
]
