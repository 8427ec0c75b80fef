"""The packaged scenario and invariant items, run as a user runs them (pytester subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def _bundle(pytester: pytest.Pytester) -> Path:
    runs = list((pytester.path / "reports" / "evidence" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_dry_run_prints_the_plan_and_touches_nothing(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=reference", "--spine-dry-run", "-k", "test_scenario",
                                           "--spine-scenario=CH-PUBLISH-AMBIGUITY", "-rs", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*CH-PUBLISH-AMBIGUITY-seed=3*",
        "*fault      ack-lost: fault point bus.produce.after_append: raise publish_timeout for 3 hit(s)*",
        "*gate       P7-no_publish_ambiguity must FAIL*",
        "*NOT_APPLICABLE: dry run: CH-PUBLISH-AMBIGUITY-seed=3 validated and planned*",
    ])
    assert not list(_bundle(pytester).glob("scenarios/*"))


def test_a_bad_scenario_file_fails_alone_and_the_others_run(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "CH-S3-FAULTS.yaml").write_text("id: CH-S3-FAULTS\nworkload: {generator: nope\n",
                                                 encoding="utf-8")
    result = pytester.runpytest_subprocess(
        "--spine-env=reference", "--spine-profile=pr", "-k", "test_scenario and (PUBLISH or invalid)",
        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*invalid:CH-S3-FAULTS.yaml*scenarios/CH-S3-FAULTS.yaml: at line 3 column 1: "
                                 "not valid YAML*"])
    bundle = _bundle(pytester)
    result_doc = json.loads((bundle / "scenarios" / "CH-PUBLISH-AMBIGUITY-seed=3" / "result.json").read_text())
    assert result_doc["status"] == "PASS"
    assert result_doc["history"]["truncated"] is False
    timeline = json.loads((bundle / "scenarios" / "CH-PUBLISH-AMBIGUITY-seed=3" / "timeline.json").read_text())
    assert [e["action"] for e in timeline["events"]] == ["inject", "rollback"]
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["CH-PUBLISH-AMBIGUITY-seed=3/steady-state-after"]["status"] == "PASS"
    assert verdicts["CH-PUBLISH-AMBIGUITY-seed=3/rollback"]["status"] == "PASS"
    figures = json.loads((bundle / "figures.json").read_text())["figures"]
    assert figures["publish_ambiguous"] >= 1


@pytest.mark.slow
def test_invariants_and_a_scenario_fail_on_a_mutant(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--spine-env=reference", "--spine-profile=pr", "--spine-mutant=silent_degrade",
        "-k", "INV-EXPLICIT-DEGRADE or CH-LATE-CONTEXT or INV-DEDUPE-IDENTITY", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*FAIL: INV-EXPLICIT-DEGRADE*", "*replay with: --spine-seed=*"])
    verdicts = {v["id"]: v["status"] for v in
                json.loads((_bundle(pytester) / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["INV-EXPLICIT-DEGRADE"] == "FAIL"
    assert verdicts["CH-LATE-CONTEXT"] == "FAIL"
    assert verdicts["INV-DEDUPE-IDENTITY"] == "PASS"


def test_ready_before_stream_is_exercised_and_kills_its_mutant(pytester: pytest.Pytester) -> None:
    clean = pytester.runpytest_subprocess("--spine-env=reference", "-k", "INV-READY-BEFORE-STREAM",
                                          "-p", "no:cacheprovider", "--spine-evidence-dir=clean")
    clean.assert_outcomes(passed=1)
    broken = pytester.runpytest_subprocess("--spine-env=reference", "-k", "INV-READY-BEFORE-STREAM",
                                           "--spine-mutant=stream_without_ready", "-p", "no:cacheprovider",
                                           "--spine-evidence-dir=broken")
    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(["*FAIL: INV-READY-BEFORE-STREAM: WSP started streaming run *"])
