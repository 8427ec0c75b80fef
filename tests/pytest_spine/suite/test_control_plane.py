"""Whole pytest sessions of the packaged control-plane items against the reference target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.invariants.control_plane import CP_IDS
from pytest_spine.invariants.registry import registered

# In-process pytester runs drop the modules they imported; every checker family must already be loaded out
# here, or the second run would register its checkers a second time.
registered()


def run_cp(pytester: pytest.Pytester, *args: str) -> tuple[Any, Path]:
    evidence = pytester.path / "reports"
    result = pytester.runpytest("--spine-env=reference", f"--spine-evidence-dir={evidence}", "-k",
                                "test_control_plane", "-p", "no:cacheprovider", "--spine-seed=3", *args)
    [bundle] = sorted((evidence / "evidence" / "runs").iterdir())
    return result, bundle


def verdicts_of(bundle: Path) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}


def test_every_cp_item_and_the_v12_gate_pass_on_the_reference(pytester: pytest.Pytester) -> None:
    result, bundle = run_cp(pytester)
    verdicts = verdicts_of(bundle)
    assert {check: verdicts[check]["status"] for check in CP_IDS} == dict.fromkeys(CP_IDS, "PASS")
    assert verdicts["V12-GATE"]["status"] == "PASS"
    gate = json.loads((bundle / "control_plane" / "v12_gate.json").read_text())
    assert gate["status"] == "PASS" and gate["store"] == "memory"
    assert [row["key"] for row in gate["rows"]] == [
        "command_success_rate", "duplicate_heavy_executions", "control_invariants", "poll_timeout_recovery_rate",
        "mttr_minutes", "traceability_ratio"]
    assert gate["figures"]["duplicate_heavy_executions"] == 0
    assert gate["figures"]["traceability_ratio"] == 1.0
    assert gate["figures"]["mttr_minutes"] <= 10
    summary = json.loads((bundle / "control_plane" / "CH-RESTART-DURING-RUNNING" / "summary.json").read_text())
    assert summary["ops_status"]["stale_running"] == [] and summary["operations"] > 20
    assert (bundle / "control_plane" / "CP-BASELINE" / "history.jsonl.gz").is_file()
    result.assert_outcomes(passed=len(CP_IDS) + 1)


def test_a_mutant_fails_its_item_and_the_gate_with_a_counterexample(pytester: pytest.Pytester) -> None:
    result, bundle = run_cp(pytester, "--spine-mutant=dispatch_key_ignored")
    verdicts = verdicts_of(bundle)
    assert verdicts["CP-DISPATCH-IDEMPOTENT"]["status"] == "FAIL"
    assert verdicts["CP-DISPATCH-IDEMPOTENT"]["counterexample"]
    assert verdicts["V12-GATE"]["status"] == "FAIL"
    gate = json.loads((bundle / "control_plane" / "v12_gate.json").read_text())
    assert gate["figures"]["duplicate_heavy_executions"] > 0
    result.stdout.fnmatch_lines(["*FAIL: CP-DISPATCH-IDEMPOTENT: CH-SUCCESS-THEN-REPORTING-FAILURE: dispatch*"])


def test_a_database_that_is_down_is_an_environment_fault(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPINE_CP_STORE", "postgres")
    monkeypatch.setenv("SPINE_POSTGRES_DSN", "postgresql://spine@127.0.0.1:9/postgres")  # nothing listens
    result, bundle = run_cp(pytester, "-k", "CP-STATE-LEGAL or v12")
    result.assert_outcomes(failed=2)  # BLOCKED stops the items, as a FAIL would, with its own status
    verdicts = verdicts_of(bundle)
    assert verdicts["CP-STATE-LEGAL"]["status"] == "BLOCKED"
    assert verdicts["CP-STATE-LEGAL"]["reason"].startswith("environment fault, not an invariant verdict: ")
    assert "cannot connect to PostgreSQL at postgresql://spine@127.0.0.1:9/postgres" in \
        verdicts["CP-STATE-LEGAL"]["reason"]
    assert verdicts["V12-GATE"]["status"] == "BLOCKED"


def test_with_a_soak_the_v12_gate_measures_the_soak_window_too(pytester: pytest.Pytester) -> None:
    # -k v12 leaves the soak item out: the gate item runs the session's soak window itself (one per session).
    result, bundle = run_cp(pytester, "-k", "v12", "--spine-soak=1s", "--spine-scenario=CH-POLL-TIMEOUT-BURST")
    result.assert_outcomes(passed=1)
    gate = json.loads((bundle / "control_plane" / "v12_gate.json").read_text())
    window = json.loads((bundle / "soak" / "soak_window.json").read_text())
    soak = gate["soak"]
    assert soak["document"] == "soak/soak_window.json"
    assert soak["iterations"] == len(window["iterations"]) >= 1
    assert soak["seeds"] == window["seeds"] and len(set(soak["seeds"])) == len(soak["seeds"])
    assert {i["scenario"] for i in window["iterations"]} == {"CH-POLL-TIMEOUT-BURST"}
    # The gate's counts are the baseline workloads' plus the window's: the window is inside the gate's figures.
    assert gate["figures"]["command_updates"] > window["figures"]["command_updates"] > 0
    assert gate["figures"]["poll_timeout_bursts"] > window["figures"]["poll_timeout_bursts"] > 0
    assert not [p.name for p in (bundle / "control_plane").iterdir() if p.name.startswith("CP-SOAK-")]
    assert "soak/soak_window.json" in verdicts_of(bundle)["V12-GATE"]["evidence"]
