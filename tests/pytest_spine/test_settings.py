"""--spine-mutant selects a broken reference: allowed where the reference runs (reference, local_parity), refused
with the reason on a live environment (dev_min)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_mutant_is_refused_on_dev_min_with_the_reason(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=dev_min", "--spine-mutant=ack_before_write",
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "ERROR: --spine-mutant selects a broken variant of the bundled reference implementation, which runs on "
        "reference or local_parity only; 'dev_min' is a live environment whose code the harness does not choose: "
        "drop --spine-mutant or use --spine-env=reference / --spine-env=local_parity"])


def test_a_mutant_is_accepted_on_local_parity(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # A dry run touches no stack: the options are read and the local_parity plan (a real SIGKILL) is printed.
    monkeypatch.setenv("SPINE_STACK_DIR", str(pytester.path / "no-stack"))
    result = pytester.runpytest_subprocess("--spine-env=local_parity", "--spine-mutant=ack_before_write",
                                           "--spine-dry-run", "-k", "test_scenario",
                                           "--spine-scenario=CH-CONSUMER-CRASH-BEFORE-COMMIT", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*fault      sigkill-before-write: SIGKILL the rtdl process when it reaches "
                                 "rtdl.before_state_write for the 2nd time*rollback: disarm_and_stop (always)*",
                                 "*--spine-mutant=ack_before_write*"])


def test_a_bad_kpi_file_is_refused_before_anything_is_written(pytester: pytest.Pytester) -> None:
    kpis = pytester.path / "kpis.yaml"
    kpis.write_text("kpis:\n  uptime: 0.999\n")
    evidence = pytester.path / "reports"
    result = pytester.runpytest_subprocess("--spine-env=reference", f"--spine-kpis={kpis}",
                                           f"--spine-evidence-dir={evidence}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: the KPI file {kpis}: kpis.uptime is not a KPI of seed 001 (did you mean "
                                 "'uptime_ratio'?)"])
    assert not evidence.exists()
