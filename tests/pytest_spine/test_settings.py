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


def test_dev_min_without_a_registry_is_refused_before_any_test(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--spine-env=dev_min", "-p", "no:cacheprovider",
                                           f"--spine-evidence-dir={pytester.path / 'reports'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --spine-env=dev_min needs --spine-handles PATH*"])
    assert not (pytester.path / "reports").exists()


def test_a_target_that_does_not_start_is_tried_once_and_blocks_every_check(pytester: pytest.Pytester,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable broker: the first test shows the whole failure, every other check is BLOCKED naming it in a
    line (not started again, so the run costs one timeout, not one per test), and the decision is No-Go."""
    import json

    import yaml

    from pytest_spine.handles import default_registry_path

    document = yaml.safe_load(default_registry_path().read_text())
    document["environment"] = "dev_min"
    document["kafka"] = {"KAFKA_BOOTSTRAP": "127.0.0.1:1", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    document["aws"] = {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_REGION": "us-east-1"}
    document["platform"] = {"event_classes": {"traffic_fraud": "FP_BUS_TRAFFIC_FRAUD_V1"},
                            "lanes": {"RTDL_CORE_CONSUMER_GROUP_ID": {"inputs": ["FP_BUS_TRAFFIC_FRAUD_V1"],
                                                                      "output": "FP_BUS_RTDL_V1"}}}
    registry = pytester.path / "dead.yaml"
    registry.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "spine-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "spine-test-secret")
    monkeypatch.setenv("SPINE_IG_API_KEY", "spine-test-key")
    evidence = pytester.path / "reports"
    result = pytester.runpytest_subprocess("--spine-env=dev_min", f"--spine-handles={registry}", "-m",
                                           "spine_gate or spine_security", "-p", "no:cacheprovider",
                                           f"--spine-evidence-dir={evidence}")
    assert result.ret == 1
    output = result.stdout.str()
    assert output.count("E   pytest_spine.errors.EnvironmentFault: dev_min: the broker of handle KAFKA_BOOTSTRAP "
                        "(127.0.0.1:1) is not usable") <= 1  # the one real attempt, shown whole at most once
    assert "Connection refused" not in output + result.stderr.str()  # librdkafka's log goes to logging
    # Items that use the target directly fail in one line naming the first failure.
    result.stdout.fnmatch_lines(["BLOCKED: the dev_min target did not start, so this was not checked (not retried)*"])
    bundle = next((evidence / "evidence" / "runs").iterdir())
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["P0-topics_exist"]["status"] == "BLOCKED"
    assert "127.0.0.1:1" in verdicts["P(-1)-image_in_registry"]["reason"]
    assert {v["status"] for v in verdicts.values() if v["kind"] == "gate"} == {"BLOCKED"}
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["gate_decision"]["decision"] == "No-Go"
