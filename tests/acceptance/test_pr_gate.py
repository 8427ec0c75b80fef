"""The PR gate (docs/ci.md): ``--spine-profile=pr`` runs every gate, invariant and scenario with small workloads,
pytest's ``--junitxml`` carries the items, and the exit status is non-zero exactly when the decision is No-Go."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest


def run_pr(pytester: pytest.Pytester, *args: str) -> tuple[Any, Path, ET.Element]:
    evidence = pytester.path / "reports"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("--spine-env=reference", "--spine-profile=pr",
                                           f"--spine-evidence-dir={evidence}", f"--junitxml={junit}",
                                           "-p", "no:cacheprovider", *args)
    [bundle] = sorted((evidence / "evidence" / "runs").iterdir())
    return result, bundle, ET.parse(junit).getroot()


def test_the_pr_profile_collects_exactly_what_the_default_profile_does(pytester: pytest.Pytester) -> None:
    ids = {}
    for profile in ("default", "pr"):
        result = pytester.runpytest_subprocess("--spine-env=reference", f"--spine-profile={profile}", "-q",
                                               "--collect-only", f"--spine-evidence-dir={pytester.path / profile}",
                                               "-p", "no:cacheprovider")
        ids[profile] = sorted(line for line in result.stdout.lines if "::" in line)
    assert ids["pr"] == ids["default"] and len(ids["pr"]) > 100


def test_the_correct_reference_is_go_exits_0_and_the_junit_holds_the_gate_items(pytester: pytest.Pytester) -> None:
    result, bundle, junit = run_pr(pytester)
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*Gate decision: Go (exit status 0): all * checks that ran passed*"])
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    for name in ("test_gate[P7-receipts_reconcile]", "test_invariant[INV-DEDUPE-IDENTITY]",
                 "test_control_plane_v12_gate", "test_security[SEC-REPLAY-REJECT]", "test_security_theta03"):
        assert name in cases, sorted(cases)[:20]
    assert any(name.startswith("test_scenario[CH-REPLAY-FLOOD") for name in cases)
    suite = next(junit.iter("testsuite"))
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) == len(cases) > 100
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["gate_decision"]["decision"] == "Go" and status["exit_status"] == 0


def test_a_mutant_is_no_go_exits_1_and_says_why(pytester: pytest.Pytester) -> None:
    result, bundle, junit = run_pr(pytester, "--spine-mutant=dedupe_ignores_run_id")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*Gate decision: No-Go (exit status non-zero): * check(s) did not pass: *"])
    status = json.loads((bundle / "bundle_status.json").read_text())
    decision = status["gate_decision"]
    assert decision["decision"] == "No-Go"
    assert "INV-DEDUPE-IDENTITY FAIL" in decision["reasons"][0] or "P7-dedupe_identity" in decision["reasons"][0]
    assert int(next(junit.iter("testsuite")).get("failures") or 0) > 0


def test_a_failing_check_outside_the_selection_still_makes_it_no_go(pytester: pytest.Pytester) -> None:
    # Only P7-receipts_reconcile is selected and it passes on this mutant, but the phase run judged every P7
    # criterion and P7-dedupe_identity FAILs: the decision reads every verdict of the run, so the exit status is 1.
    result, bundle, _ = run_pr(pytester, "-m", "spine_gate", "-k", "P7-receipts_reconcile",
                               "--spine-mutant=dedupe_ignores_run_id")
    assert result.parseoutcomes()["passed"] == 1 and "failed" not in result.parseoutcomes()
    assert result.ret == 1
    verdicts = {v["id"]: v["status"] for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["P7-receipts_reconcile"] == "PASS" and verdicts["P7-dedupe_identity"] == "FAIL"
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["gate_decision"]["decision"] == "No-Go"
    assert "P7-dedupe_identity FAIL" in status["gate_decision"]["reasons"][0]
