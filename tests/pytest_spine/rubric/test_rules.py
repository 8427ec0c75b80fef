"""Every rule of the packaged rubric.yaml can decide both ways: a rule that cannot fail (or cannot fire) is a
defect, the same as a check that cannot fail."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.rubric.bundles import load_bundle
from pytest_spine.rubric.mapping import evaluate, load_rubric

SPEC = load_rubric()
RULES = [(key, i, rule) for key, rules in SPEC.rules.items() for i, rule in enumerate(rules)]
V12 = {"control_plane/v12_gate.json": {"figures": {"command_success_rate": 0.995}}}
BAD_FIGURES = {"command_success_rate": 0.5, "soak_window_seconds": 0, "mttr_minutes": 60,
               "poll_timeout_recovery_rate": 0.1, "open_sev1_incidents": 1, "unresolved_p0_p1_findings": 3}


@pytest.fixture
def strong(make_bundle: Any) -> Any:
    return load_bundle(make_bundle("strong", files=V12))


@pytest.fixture
def broken(make_bundle: Any, kit: Any) -> Any:
    """Every check FAILs and every figure misses: caps and No-Go conditions must fire here."""
    return load_bundle(make_bundle("broken", verdicts=kit.verdicts_of(dict.fromkeys(kit.STRONG, "FAIL")),
                                   figures=BAD_FIGURES))


@pytest.mark.parametrize(("category", "index", "rule"), RULES, ids=[f"{k}-{i}-{r.kind}{r.level}" for k, i, r in RULES])
def test_every_rule_decides_both_ways(category: str, index: int, rule: Any, strong: Any, broken: Any) -> None:
    on_strong, on_broken = evaluate(rule.when, strong), evaluate(rule.when, broken)
    if rule.kind == "raise_to":
        assert on_strong.holds, f"{category} rule {index} never raises, even on a strong bundle: {on_strong.detail}"
        assert not on_broken.holds or rule.level <= 1, f"{category} rule {index} raises on a broken bundle"
    else:
        assert on_broken.holds, f"{category} cap {index} never fires, even on a broken bundle: {on_broken.detail}"
        assert not on_strong.holds, f"{category} cap {index} fires on a strong bundle: {on_strong.detail}"
    assert on_strong.detail and on_broken.detail  # every outcome explains itself for the rationale


@pytest.mark.parametrize("index", range(len(SPEC.no_go)))
def test_every_no_go_condition_decides_both_ways(index: int, strong: Any, broken: Any) -> None:
    rule = SPEC.no_go[index]
    assert evaluate(rule.when, broken).holds, rule.because
    assert not evaluate(rule.when, strong).holds, rule.because


def test_rung_1_rules_still_need_their_evidence(make_bundle: Any) -> None:
    # Rung 1 says "the thing is checked at all": on a bundle with nothing in it, no rule raises anything.
    empty = load_bundle(make_bundle("empty", verdicts=[], figures={}))
    for category, index, rule in RULES:
        if rule.kind == "raise_to" and rule.when.get("file") not in ("run.json", "verdicts.json", "manifest.json"):
            assert not evaluate(rule.when, empty).holds, f"{category} rule {index} raises on an empty bundle"
