from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_spine.telemetry.history_gates import (
    HIST_CONSECUTIVE,
    HIST_ERROR_BUDGET,
    HIST_FLAKE,
    HIST_SLO_WINDOW,
    HistoryPolicy,
    evaluate_history,
    pillar_of,
)
from pytest_spine.telemetry.run_records import (
    LocalStore,
    RunHistoryError,
    RunRecord,
    open_store,
    record_from_bundle,
    record_from_junit,
)
from pytest_spine.verdicts import Status

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def runs(outcomes: list[dict[str, str]], spacing: float = 3600.0,
         kinds: dict[str, str] | None = None) -> list[RunRecord]:
    return [RunRecord(f"run-{i:02d}", T0 + i * spacing, o, kinds or {}) for i, o in enumerate(outcomes)]


def status(records: list[RunRecord], check: str, policy: HistoryPolicy | None = None) -> Status:
    return evaluate_history(records, policy).verdict(check).status


def test_a_clean_history_passes_every_gate() -> None:
    report = evaluate_history(runs([{"P7-x": "pass", "SEC-A": "pass"}] * 20))
    assert [v.status for v in report.verdicts] == [Status.PASS] * 4
    assert report.figures()["flake_rate_max"] == 0.0 and report.no_go is False


def test_mutant_flaky_test_at_3_of_20_fails_g4() -> None:
    seq = ["pass"] * 20
    for i in (2, 9, 15):
        seq[i] = "fail"
    report = evaluate_history(runs([{"INV-DEDUPE-IDENTITY": o, "P7-x": "pass"} for o in seq]))
    flake = report.verdict(HIST_FLAKE)
    assert flake.status is Status.FAIL
    assert "INV-DEDUPE-IDENTITY 3/20 (15.0%)" in flake.reason
    assert flake.counterexample[0]["flaky_run_ids"] == ["run-02", "run-09", "run-15"]
    assert report.verdict(HIST_CONSECUTIVE).status is Status.PASS


def test_only_the_rolling_last_20_runs_count() -> None:
    seq = ["fail", "fail", "fail"] + ["pass"] * 20  # old flakes fall out of the window
    assert status(runs([{"T": o} for o in seq]), HIST_FLAKE) is Status.PASS
    assert status(runs([{"T": o} for o in seq]), HIST_FLAKE, HistoryPolicy(window_runs=23)) is Status.FAIL


def test_retried_passes_in_one_run_are_flakes() -> None:
    seq = [{"T": "pass"}] * 19 + [{"T": "flaky"}]
    report = evaluate_history(runs(seq))
    assert report.verdict(HIST_FLAKE).status is Status.FAIL
    assert report.figures()["flake_rate_max"] == 0.05


def test_mutant_three_consecutive_failures_of_a_required_check_is_no_go() -> None:
    seq = [{"chromium-smoke": "pass"}] * 5 + [{"chromium-smoke": "fail"}, {"chromium-smoke": "skip"},
                                              {"chromium-smoke": "fail"}, {"chromium-smoke": "fail"}]
    report = evaluate_history(runs(seq))
    verdict = report.verdict(HIST_CONSECUTIVE)
    assert verdict.status is Status.FAIL and report.no_go
    assert verdict.counterexample[0]["run_ids"] == ["run-05", "run-07", "run-08"]
    not_required = HistoryPolicy(required=("P*",))
    assert status(runs(seq), HIST_CONSECUTIVE, not_required) is Status.PASS
    two = seq[:-1]
    assert status(runs(two), HIST_CONSECUTIVE) is Status.PASS


def test_mutant_two_consecutive_days_of_slo_miss_in_one_pillar_is_no_go() -> None:
    day1 = [{"SEC-REPLAY-REJECT": "fail", "P7-x": "pass"}]
    day2 = [{"SEC-REPLAY-REJECT": "fail", "P7-x": "pass"}]
    records = [RunRecord("a", T0, day1[0]), RunRecord("b", T0 + DAY, day2[0])]
    report = evaluate_history(records)
    verdict = report.verdict(HIST_SLO_WINDOW)
    assert verdict.status is Status.FAIL
    assert "security on 2026-01-01 and 2026-01-02" in verdict.reason
    apart = [RunRecord("a", T0, day1[0]), RunRecord("m", T0 + DAY, {"SEC-REPLAY-REJECT": "pass"}),
             RunRecord("b", T0 + 2 * DAY, day2[0])]
    assert status(apart, HIST_SLO_WINDOW) is Status.PASS
    assert [(d.pillar, d.day, d.miss) for d in evaluate_history(apart).days if d.pillar == "security"] == [
        ("security", "2026-01-01", True), ("security", "2026-01-02", False), ("security", "2026-01-03", True)]


def test_error_budget_burn_follows_g7() -> None:
    # 1 failure in 1000 executions over a 7-day window at a 99 % target burns 0.1/1 * 7/30 = 2.3 %.
    ok = [RunRecord(f"r{i}", T0 + i * 600, {f"CP-{j}": "pass" for j in range(100)}) for i in range(10)]
    ok[-1] = RunRecord("r9", T0 + 9 * 600, {**{f"CP-{j}": "pass" for j in range(99)}, "CP-99": "fail"})
    report = evaluate_history(ok)
    assert report.verdict(HIST_ERROR_BUDGET).status is Status.PASS
    assert report.budgets[0].burn == pytest.approx(0.001 / 0.01 * 7 / 30)
    burnt = [*ok[:-1], RunRecord("r9", T0 + 9 * 600, {f"CP-{j}": "fail" for j in range(20)})]
    verdict = evaluate_history(burnt).verdict(HIST_ERROR_BUDGET)
    assert verdict.status is Status.FAIL and "control_plane" in verdict.reason


def test_pillars_come_from_check_ids_and_history_checks_never_feed_themselves() -> None:
    policy = HistoryPolicy()
    assert pillar_of("SEC-REPLAY-REJECT", "security", policy) == "security"
    assert pillar_of("P(-1)-packaging", "gate", policy) == "spine"
    assert pillar_of("CP-STATE-LEGAL", "control_plane", policy) == "control_plane"
    assert pillar_of("tests.test_x::test_y", "junit", policy) == "ci"
    assert pillar_of("HIST-FLAKE", "history", policy) is None


def test_an_empty_history_is_an_error_not_a_pass(tmp_path: Path) -> None:
    with pytest.raises(RunHistoryError, match="holds no runs"):
        evaluate_history([], location=str(tmp_path))
    with pytest.raises(RunHistoryError, match="does not exist"):
        LocalStore(tmp_path / "absent").records()


def test_bundles_and_junit_files_become_records(bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    bundle = bundle_factory(verdicts=[("P7-x", "gate", "PASS"), ("SEC-A", "security", "NOT_APPLICABLE"),
                                      ("CP-B", "control_plane", "BLOCKED")])
    record = record_from_bundle(bundle)
    assert record.outcomes == {"P7-x": "pass", "SEC-A": "skip", "CP-B": "fail"}
    assert record.started_at == T0
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest" timestamp="2026-01-01T00:05:00">'
        '<properties><property name="platform_run_id" value="' + record.run_id + '"/></properties>'
        '<testcase classname="t.m" name="ok"/>'
        '<testcase classname="t.m" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="t.m" name="retried"><rerunFailure message="x"/></testcase>'
        '<testcase classname="t.m" name="skipped"><skipped/></testcase>'
        '</testsuite></testsuites>')
    merged = record.merged(record_from_junit(junit, record.run_id, record.started_at))
    assert merged.outcomes["t.m::ok"] == "pass" and merged.outcomes["t.m::bad"] == "fail"
    assert merged.outcomes["t.m::retried"] == "flaky" and merged.outcomes["t.m::skipped"] == "skip"
    with pytest.raises(RunHistoryError, match="mixed run ids"):
        record_from_junit(junit, "platform_other")


@pytest.mark.parametrize(("xml", "words"), [
    ("<testsuite><testcase", "not well-formed XML"),
    ("<report/>", "a JUnit file's root"),
    ('<testsuite name="x"><testcase name="a"/></testsuite>', "no timestamp"),
    ('<testsuites><testsuite timestamp="2026-01-01T00:00:00"><properties>'
     '<property name="platform_run_id" value="a"/></properties></testsuite>'
     '<testsuite timestamp="2026-01-01T00:00:00"><properties><property name="platform_run_id" value="b"/>'
     '</properties></testsuite></testsuites>', "several platform_run_id"),
])
def test_bad_junit_files_are_named(tmp_path: Path, xml: str, words: str) -> None:
    path = tmp_path / "j.xml"
    path.write_text(xml)
    with pytest.raises(RunHistoryError, match=words) as caught:
        record_from_junit(path)
    assert str(path) in str(caught.value)


def test_a_bundle_whose_run_id_disagrees_with_its_folder_is_refused(bundle_factory: Callable[..., Path]) -> None:
    bundle = bundle_factory(run_id="platform_a")
    bundle.rename(bundle.parent / "platform_b")
    with pytest.raises(RunHistoryError, match="mixed run ids"):
        record_from_bundle(bundle.parent / "platform_b")


def test_the_local_store_adds_once_and_reads_bundles_and_junit_beside(
        bundle_factory: Callable[..., Path], tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "history")
    first = record_from_bundle(bundle_factory(run_id="platform_1"))
    written = Path(store.add(first))
    assert written.name == "20260101T000000000000Z__platform_1.run.json"
    with pytest.raises(RunHistoryError, match="already in the history"):
        store.add(first)
    assert [p.name for p in (tmp_path / "history").iterdir()] == [written.name]  # nothing half-written
    bundle_factory(run_id="platform_2", written_at="2026-01-02T00:00:00Z").parent.parent.parent.rename(
        tmp_path / "history" / "raw-bundle")
    (tmp_path / "history" / "ci.xml").write_text(
        '<testsuite timestamp="2026-01-03T00:00:00"><testcase classname="a" name="b"/></testsuite>')
    assert [r.run_id for r in store.records()] == ["platform_1", "platform_2", "ci"]


def test_a_corrupt_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.run.json").write_text('{"history_record_version": 9}')
    with pytest.raises(RunHistoryError, match="history_record_version: 9"):
        LocalStore(tmp_path).records()
    (tmp_path / "x.run.json").write_text("{")
    with pytest.raises(RunHistoryError, match="line 1, column 2"):
        LocalStore(tmp_path).records()


def test_the_s3_store_round_trips_records(bundle_factory: Callable[..., Path]) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="spine-history")
        store = open_store("s3://spine-history/nightly", s3_client=client)
        record = record_from_bundle(bundle_factory(run_id="platform_s3"))
        assert store.add(record) == "s3://spine-history/nightly/20260101T000000000000Z__platform_s3.run.json"
        with pytest.raises(RunHistoryError, match="already in the history"):
            store.add(record)
        assert [r.outcomes for r in store.records()] == [record.outcomes]
        with pytest.raises(RunHistoryError, match="cannot list objects"):
            open_store("s3://no-such-bucket/x", s3_client=client).records()


def test_per_pillar_slo_targets_and_junit_tests_count_toward_ci() -> None:
    records = [RunRecord(f"r{i}", T0 + i * DAY, {"e2e::smoke": "fail" if i in (1, 2) else "pass"},
                         {"e2e::smoke": "junit"}) for i in range(4)]
    report = evaluate_history(records)
    assert report.verdict(HIST_SLO_WINDOW).status is Status.FAIL
    assert "ci on 2026-01-02 and 2026-01-03" in report.verdict(HIST_SLO_WINDOW).reason
    lenient = HistoryPolicy(slo_targets={"ci": 0.0}, budget_limit=10.0)
    assert [v.status for v in evaluate_history(records, lenient).verdicts][2:] == [Status.PASS, Status.PASS]


def test_xdist_parts_of_a_bundle_are_read_with_the_controllers_verdicts(bundle_factory: Callable[..., Path]) -> None:
    bundle = bundle_factory(run_id="platform_x", verdicts=[("P7-x", "gate", "PASS")])
    part = bundle / "parts" / "gw1"
    part.mkdir(parents=True)
    doc = {"platform_run_id": "platform_x", "written_at_utc": "2026-01-01T00:00:00Z", "schema_version": 1,
           "verdicts": [{"id": "SEC-A", "kind": "security", "status": "FAIL"},
                        {"id": "P7-x", "kind": "gate", "status": "FAIL"}]}
    (part / "verdicts.json").write_text(json.dumps(doc))
    assert record_from_bundle(bundle).outcomes == {"P7-x": "flaky", "SEC-A": "fail"}
    (part / "verdicts.json").write_text(json.dumps({**doc, "platform_run_id": "platform_y"}))
    with pytest.raises(RunHistoryError, match="mixed run ids"):
        record_from_bundle(bundle)
