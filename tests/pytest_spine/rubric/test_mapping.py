from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.rubric.bundles import load_bundle
from pytest_spine.rubric.engine import CATEGORIES, Decision, RubricError, RubricResult
from pytest_spine.rubric.mapping import DEFAULT_RUBRIC, load_rubric, score_bundle

V12 = {"control_plane/v12_gate.json": {"figures": {"command_success_rate": 0.995}}}


def _score(make_bundle: Any, **kw: object) -> RubricResult:
    return score_bundle(load_bundle(make_bundle(**kw)))


def _by_key(result: RubricResult) -> dict[str, int]:
    return {s.category.key: s.score for s in result.scores}


def test_packaged_rubric_has_the_seed_weights_and_thresholds() -> None:
    spec = load_rubric()
    assert spec.source == str(DEFAULT_RUBRIC)
    assert [(c.key, c.weight) for c in spec.categories] == [(c.key, c.weight) for c in CATEGORIES]
    assert (spec.thresholds.hardening, spec.thresholds.validation, spec.thresholds.reentry) == (80, 85, 90)
    assert len(spec.no_go) == 4


def test_a_strong_bundle_reaches_every_top_rung(make_bundle: Any) -> None:
    result = _score(make_bundle, files=V12)
    assert _by_key(result) == dict.fromkeys(_by_key(result), 4)
    assert result.total == 100.0
    assert result.decision is Decision.ENTER_REENTRY
    security = next(s for s in result.scores if s.category.key == "security")
    assert security.rationale.startswith("Telemetry" ) is False
    assert "defense in depth" in security.rationale
    assert "verdicts.json#SEC-UNSIGNED-REJECTED" in security.evidence


def test_security_capped_at_1_when_any_sec_verdict_fails(make_bundle: Any, kit: Any) -> None:
    result = _score(make_bundle, verdicts=kit.verdicts_of({"SEC-RATE-LIMIT": "FAIL"}), files=V12)
    assert _by_key(result)["security"] == 1
    security = next(s for s in result.scores if s.category.key == "security")
    assert "Capped at 1: a security gate failed - a high-risk gap is open (SEC-RATE-LIMIT FAIL)" in security.rationale
    assert security.evidence[0] == "verdicts.json#SEC-RATE-LIMIT"
    assert result.total == 100.0 - 11.25


def test_unsigned_control_accepted_caps_security_at_0(make_bundle: Any, kit: Any) -> None:
    result = _score(make_bundle, verdicts=kit.verdicts_of({"SEC-UNSIGNED-REJECTED": "FAIL"}))
    assert _by_key(result)["security"] == 0


def test_measurement_climbs_with_telemetry_verdicts(make_bundle: Any, kit: Any) -> None:
    base = [v["id"] for v in kit.verdicts_of() if not v["id"].startswith(("TEL-", "MET-"))]
    only_taxonomy = kit.verdicts_of({"TEL-TAXONOMY": "PASS"}, ids=base)
    families = kit.verdicts_of({"TEL-TAXONOMY": "PASS", "TEL-FAMILIES": "PASS", "TEL-CORRELATION": "PASS"}, ids=base)
    assert _by_key(_score(make_bundle, run_id="r0", verdicts=kit.verdicts_of(ids=base)))["measurement"] == 0
    assert _by_key(_score(make_bundle, run_id="r1", verdicts=only_taxonomy))["measurement"] == 2
    # measurement = 3 when TEL-FAMILIES (and correlation) pass; 4 needs the v1.2 gate measured from artifacts
    assert _by_key(_score(make_bundle, run_id="r2", verdicts=families))["measurement"] == 3
    assert _by_key(_score(make_bundle, run_id="r3", verdicts=kit.verdicts_of(), files=V12))["measurement"] == 4
    missing_family = kit.verdicts_of({"TEL-FAMILIES": "FAIL"})
    assert _by_key(_score(make_bundle, run_id="r4", verdicts=missing_family, files=V12))["measurement"] == 1


def test_missing_evidence_never_raises_a_score(make_bundle: Any, kit: Any) -> None:
    no_security = [v for v in kit.verdicts_of() if not v["id"].startswith("SEC-")]
    result = _score(make_bundle, verdicts=no_security)
    security = next(s for s in result.scores if s.category.key == "security")
    assert security.score == 0
    assert "Not 1: security gates are exercised (no verdict for SEC-*)" in security.rationale


def test_not_applicable_alone_does_not_count_as_pass(make_bundle: Any, kit: Any) -> None:
    statuses = {v["id"]: "NOT_APPLICABLE" for v in kit.verdicts_of() if v["id"].startswith("SEC-")}
    result = _score(make_bundle, verdicts=kit.verdicts_of(statuses))
    security = next(s for s in result.scores if s.category.key == "security")
    assert security.score == 1
    assert "SEC-UNSIGNED-REJECTED only NOT_APPLICABLE" in security.rationale


def test_an_unmeasured_figure_is_said_so(make_bundle: Any, kit: Any) -> None:
    figures = {k: v for k, v in kit.STRONG_FIGURES.items() if k != "command_success_rate"}
    result = _score(make_bundle, figures=figures)
    outcomes = next(s for s in result.scores if s.category.key == "outcomes")
    assert outcomes.score == 3
    assert "command_success_rate not measured" in outcomes.rationale


def test_a_figure_below_its_threshold_blocks_the_rung(make_bundle: Any, kit: Any) -> None:
    result = _score(make_bundle, figures={**kit.STRONG_FIGURES, "mttr_minutes": 25})
    operability = next(s for s in result.scores if s.category.key == "operability")
    assert operability.score == 3
    assert "mttr_minutes = 25 (<= 10 fails)" in operability.rationale


def test_an_invariant_violation_caps_outcomes(make_bundle: Any, kit: Any) -> None:
    result = _score(make_bundle, verdicts=kit.verdicts_of({"INV-DEDUPE-IDENTITY": "FAIL"}))
    assert _by_key(result)["outcomes"] == 1
    assert _by_key(_score(make_bundle, run_id="r2",
                          verdicts=kit.verdicts_of({"CH-REPLAY-FLOOD-seed=3": "UNKNOWN"})))["outcomes"] == 2


@pytest.mark.parametrize(("verdicts", "figures", "reason"), [
    ({"HIST-CONSECUTIVE": "FAIL"}, {}, "failed for 3 consecutive required runs"),
    ({"HIST-SLO-WINDOW": "FAIL"}, {}, "two consecutive days of SLO miss"),
    ({}, {"open_sev1_incidents": 1}, "open Sev-1"),
    ({}, {"unresolved_p0_p1_findings": 2}, "P0/P1 red-team finding"),
])
def test_automatic_no_go(make_bundle: Any, kit: Any, verdicts: dict[str, str], figures: dict[str, int],
                         reason: str) -> None:
    result = _score(make_bundle, verdicts=kit.verdicts_of(verdicts),
                    figures={**kit.STRONG_FIGURES, **figures}, files=V12)
    assert result.decision is Decision.NO_GO
    assert any(reason in r for r in result.no_go)


def test_no_go_does_not_fire_on_a_clean_bundle(make_bundle: Any, kit: Any) -> None:
    result = _score(make_bundle, figures={**kit.STRONG_FIGURES, "open_sev1_incidents": 0})
    assert result.no_go == ()


def _rubric_file(tmp_path: Path, edit: object) -> Path:
    data = yaml.safe_load(DEFAULT_RUBRIC.read_text())
    edit(data)  # type: ignore[operator]
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_weights_not_summing_to_100_name_the_file(tmp_path: Path) -> None:
    path = _rubric_file(tmp_path, lambda d: d["categories"]["ci"].update(weight=5))
    with pytest.raises(RubricError, match=rf"rubric file {path}: category weights must sum to 100, they sum to 90"):
        load_rubric(path)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["categories"].update(speed=d["categories"]["ci"]), "Additional properties are not allowed"),
    (lambda d: d["categories"]["ci"]["rules"][0].update(raise_to=5), "at categories/ci/rules/0"),
    (lambda d: d["categories"]["ci"]["rules"][0].update(when={"all_passes": ["X"]}), "at categories/ci/rules/0/when"),
    (lambda d: d.update(thresholds={"hardening": 95}), "thresholds must rise"),
    (lambda d: d["no_go"][0]["when"]["figure"].update(op="~"), "at no_go/0/when/figure/op"),
])
def test_bad_rubric_files_are_named(tmp_path: Path, edit: object, message: str) -> None:
    path = _rubric_file(tmp_path, edit)
    with pytest.raises(RubricError, match=str(path)) as info:
        load_rubric(path)
    assert message in str(info.value)


def test_unreadable_and_malformed_rubric_files(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="cannot be read"):
        load_rubric(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [unclosed")
    with pytest.raises(RubricError, match="is not valid YAML"):
        load_rubric(bad)
