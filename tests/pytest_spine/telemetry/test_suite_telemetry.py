"""Whole sessions of the packaged telemetry items against the reference target (pytester, in process)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from telemetry_builders import write_bundle

from pytest_spine.cli import main
from pytest_spine.telemetry.gatefile import PACKAGED_GATES_DIR
from pytest_spine.telemetry.run_records import LocalStore, record_from_bundle

# Each item runs the reference phase machine in a pytester session (seconds each on a shared machine).
pytestmark = pytest.mark.slow

PLANT_BAD_EVENTS = '''
import pytest

_done = []


@pytest.fixture(autouse=True, scope="module")  # before the module-scoped streams are read
def plant_bad_events(request):
    """Bad telemetry, recorded as if the platform emitted it: the suite's TEL checks must catch it."""
    if "test_telemetry" not in request.node.name or _done:
        return
    spine = request.getfixturevalue("spine")
    spine.ensure_phases()
    run_id = spine.run.platform_run_id
    record = spine.history.record
    record("evil", "ok", "event", name="billing.charge", category="ingest", version="1",
           platform_run_id=run_id, payload={})
    record("evil", "ok", "event", name="security.sig_fail", category="security", version=3,
           platform_run_id=run_id, trace_id="t-1", payload={})
    record("evil", "ok", "event", name="security.sig_fail", category="security", version=2,
           platform_run_id=run_id, trace_id=None, payload={"note": "AKIAQWERTYUIOPASDFGH"})
    _done.append(True)
'''

STORE_TRUNCATED_HISTORY = '''
import gzip, json

import pytest

_done = []


@pytest.fixture(autouse=True, scope="module")  # before the module-scoped streams are read
def store_truncated_history(request):
    """A scenario history the bundle cut at its size bound: the TEL items lint the stored part and say so."""
    if "test_telemetry" not in request.node.name or _done:
        return
    spine = request.getfixturevalue("spine")
    event = {"name": "security.sig_fail", "category": "security", "version": 1, "trace_id": "t",
             "platform_run_id": "platform_scenario", "scenario_run_id": None, "payload": {}}
    lines = [{"index": 0, "time": 1.0, "process": "gate", "type": "ok", "f": "event", "value": event},
             {"truncated": True, "kept": 1, "total": 5, "limit_bytes": 10}]
    data = "".join(json.dumps(line) + "\\n" for line in lines).encode()
    spine.bundle.put_bytes("scenarios/CH-FAKE-seed=1/history.jsonl.gz", gzip.compress(data))
    _done.append(True)
'''

USER_GATES = '''
gatefile_version: 1
gates:
  - id: MET-USER-P95
    title: user p95 under 1 s
    source: {kind: csv, file: samples.csv}
    metric: latency_s
    comparator: "<"
    threshold: 1
    window: {aggregate: p95}
'''


PACKAGED_GATE_IDS = ("MET-CONVERGENCE-1K", "MET-STABILIZE-P95", "MET-STABILIZE-P95-SAMPLES", "MET-REPLAY-REJECTION",
                    "MET-QUARANTINE-REACTION", "MET-UNSIGNED-ACCEPTED")


def run_suite(pytester: pytest.Pytester, *args: str) -> tuple[Any, Path]:
    evidence = pytester.path / "reports"
    result = pytester.runpytest("--spine-env=reference", f"--spine-evidence-dir={evidence}", "-m", "spine_telemetry",
                                "-p", "no:cacheprovider", *args)
    runs = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(runs) == 1, runs
    return result, runs[0]


def reports(bundle: Path) -> dict[str, dict[str, Any]]:
    return {p.parent.name: json.loads(p.read_text()) for p in (bundle / "telemetry").glob("*/report.json")}


def test_reference_telemetry_is_clean_and_packaged_gates_not_applicable(pytester: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPINE_HISTORY_DIR", raising=False)
    monkeypatch.delenv("SPINE_METRICS_DIR", raising=False)
    pytester.makeconftest(STORE_TRUNCATED_HISTORY)
    result, bundle = run_suite(pytester)
    found = reports(bundle)
    for check in ("TEL-TAXONOMY", "TEL-CORRELATION", "TEL-NO-PII"):
        assert found[check]["status"] == "PASS", found[check]["reason"]
        assert found[check]["events"] > 100 and found[check]["findings_total"] == 0
        assert found[check]["truncated_histories"] == [
            {"path": str(bundle / "scenarios/CH-FAKE-seed=1/history.jsonl.gz"), "kept": 1, "total": 5}]
        assert "cut at its size bound: CH-FAKE-seed=1 (1 of 5 operations)" in found[check]["reason"]
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    for gate in PACKAGED_GATE_IDS:
        # The reference has no simulator: packaged gates are not judged on example data.
        assert verdicts[gate]["status"] == "NOT_APPLICABLE", verdicts[gate]
        assert "no metrics dir is configured" in verdicts[gate]["reason"]
    families = {f["family"]: f for f in found["TEL-FAMILIES"]["families"]}
    assert families["ingest"]["events"] > 0
    # Only telemetry items ran (-m spine_telemetry): no check exercised any family, so G1 must fail.
    assert found["TEL-FAMILIES"]["status"] == "FAIL"
    assert "'ingest' is exercised by no check that ran" in found["TEL-FAMILIES"]["reason"]
    outcomes = result.parseoutcomes()
    assert outcomes["skipped"] == 4 + len(PACKAGED_GATE_IDS)  # no history, no metrics dir: NOT_APPLICABLE
    result.stdout.fnmatch_lines(["*test_telemetry*TEL-FAMILIES*"])
    assert verdicts["HIST-FLAKE"]["status"] == "NOT_APPLICABLE"
    assert "no run history is configured" in verdicts["HIST-FLAKE"]["reason"]
    # The commands work on the real bundle the run left.
    assert main(["events", "lint", str(bundle)]) == 0
    assert main(["export", str(bundle), "--format", "csv", "--out", str(pytester.path / "tables")]) == 0
    events_csv = (pytester.path / "tables" / "events.csv").read_text().splitlines()
    # The stored history also holds what was emitted after the TEL items ran (teardown at session end).
    assert len(events_csv) - 1 >= found["TEL-TAXONOMY"]["events"] and "ingest.admit" in "".join(events_csv)
    assert main(["history", "add", str(bundle), "--history-dir", str(pytester.path / "hist")]) == 0
    assert [r.run_id for r in LocalStore(pytester.path / "hist").records()] == [bundle.name]


def test_planted_bad_events_flaky_history_and_user_gates_fail_as_their_data_says(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytester.makeconftest(PLANT_BAD_EVENTS)
    (pytester.path / "gates").mkdir()
    (pytester.path / "gates" / "user.yaml").write_text(USER_GATES)
    (pytester.path / "gates" / "samples.csv").write_text("latency_s\n" + "0.2\n" * 90 + "3.0\n" * 10)
    store = LocalStore(tmp_path / "history")
    for i in range(20):
        status = "FAIL" if i in (4, 11, 17) else "PASS"
        bundle = write_bundle(tmp_path / f"b{i}", run_id=f"platform_past_{i:02d}",
                              verdicts=[("INV-DEDUPE-IDENTITY", "invariant", status)],
                              written_at=f"2026-01-01T{i:02d}:00:00Z")
        store.add(record_from_bundle(bundle))
    monkeypatch.setenv("SPINE_HISTORY_DIR", str(tmp_path / "history"))
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    shutil.copy(PACKAGED_GATES_DIR / "examples" / "simulator_metrics_slow.json", metrics / "simulator_metrics.json")
    monkeypatch.setenv("SPINE_METRICS_DIR", str(metrics))
    result, bundle = run_suite(pytester)
    found = reports(bundle)
    codes = {check: sorted(f["code"] for f in found[check]["findings"])
             for check in ("TEL-TAXONOMY", "TEL-CORRELATION", "TEL-NO-PII")}
    assert codes == {"TEL-TAXONOMY": ["unknown_name", "version_decreased"],
                     "TEL-CORRELATION": ["missing_correlation"],
                     "TEL-NO-PII": ["aws_access_key"]}
    assert all(found[c]["status"] == "FAIL" for c in codes)
    assert "AKIAQWERTYUIOPASDFGH" not in (bundle / "telemetry" / "TEL-NO-PII" / "report.json").read_text()
    assert found["MET-USER-P95"]["status"] == "FAIL"
    assert found["MET-USER-P95"]["figures"]["value"] == 3.0
    assert found["MET-CONVERGENCE-1K"]["status"] == "FAIL"  # the run's (slow) simulator metrics
    assert found["MET-CONVERGENCE-1K"]["figures"]["value"] == 41.7
    assert "no such metrics file" in found["MET-STABILIZE-P95-SAMPLES"]["reason"]  # configured but missing: FAIL
    assert found["HIST-FLAKE"]["status"] == "FAIL"
    assert found["HIST-FLAKE"]["history"]["flakes"][0]["flaky_runs"] == 3
    assert found["HIST-CONSECUTIVE"]["status"] == "PASS"
    result.stdout.fnmatch_lines(["*FAILED*test_metric_gate*MET-USER-P95*", "*FAILED*test_history*HIST-FLAKE*"])


def test_a_malformed_user_gate_file_is_one_failing_item_naming_it(pytester: pytest.Pytester) -> None:
    (pytester.path / "gates").mkdir()
    (pytester.path / "gates" / "broken.yaml").write_text(USER_GATES.replace('comparator: "<"', 'comparator: "~"'))
    result, bundle = run_suite(pytester, "-k", "test_metric_gate")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and "passed" not in outcomes
    verdicts = {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}
    assert verdicts["MET-GATEFILE-ERROR"]["status"] == "FAIL"
    result.stdout.fnmatch_lines(["*MET-GATEFILE-ERROR*gates/broken.yaml: at gates/0/comparator*"])
