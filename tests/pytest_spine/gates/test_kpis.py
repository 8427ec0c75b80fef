"""The operator's KPI file (--spine-kpis): every name, number and range is checked, and each problem names the
file, the key and the fix."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pytest_spine.errors import ConfigError
from pytest_spine.gates.kpis import BY_NAME, KPIS, KpiFileError, load_kpis


def _write(tmp_path: Path, text: str, name: str = "kpis.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_file_is_read_with_its_window_source_and_digest(tmp_path: Path) -> None:
    path = _write(tmp_path, "window: 2026-W47\nsource: dashboard\nkpis:\n  heavy_task_success_rate: 0.97\n"
                            "  audit_score: 96\n")
    kpis = load_kpis(path)
    assert kpis.values == {"heavy_task_success_rate": 0.97, "audit_score": 96.0}
    assert (kpis.window, kpis.source) == ("2026-W47", "dashboard")
    assert kpis.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert kpis.to_evidence() == {"source_file": "kpis.yaml", "sha256": kpis.sha256, "window": "2026-W47",
                                  "source": "dashboard", "kpis": {"heavy_task_success_rate": 0.97,
                                                                  "audit_score": 96.0}}


def test_json_is_accepted_too(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"kpis": {"uptime_ratio": 0.998}}', "kpis.json")
    assert load_kpis(path).values == {"uptime_ratio": 0.998}


@pytest.mark.parametrize(("text", "message"), [
    ("kpis:\n  heavy_task_sucess_rate: 0.97\n",
     "kpis.heavy_task_sucess_rate is not a KPI of seed 001 (did you mean 'heavy_task_success_rate'?)"),
    ("kpis:\n  uptime_ratio: 99.8\n", "kpis.uptime_ratio must be a fraction between 0 and 1 (0.97, not 97)"),
    ("kpis:\n  audit_score: -1\n", "kpis.audit_score must be not negative"),
    ("kpis:\n  audit_score: yes\n", "kpis.audit_score must be a finite number, given True"),
    ("kpis:\n  audit_score: .nan\n", "kpis.audit_score must be a finite number"),
    ("kpis:\n  audit_score: '96'\n", "kpis.audit_score must be a finite number, given '96'"),
    ("kpis: {}\n", "names no KPI under 'kpis'"),
    ("- 1\n- 2\n", "must be a mapping with a 'kpis' mapping"),
    ("kpis:\n  audit_score: 96\nwindows: W47\n", "unknown top-level keys ['windows']"),
    ("kpis: [audit_score\n", "is not valid YAML or JSON"),
    ("kpis:\n  audit_score: 96\nwindow: [1]\n", "window must be a string"),
])
def test_bad_files_are_refused_naming_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(KpiFileError) as refused:
        load_kpis(path)
    assert str(path) in str(refused.value)
    assert message in str(refused.value)


def test_a_missing_file_says_how_to_pass_one(tmp_path: Path) -> None:
    with pytest.raises(KpiFileError, match=r"cannot read the KPI file .*absent.yaml: No such file or directory; "
                                           r"pass an existing YAML or JSON file with --spine-kpis PATH"):
        load_kpis(tmp_path / "absent.yaml")


def test_the_thresholds_are_seed_001s() -> None:
    assert [k.threshold for k in KPIS] == [">= 96 %", "<= 15 %", "< 90 s", ">= 90 %", ">= 99.7 %", "< 60 min/day",
                                           ">= 95"]
    assert BY_NAME["heavy_task_success_rate"].meets(0.96) and not BY_NAME["heavy_task_success_rate"].meets(0.9599)
    assert BY_NAME["approve_to_resume_p95_s"].meets(89.9) and not BY_NAME["approve_to_resume_p95_s"].meets(90)
    assert BY_NAME["human_intervention_ratio"].meets(0.15) and not BY_NAME["human_intervention_ratio"].meets(0.16)
    assert BY_NAME["uptime_ratio"].meets(0.997) and not BY_NAME["uptime_ratio"].meets(0.9969)
    assert BY_NAME["operator_active_minutes_per_day"].meets(59) and not BY_NAME[
        "operator_active_minutes_per_day"].meets(60)
    assert BY_NAME["audit_score"].meets(95) and not BY_NAME["audit_score"].meets(94.9)
    assert BY_NAME["outcome_consistency_ratio"].meets(0.9) and not BY_NAME["outcome_consistency_ratio"].meets(0.89)


def test_the_evidence_schema_names_exactly_these_kpis() -> None:
    import json

    from pytest_spine.evidence.schemas import schema_path_for

    schema = json.loads(schema_path_for("operate/kpis.json").read_text())
    assert schema["properties"]["kpis"]["propertyNames"]["enum"] == [k.name for k in KPIS]
    assert issubclass(KpiFileError, ConfigError)  # one error tree: a usage problem like any other option's
