from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.gates.secret_scan import ScanReport, scan
from pytest_spine.gates.security import (
    SEC_CHECKS,
    SEC_IDS,
    SECURITY_MUTANT_KILLS,
    THETA03_GATES,
    evaluate,
    expected_admitted,
    refuse_insecure,
    sec_check,
    theta03_table,
)
from pytest_spine.targets.reference_security import DRILLS, run_drill
from pytest_spine.verdicts import Status, Verdict, passed
from reference_impl.security import SECURITY_MUTANTS

# Smaller floods than the suite's, with a lower replay-window cap so the memory bound still bites.
SMALL: dict[str, dict[str, Any]] = {
    "SEC-REPLAY-REJECT": {"replays": 1500, "memory_nonces": 40_000, "memory_cap": 4096, "measure_bytes": False},
    "SEC-PAYLOAD-CAP": {"examples": 120},
}


def verdict_of(check_id: str, tmp_path: Path, mutant: str | None = None, seed: int = 3) -> Verdict:
    result = run_drill(check_id, seed=seed, mutant=mutant, **SMALL.get(check_id, {}))
    report = None
    if check_id == "SEC-NO-SECRETS-IN-EVIDENCE":
        folder = tmp_path / f"bundle-{mutant}"
        folder.mkdir()
        (folder / "layer.json").write_text(json.dumps(result.observation))
        report = scan([folder], result.canaries)
    return evaluate(check_id, result.observation, result.operations, report, memory_nonces_min=40_000)


def test_every_catalogue_id_has_a_check_and_a_drill() -> None:
    assert set(SEC_CHECKS) == set(SEC_IDS) == set(DRILLS)


@pytest.mark.parametrize("check_id", SEC_IDS)
def test_every_check_passes_on_the_reference(check_id: str, tmp_path: Path) -> None:
    verdict = verdict_of(check_id, tmp_path)
    assert verdict.status is Status.PASS, verdict.reason
    assert verdict.kind == "security"


@pytest.mark.parametrize(("mutant", "check_id"), sorted(SECURITY_MUTANT_KILLS.items()))
def test_every_security_mutant_is_killed_by_its_check(mutant: str, check_id: str, tmp_path: Path) -> None:
    verdict = verdict_of(check_id, tmp_path, mutant)
    assert verdict.status is Status.FAIL, f"{mutant} survived {check_id}: {verdict.reason}"


def test_the_kill_table_covers_every_mutant_and_every_check() -> None:
    assert set(SECURITY_MUTANT_KILLS) == set(SECURITY_MUTANTS)
    assert set(SECURITY_MUTANT_KILLS.values()) == set(SEC_IDS)


def test_measured_figures_are_exact_on_the_reference(tmp_path: Path) -> None:
    rate = verdict_of("SEC-RATE-LIMIT", tmp_path).figures
    assert (rate["rate_burst_admitted"], rate["rate_burst_expected"]) == (100, 100)
    assert rate["rate_sustained_admitted"] == rate["rate_sustained_expected"] == 299
    assert rate["rate_trickle_admitted"] == 150
    replay = verdict_of("SEC-REPLAY-REJECT", tmp_path).figures
    assert replay["replay_rejection_ratio"] == 1.0 and replay["replay_attempts"] == 1500
    assert replay["replay_window_peak_entries"] <= replay["replay_window_bound_entries"] == 4096
    quarantine = verdict_of("SEC-QUARANTINE-REACTION", tmp_path).figures
    assert quarantine["quarantine_reaction_s"] == pytest.approx(0.6)
    assert quarantine["quarantine_release_after_s"] >= 30


def test_no_replay_window_mutant_is_measured_not_just_failed(tmp_path: Path) -> None:
    verdict = verdict_of("SEC-REPLAY-REJECT", tmp_path, "no_replay_window")
    assert verdict.figures["replay_rejection_ratio"] < 0.999
    assert verdict.counterexample and verdict.counterexample[0]["f"] == "control_admit"


def test_unbounded_memory_mutant_reports_the_growth(tmp_path: Path) -> None:
    verdict = verdict_of("SEC-REPLAY-REJECT", tmp_path, "unbounded_replay_memory")
    assert "over its bound of 4096" in verdict.reason
    assert verdict.figures["replay_window_peak_entries"] > 4096


@pytest.mark.parametrize("check_id", SEC_IDS)
def test_missing_evidence_is_a_fail_never_a_skip(check_id: str) -> None:
    for observation in (None, {}, {"seed": 1}):
        verdict = evaluate(check_id, observation, [])
        assert verdict.status is Status.FAIL
        assert "evidence" in verdict.reason or "nothing" in verdict.reason or "no " in verdict.reason


def test_a_memory_flood_smaller_than_required_fails(tmp_path: Path) -> None:
    result = run_drill("SEC-REPLAY-REJECT", seed=1, **SMALL["SEC-REPLAY-REJECT"])
    verdict = evaluate("SEC-REPLAY-REJECT", result.observation, result.operations)
    assert verdict.status is Status.FAIL and "needs 1000000" in verdict.reason


def test_a_replay_flood_too_small_to_measure_fails() -> None:
    result = run_drill("SEC-REPLAY-REJECT", seed=1, originals=50, replays=100, memory_nonces=10,
                       measure_bytes=False)
    verdict = evaluate("SEC-REPLAY-REJECT", result.observation, result.operations, memory_nonces_min=10)
    assert verdict.status is Status.FAIL and "at least 1000" in verdict.reason


@pytest.mark.parametrize(("arrivals", "burst", "rate", "expected"), [
    ([0] * 1000, 100, 10.0, 100),
    ([i * 100_000 for i in range(150)], 100, 10.0, 150),
    ([i * 50_000 for i in range(400)], 100, 10.0, 100 + 199),  # 20/s for 20 s: 100 + 10/s * 19.95 s
    ([0, 0, 0, 1_000_000, 1_000_000], 2, 1.0, 3),
    ([0, 0, 0, 250_000, 500_000, 750_000, 1_000_000], 1, 4.0, 5),
])
def test_token_bucket_oracle(arrivals: list[int], burst: int, rate: float, expected: int) -> None:
    assert expected_admitted(arrivals, burst, rate) == expected


def test_gate_runs_refuse_insecure_mode() -> None:
    refused = refuse_insecure({"insecure": True})
    assert refused is not None and refused.status is Status.FAIL and "insecure" in refused.reason
    assert refuse_insecure({"insecure": False}) is None
    result = run_drill("SEC-INSECURE-FLAG", seed=1)
    verdict = evaluate("SEC-INSECURE-FLAG", {**result.observation, "run_insecure": True}, result.operations)
    assert verdict.status is Status.FAIL and "refuse" in verdict.reason


def test_secret_check_needs_a_scan_with_canaries_and_files() -> None:
    empty = ScanReport(0, 0, 0, (), ())
    assert evaluate("SEC-NO-SECRETS-IN-EVIDENCE", {"layer": {}}, [], empty).status is Status.FAIL
    unreadable = ScanReport(3, 10, 2, (), ("x: permission denied",))
    assert evaluate("SEC-NO-SECRETS-IN-EVIDENCE", {"layer": {}}, [], unreadable).status is Status.FAIL


def test_theta03_table_maps_verdicts_and_fails_missing_ones() -> None:
    rows = theta03_table([passed("SEC-UNSIGNED-REJECTED", "security", "ok"),
                          Verdict("SEC-REPLAY-REJECT", "security", Status.FAIL, "ratio 0.5")])
    by_gate = {row["gate"]: row for row in rows}
    assert [row["gate"] for row in rows] == [g.gate for g in THETA03_GATES]
    assert by_gate["Unsigned Control"]["status"] == "PASS"
    assert by_gate["Replay Rejection"]["status"] == "FAIL"
    assert by_gate["Anomaly Reaction"]["status"] == "FAIL"
    assert "missing evidence" in by_gate["Anomaly Reaction"]["reason"]
    assert by_gate["Release Health"]["status"] == "NOT_APPLICABLE" and by_gate["Release Health"]["reason"]


def test_sec_check_misuse_fails_when_defined() -> None:
    with pytest.raises(ValueError, match="MISSION catalogue"):
        sec_check("SEC-NOPE", "t", "x")
    with pytest.raises(ValueError, match="two checks"):
        sec_check("SEC-SIG-TAMPER", "t", "x")
