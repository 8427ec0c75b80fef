from __future__ import annotations

import json

import pytest

from pytest_spine.cli import main
from pytest_spine.commands.mutants import SuiteRun, kill_matrix


def test_kill_matrix_counts_only_checks_that_pass_on_the_baseline() -> None:
    baseline = SuiteRun("(baseline)", 0, 1.0, {"INV-A": "PASS", "CH-B": "PASS", "P7-x": "FAIL", "INV-C": "PASS"})
    runs = [
        SuiteRun("m1", 1, 1.0, {"INV-A": "FAIL", "CH-B": "PASS", "P7-x": "FAIL", "INV-C": "PASS"}),
        SuiteRun("m2", 1, 1.0, {"INV-A": "PASS", "CH-B": "UNKNOWN", "P7-x": "FAIL", "INV-C": "PASS"}),
        SuiteRun("m3", 0, 1.0, {"INV-A": "PASS", "CH-B": "PASS", "P7-x": "FAIL", "INV-C": "PASS"}),
    ]
    matrix = kill_matrix(baseline, runs)
    assert matrix["mutants"]["m1"]["failed_checks"] == ["INV-A"]
    assert matrix["mutants"]["m2"]["failed_checks"] == ["CH-B"]
    assert matrix["survivors"] == ["m3"]
    assert matrix["score"] == pytest.approx(2 / 3)
    assert matrix["laws_without_kill"] == ["INV-C"]
    assert matrix["baseline_failures"] == ["P7-x"]
    assert matrix["killers"] == {"CH-B": ["m2"], "INV-A": ["m1"]}


def test_a_law_not_applicable_on_the_reference_is_listed_apart_not_as_killing_nothing() -> None:
    baseline = SuiteRun("(baseline)", 0, 1.0, {"INV-A": "PASS", "CH-BROKER-PARTITION": "NOT_APPLICABLE"})
    runs = [SuiteRun("m1", 1, 1.0, {"INV-A": "FAIL", "CH-BROKER-PARTITION": "NOT_APPLICABLE"})]
    matrix = kill_matrix(baseline, runs)
    assert matrix["laws_without_kill"] == []
    assert matrix["not_applicable_on_reference"] == ["CH-BROKER-PARTITION"]
    assert matrix["score"] == 1.0


def test_a_mutant_only_network_checks_can_kill_is_listed_apart_not_as_a_survivor() -> None:
    baseline = SuiteRun("(baseline)", 0, 1.0, {"INV-A": "PASS", "CH-S3-FAULTS": "NOT_APPLICABLE"})
    runs = [SuiteRun("net", 0, 1.0, {"INV-A": "PASS", "CH-S3-FAULTS": "NOT_APPLICABLE"}),
            SuiteRun("plain", 0, 1.0, {"INV-A": "PASS", "CH-S3-FAULTS": "NOT_APPLICABLE"})]
    matrix = kill_matrix(baseline, runs, {"net": ("CH-S3-FAULTS/fail_closed",), "plain": ("INV-A",)})
    assert matrix["mutants_measured_elsewhere"] == ["net"]
    assert matrix["survivors"] == ["plain"] and matrix["total"] == 1


def test_list_names_the_spine_mutants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", "list", "--json"]) == 0
    names = {m["name"] for m in json.loads(capsys.readouterr().out)["mutants"]}
    assert {"dedupe_ignores_run_id", "ack_before_write", "silent_degrade", "reporter_without_lock"} <= names


def test_run_rejects_an_unknown_mutant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", "run", "--only", "no_such_mutant"]) == 2
    assert "unknown mutant(s) no_such_mutant" in capsys.readouterr().err


@pytest.mark.slow
def test_run_kills_a_mutant_through_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["mutants", "run", "--only", "silent_degrade", "--jobs", "2", "--json",
                 "--select", "CH-LATE-CONTEXT or INV-EXPLICIT-DEGRADE"])
    matrix = json.loads(capsys.readouterr().out)
    assert code == 0
    row = matrix["mutants"]["silent_degrade"]
    assert row["killed"] is True
    assert {"INV-EXPLICIT-DEGRADE", "CH-LATE-CONTEXT"} <= set(row["failed_checks"])
    assert matrix["score"] == 1.0
