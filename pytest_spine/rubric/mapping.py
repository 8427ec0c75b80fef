"""The rubric mapping file (``data/rubric.yaml``): rules that raise or cap each category from evidence.

Scoring a bundle is a ladder per category: the score climbs rung by rung while every ``raise_to`` rule of
the next level holds, then each ``cap`` rule that holds lowers it. Every score carries a rationale written
from the rules' ``because`` sentences, and the evidence paths that decided it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pytest_spine.rubric.bundles import BundleView
from pytest_spine.rubric.engine import (
    CATEGORIES,
    Category,
    RubricError,
    RubricResult,
    Thresholds,
    score,
    validate_weights,
)
from pytest_spine.verdicts import Status, Verdict

DEFAULT_RUBRIC = Path(__file__).resolve().parent.parent / "data" / "rubric.yaml"

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # "raise_to" | "cap"
    level: int
    when: Mapping[str, Any]
    because: str


@dataclass(frozen=True, slots=True)
class NoGoRule:
    when: Mapping[str, Any]
    because: str


@dataclass(frozen=True, slots=True)
class RubricSpec:
    source: str
    categories: tuple[Category, ...]
    levels: Mapping[str, Mapping[int, str]]
    rules: Mapping[str, tuple[Rule, ...]]
    no_go: tuple[NoGoRule, ...]
    thresholds: Thresholds


@dataclass(frozen=True, slots=True)
class Outcome:
    """One condition evaluated: did it hold, what decided it, and a short account for the rationale."""

    holds: bool
    evidence: tuple[str, ...]
    detail: str


def load_rubric(path: Path | None = None) -> RubricSpec:
    """Load and validate a rubric mapping file; every problem names the file and the place."""
    import yaml  # imported where used: the plugin's import stays light

    from pytest_spine.evidence.schemas import load_schema, problems

    path = path or DEFAULT_RUBRIC
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as bad:
        raise RubricError(f"rubric file {path} cannot be read ({bad.strerror}); pass an existing file") from None
    except yaml.YAMLError as bad:
        raise RubricError(f"rubric file {path} is not valid YAML: {bad}") from None
    found = problems(data, load_schema("rubric"))
    if found:
        raise RubricError(f"rubric file {path} does not validate against rubric.schema.json: "
                          + "; ".join(found[:5]))
    titles = {c.key: c for c in CATEGORIES}
    categories = tuple(
        Category(key, str(spec.get("title", titles[key].title)), int(spec["weight"]), titles[key].short)
        for key, spec in ((c.key, data["categories"][c.key]) for c in CATEGORIES)
    )
    validate_weights(categories, where=f"rubric file {path}")
    rules = {
        key: tuple(
            Rule("raise_to" if "raise_to" in r else "cap", int(r.get("raise_to", r.get("cap", 0))),
                 r["when"], str(r["because"]))
            for r in data["categories"][key]["rules"]
        )
        for key in data["categories"]
    }
    levels = {key: {int(k): str(v) for k, v in spec.get("levels", {}).items()}
              for key, spec in data["categories"].items()}
    t = data.get("thresholds", {})
    default = Thresholds()
    thresholds = Thresholds(
        float(t.get("hardening", default.hardening)),
        float(t.get("validation", {}).get("total", default.validation)),
        int(t.get("validation", {}).get("min_category", default.validation_min_category)),
        float(t.get("reentry", {}).get("total", default.reentry)),
        int(t.get("reentry", {}).get("min_category", default.reentry_min_category)),
    )
    if not thresholds.hardening <= thresholds.validation <= thresholds.reentry:
        raise RubricError(f"rubric file {path}: thresholds must rise hardening <= validation <= reentry, given "
                          f"{thresholds.hardening:g} / {thresholds.validation:g} / {thresholds.reentry:g}")
    no_go = tuple(NoGoRule(r["when"], str(r["because"])) for r in data.get("no_go", []))
    return RubricSpec(str(path), categories, levels, rules, no_go, thresholds)


# -- conditions ---------------------------------------------------------------------------------------
def _link(verdict: Verdict) -> tuple[str, ...]:
    return (f"verdicts.json#{verdict.check_id}", *verdict.evidence)


def _matching(view: BundleView, pattern: str) -> list[Verdict]:
    return [v for v in view.verdicts if fnmatchcase(v.check_id, pattern)]


def evaluate(when: Mapping[str, Any], view: BundleView) -> Outcome:
    (kind, arg), = when.items()
    if kind == "all_pass":
        return _all_pass(arg, view)
    if kind == "any_fail":
        bad = [v for p in arg for v in _matching(view, p) if v.status.is_failure]
        if bad:
            names = ", ".join(f"{v.check_id} {v.status.value}" for v in bad[:4])
            return Outcome(True, tuple(x for v in bad for x in _link(v)), names)
        return Outcome(False, (), f"no failure among {', '.join(arg)}")
    if kind in ("present", "missing"):
        absent = [p for p in arg if not _matching(view, p)]
        found = tuple(x for p in arg for v in _matching(view, p)[:1] for x in _link(v))
        holds = not absent if kind == "present" else bool(absent)
        detail = f"no verdict for {', '.join(absent)}" if absent else f"verdicts present for {', '.join(arg)}"
        return Outcome(holds, found, detail)
    if kind == "file":
        present = arg in view.files
        return Outcome(present, (arg,) if present else (), f"{arg} {'present' if present else 'absent'}")
    if kind == "figure":
        return _figure(arg, view)
    if kind in ("all_of", "any_of"):
        parts = [evaluate(c, view) for c in arg]
        holds = all(p.holds for p in parts) if kind == "all_of" else any(p.holds for p in parts)
        # The account names what decided: the failing parts of a failed all_of, the holding parts otherwise.
        deciding = [p for p in parts if p.holds == holds] or parts
        return Outcome(holds, tuple(x for p in deciding for x in p.evidence), "; ".join(p.detail for p in deciding))
    if kind == "not":
        inner = evaluate(arg, view)
        return Outcome(not inner.holds, inner.evidence, f"not ({inner.detail})")
    raise RubricError(f"unknown rubric condition {kind!r}")  # the schema keeps this unreachable


def _all_pass(patterns: Sequence[str], view: BundleView) -> Outcome:
    problems: list[str] = []
    evidence: list[str] = []
    for pattern in patterns:
        found = _matching(view, pattern)
        if not found:
            problems.append(f"no verdict for {pattern} (missing evidence)")
            continue
        bad = [v for v in found if v.status.is_failure]
        for v in bad:
            problems.append(f"{v.check_id} {v.status.value}")
            evidence.extend(_link(v))
        if not bad and not any(v.status is Status.PASS for v in found):
            problems.append(f"{pattern} only NOT_APPLICABLE")
        if not bad:
            evidence.extend(x for v in found if v.status is Status.PASS for x in _link(v)[:1])
    if problems:
        return Outcome(False, tuple(evidence), "; ".join(problems[:4]))
    return Outcome(True, tuple(evidence), f"{', '.join(patterns)} all PASS")


def _figure(spec: Mapping[str, Any], view: BundleView) -> Outcome:
    name, op, want = spec["name"], spec["op"], spec["value"]
    value = view.figures.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Outcome(False, (), f"{name} not measured")
    holds = _OPS[op](value, want)
    verdict = "holds" if holds else "fails"
    return Outcome(holds, (f"figures.json#{name}",), f"{name} = {value:g} ({op} {want:g} {verdict})")


# -- scoring ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CategoryAccount:
    score: int
    rationale: str
    evidence: tuple[str, ...]


def score_category(rules: Sequence[Rule], view: BundleView) -> CategoryAccount:
    raises = sorted((r for r in rules if r.kind == "raise_to"), key=lambda r: r.level)
    level = 0
    reached: list[str] = []
    evidence: list[str] = []
    blocked = ""
    for rung in sorted({r.level for r in raises}):
        outcomes = [(r, evaluate(r.when, view)) for r in raises if r.level == rung]
        failing = [(r, o) for r, o in outcomes if not o.holds]
        if failing:
            rule, outcome = failing[0]
            blocked = f"Not {rung}: {_lower_first(rule.because)} ({outcome.detail})."
            evidence.extend(outcome.evidence)
            break
        level = rung
        reached = [r.because for r, _ in outcomes]
        evidence.extend(x for _, o in outcomes for x in o.evidence)
    parts = [f"{'; '.join(reached)}." if reached else "No rung reached."]
    if blocked:
        parts.append(blocked)
    for cap in (r for r in rules if r.kind == "cap"):
        outcome = evaluate(cap.when, view)
        if outcome.holds and cap.level < level:
            level = cap.level
            parts.append(f"Capped at {cap.level}: {_lower_first(cap.because)} ({outcome.detail}).")
            evidence = list(outcome.evidence) + evidence
    return CategoryAccount(level, " ".join(parts), tuple(dict.fromkeys(evidence)))


def _lower_first(text: str) -> str:
    # Keep acronyms ("IG ...", "MTTR ...") as written.
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def no_go_conditions(spec: RubricSpec, view: BundleView) -> tuple[tuple[str, tuple[str, ...]], ...]:
    fired = []
    for rule in spec.no_go:
        outcome = evaluate(rule.when, view)
        if outcome.holds:
            fired.append((f"{rule.because} ({outcome.detail})", outcome.evidence))
    return tuple(fired)


def score_bundle(view: BundleView, spec: RubricSpec | None = None) -> RubricResult:
    spec = spec or load_rubric()
    accounts = {c.key: score_category(spec.rules.get(c.key, ()), view) for c in spec.categories}
    fired = no_go_conditions(spec, view)
    return score(
        {k: a.score for k, a in accounts.items()},
        categories=spec.categories,
        thresholds=spec.thresholds,
        no_go=[text for text, _ in fired],
        rationale={k: a.rationale for k, a in accounts.items()},
        evidence={k: a.evidence for k, a in accounts.items()},
    )
