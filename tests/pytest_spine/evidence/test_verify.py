from __future__ import annotations

import json
from pathlib import Path

from pytest_spine.cli import main
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.evidence.verify import verify_bundle

GATE_FAIL = {"id": "P1-run_json_complete", "kind": "gate", "status": "FAIL", "reason": "no run.json"}


def _sealed(tmp_path: Path, verdicts: list[dict[str, object]], status: str = "complete") -> Path:
    bundle = EvidenceBundle.create(tmp_path, "platform_v")
    bundle.put("verdicts.json", {"verdicts": verdicts})
    bundle.seal(status, "test")
    return bundle.root


def test_a_failed_run_that_says_so_is_a_faithful_record(tmp_path: Path) -> None:
    root = _sealed(tmp_path, [GATE_FAIL])
    report = verify_bundle(root)
    assert report.ok, report.problems
    assert report.failed_phases == ("P1",)
    assert not report.spine_green


def test_missing_contract_file_of_a_passing_phase_is_named(tmp_path: Path) -> None:
    root = _sealed(tmp_path, [{"id": "P1-run_json_complete", "kind": "gate", "status": "PASS", "reason": "ok"}])
    report = verify_bundle(root)
    assert not report.ok
    assert any(p.path == "run.json" and "phase P1" in p.reason for p in report.problems)


def test_tampered_file_is_named_with_both_digests(tmp_path: Path) -> None:
    root = _sealed(tmp_path, [GATE_FAIL])
    (root / "verdicts.json").write_text((root / "verdicts.json").read_text().replace("no run.json", "edited"))
    problems = {p.path: p.reason for p in verify_bundle(root).problems}
    assert "manifest.json records" in problems["verdicts.json"]


def test_incomplete_bundle_fails_with_the_reason(tmp_path: Path) -> None:
    root = _sealed(tmp_path, [GATE_FAIL], status="incomplete")
    report = verify_bundle(root)
    assert [p.path for p in report.problems] == ["bundle_status.json"]
    assert "'incomplete'" in report.problems[0].reason


def test_unsealed_bundle_and_foreign_run_id(tmp_path: Path) -> None:
    bundle = EvidenceBundle.create(tmp_path, "platform_u")
    bundle.put("verdicts.json", {"verdicts": [GATE_FAIL]})
    (bundle.root / "figures.json").write_text(json.dumps({"platform_run_id": "someone_else",
                                                          "written_at_utc": "2026-01-01T00:00:00Z",
                                                          "schema_version": 1, "figures": {}}))
    reasons = {p.path: p.reason for p in verify_bundle(bundle.root).problems}
    assert "never sealed" in reasons["manifest.json"]
    assert "someone_else" in reasons["figures.json"]


def test_corrupt_json_is_named(tmp_path: Path) -> None:
    root = _sealed(tmp_path, [GATE_FAIL])
    (root / "verdicts.json").write_text("{not json")
    reasons = {p.path: p.reason for p in verify_bundle(root).problems}
    assert reasons["verdicts.json"].startswith("sha256 is") or "not valid JSON" in reasons["verdicts.json"]


def test_cli_exit_codes_and_messages(tmp_path: Path, capsys: object) -> None:
    good = _sealed(tmp_path / "a", [GATE_FAIL])
    assert main(["evidence", "verify", str(good)]) == 0
    bad = _sealed(tmp_path / "b", [GATE_FAIL])
    (bad / "verdicts.json").write_text("{}")
    assert main(["evidence", "verify", str(bad)]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "FAIL verdicts.json: sha256 is" in out
    assert "INVALID" in out
