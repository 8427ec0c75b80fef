"""Whole pytest sessions of the packaged suite against the reference target (pytest's own acceptance style).

The correct reference passes every gate and leaves a bundle ``spine evidence verify`` accepts; each mutant
fails the checks it declares it breaks (``reference_impl.mutants``), and later phases are reported BLOCKED.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.evidence.verify import verify_bundle
from reference_impl.mutants import MUTANTS


def run_gates(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> tuple[Any, Path]:
    evidence = pytester.path / "reports"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run("--spine-env=reference", f"--spine-evidence-dir={evidence}", "-m", "spine_gate",
                                "-p", "no:cacheprovider", *args)
    runs = sorted((evidence / "evidence" / "runs").iterdir())
    assert len(runs) == 1, runs
    return result, runs[0]


def verdicts_of(bundle: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((bundle / "verdicts.json").read_text())
    return {v["id"]: v for v in data["verdicts"]}


def test_reference_passes_every_gate_and_leaves_a_valid_bundle(pytester: pytest.Pytester) -> None:
    kpis = pytester.path / "kpis.yaml"
    kpis.write_text("window: 2026-W47\nkpis:\n  heavy_task_success_rate: 0.97\n  audit_score: 91\n")
    result, bundle = run_gates(pytester, "--spine-run-id=platform_accept_1", f"--spine-kpis={kpis}")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 45
    report = verify_bundle(bundle)
    assert report.ok, [str(p) for p in report.problems]
    assert report.spine_green
    verdicts = verdicts_of(bundle)
    assert verdicts["P7-receipts_reconcile"]["status"] == "PASS"
    assert verdicts["P(-1)-image_in_registry"]["status"] == "NOT_APPLICABLE"
    assert verdicts["P(-1)-image_in_registry"]["reason"]
    result.stdout.fnmatch_lines(["*Spine Green v0*", "*P7*INGEST_COMMITTED*PASS*", "*Spine Green v0: YES*"])
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["status"] == "complete" and status["spine_green"] is True
    # The operator's KPI figures are copied into the bundle and judged on the scorecard.
    copied = json.loads((bundle / "operate" / "kpis.json").read_text())
    assert copied["kpis"] == {"heavy_task_success_rate": 0.97, "audit_score": 91}
    assert copied["window"] == "2026-W47" and copied["source_file"] == "kpis.yaml"
    result.stdout.fnmatch_lines(["*Heavy task success*0.97*>= 96 %*PASS*operate/kpis.json#*",
                                 "*Audit score*91*>= 95*FAIL*operate/kpis.json#*"])


def test_a_partial_selection_is_never_called_spine_green(pytester: pytest.Pytester) -> None:
    result, bundle = run_gates(pytester, "-k", "P0- or P1-")
    assert result.ret == 0  # every check that ran passed: the gate decision is Go for what was selected
    result.stdout.fnmatch_lines(["*Spine Green v0: NO (no verdict for P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, *"])
    assert json.loads((bundle / "bundle_status.json").read_text())["spine_green"] is False


GATE_MUTANTS = sorted(name for name, m in MUTANTS.items() if any(b.startswith("P") for b in m.breaks))


@pytest.mark.parametrize("mutant", GATE_MUTANTS)
def test_each_mutant_fails_the_gates_it_breaks(pytester: pytest.Pytester, mutant: str) -> None:
    result, bundle = run_gates(pytester, f"--spine-mutant={mutant}")
    verdicts = verdicts_of(bundle)
    expected = [b for b in MUTANTS[mutant].breaks if b.startswith("P")]
    for check_id in expected:
        assert check_id in verdicts, f"{mutant} declares it breaks {check_id}, which is not a gate criterion"
        assert verdicts[check_id]["status"] in ("FAIL", "UNKNOWN"), (mutant, check_id, verdicts[check_id])
    assert result.ret != 0
    # Everything after the first failed phase is BLOCKED, never silently passed.
    assert verdicts["P12-evidence_preserved"]["status"] in ("BLOCKED", "FAIL", "PASS")
    assert verify_bundle(bundle).ok  # a failed run still leaves a faithful, sealed record


def test_every_gate_criterion_is_killed_by_some_mutant() -> None:
    from pytest_spine.gates.catalogue import all_criteria

    claimed = {b for m in MUTANTS.values() for b in m.breaks}
    # Observation-grounded criteria need a substrate the in-process reference does not expose: the independent
    # platform's defects kill them (tests/pytest_spine/targets/test_external.py asserts each kill).
    claimed |= {check for pair in _independent_platform_defects().values() for check in pair if check}
    not_applicable_in_process = {"P(-1)-image_in_registry", "P(-1)-image_ref_ready", "P0-forbidden_infra_absent",
                                 "P12-cloud_resources_destroyed"}
    unkilled = [c.check_id for c in all_criteria()
                if c.check_id not in claimed and c.check_id not in not_applicable_in_process]
    assert unkilled == []


def _independent_platform_defects() -> dict[str, tuple[str | None, str | None]]:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "independent_platform" / "defect_table.py"
    spec = importlib.util.spec_from_file_location("defect_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: dict[str, tuple[str | None, str | None]] = module.DEFECTS
    return table


def test_bad_options_are_usage_errors_listing_the_choices(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--spine-env=staging", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--spine-env must be one of reference, local_parity, dev_min*'staging'*"])
    result = pytester.runpytest("--spine-env=reference", "--spine-mutant=nope", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--spine-mutant must be one of *dedupe_ignores_run_id*'nope'*"])


def test_existing_run_id_is_refused_before_any_test_and_left_untouched(pytester: pytest.Pytester) -> None:
    evidence = pytester.path / "reports"
    existing = evidence / "evidence" / "runs" / "platform_taken"
    existing.mkdir(parents=True)
    (existing / "run.json").write_text("{}")
    result = pytester.runpytest("--spine-env=reference", f"--spine-evidence-dir={evidence}",
                                "--spine-run-id=platform_taken", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*already has an evidence bundle*left untouched*"])
    assert (existing / "run.json").read_text() == "{}"
    assert sorted(p.name for p in existing.iterdir()) == ["run.json"]


def test_unwritable_evidence_dir_is_refused(pytester: pytest.Pytester) -> None:
    blocker = pytester.path / "blocker"
    blocker.write_text("a file, not a directory")
    result = pytester.runpytest("--spine-env=reference", f"--spine-evidence-dir={blocker}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*not writable*--spine-evidence-dir*"])


def test_not_yet_available_targets_say_so(pytester: pytest.Pytester) -> None:
    from pytest_spine.errors import TargetUnavailable
    from pytest_spine.targets import create_target

    try:
        create_target("no_such_env")
    except TargetUnavailable as error:
        assert "choose one of reference, local_parity, dev_min" in str(error)
    else:
        raise AssertionError("an unknown target must be refused")


def test_interrupted_run_leaves_a_bundle_marked_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(interrupt_at_p8="""
        import pytest
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_call(item):
            if "P8" in item.nodeid:
                raise KeyboardInterrupt
    """)
    # A real process: an in-process run would hand the interrupt on to the outer session.
    result, bundle = run_gates(pytester, "-p", "interrupt_at_p8", subprocess=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    status = json.loads((bundle / "bundle_status.json").read_text())
    assert status["status"] == "incomplete"
    report = verify_bundle(bundle)
    assert "bundle_status.json" in [p.path for p in report.problems]
    # Beyond the incomplete mark, only the phases the run never reached are missing: nothing is corrupt.
    others = [p for p in report.problems if p.path != "bundle_status.json"]
    assert others and all("required by the evidence contract" in p.reason for p in others)
    assert not list(bundle.rglob(".*.tmp"))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert "run.json" in manifest["files"]
