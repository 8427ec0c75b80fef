"""CH-BROKER-PARTITION and CH-S3-FAULTS need network faults (Toxiproxy): on the in-process reference they are
reported NOT_APPLICABLE with that reason (never passed, never failed), and a dry run prints their plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
NETWORK = ("CH-BROKER-PARTITION", "CH-S3-FAULTS")


def _bundle(pytester: pytest.Pytester) -> Path:
    runs = list((pytester.path / "reports" / "evidence" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


def test_on_reference_they_are_not_applicable_with_the_reason(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=reference", "-k", "test_scenario", "-rs",
                                           *(f"--spine-scenario={s}" for s in NETWORK), "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*NOT_APPLICABLE: CH-BROKER-PARTITION is declared for local_parity, dev_min, not "
                                 "'reference': its faults are network faults (Toxiproxy*local_parity*"])
    bundle = _bundle(pytester)
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    for scenario_id in NETWORK:
        assert verdicts[scenario_id]["status"] == "NOT_APPLICABLE"
        assert "network faults (Toxiproxy" in verdicts[scenario_id]["reason"]
    assert not list(bundle.glob("scenarios/*"))  # nothing ran


def test_dry_run_prints_their_plans_on_reference(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=reference", "--spine-dry-run", "-k", "test_scenario", "-rs",
                                           *(f"--spine-scenario={s}" for s in NETWORK), "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines([
        "*CH-BROKER-PARTITION-seed=3*",
        "*workload   broker_partition(phases=5, events_per_phase=2, resend_rounds=2)*",
        "*fault      partition: Toxiproxy timeout on the bus link (downstream*active 60% -> 80% of the workload; "
        "rollback: remove_toxic (always)*",
        "*thresholds publish_ambiguous >= 1; unresolved == 0; lost_admitted == 0; double_admits == 0*",
    ])
    result.stdout.fnmatch_lines([
        "*CH-S3-FAULTS-seed=3*",
        "*fault      store-reset: Toxiproxy reset_peer on the object_store link (upstream*",
        "*thresholds writes_failed >= 1; failed_reported_pass == 0; fail_closed == 1; half_written == 0*",
    ])
    assert not list(_bundle(pytester).glob("scenarios/*"))


def test_on_local_parity_without_a_stack_the_run_is_refused_before_any_test(pytester: pytest.Pytester,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A stack that is not running fails closed before any test runs (a usage error naming the fix), never
    # NOT_APPLICABLE, and never a failure per test; nothing is written.
    monkeypatch.setenv("SPINE_STACK_DIR", str(pytester.path / "no-stack"))
    result = pytester.runpytest_subprocess("--spine-env=local_parity", "-k", "test_scenario",
                                           "--spine-scenario=CH-S3-FAULTS", "-p", "no:cacheprovider",
                                           f"--spine-evidence-dir={pytester.path / 'reports'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: no running local stack in *no-stack; start it with 'spine stack up --dir "
                                 "*no-stack' (or set SPINE_STACK_DIR)"])
    assert not (pytester.path / "reports").exists()
