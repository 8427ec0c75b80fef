from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.errors import EvidenceError, SchemaViolation, WriteOnceViolation
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.evidence.redaction import MASK, Redactor
from pytest_spine.evidence.schemas import schema_name_for
from pytest_spine.history import History


def _bundle(tmp_path: Path, run_id: str = "platform_test_1") -> EvidenceBundle:
    return EvidenceBundle.create(tmp_path, run_id, clock=ManualClock())


def test_put_stamps_run_id_time_and_version(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    bundle.put("figures.json", {"figures": {"x": 1}})
    written = json.loads((bundle.root / "figures.json").read_text())
    assert written["platform_run_id"] == "platform_test_1"
    assert written["written_at_utc"] == "2026-01-01T00:00:00.000000Z"
    assert written["schema_version"] == 1
    assert bundle.root == tmp_path / "evidence" / "runs" / "platform_test_1"


def test_files_are_written_once(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    bundle.put("figures.json", {"figures": {"x": 1}})
    with pytest.raises(WriteOnceViolation, match="never overwritten"):
        bundle.put("figures.json", {"figures": {"x": 2}})
    assert json.loads((bundle.root / "figures.json").read_text())["figures"] == {"x": 1}
    assert not list(bundle.root.glob(".*.tmp"))


def test_schema_violation_names_file_and_place_and_writes_nothing(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    with pytest.raises(SchemaViolation) as caught:
        bundle.put("verdicts.json", {"verdicts": [{"id": "P1-x", "kind": "gate", "status": "MAYBE", "reason": ""}]})
    assert caught.value.where == "verdicts.json"
    assert any("verdicts/0/status" in p for p in caught.value.problems)
    assert not (bundle.root / "verdicts.json").exists()


def test_unknown_evidence_path_has_no_schema(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="has no schema"):
        _bundle(tmp_path).put("mystery/thing.json", {})


def test_foreign_run_id_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="run scope fails closed"):
        _bundle(tmp_path).put("figures.json", {"figures": {}, "platform_run_id": "other"})


def test_existing_bundle_is_refused_and_left_untouched(tmp_path: Path) -> None:
    first = _bundle(tmp_path)
    first.put("figures.json", {"figures": {"x": 1}})
    before = (first.root / "figures.json").read_bytes()
    with pytest.raises(EvidenceError, match="already has an evidence bundle"):
        _bundle(tmp_path)
    assert (first.root / "figures.json").read_bytes() == before


def test_unwritable_evidence_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(EvidenceError, match="not writable"):
        EvidenceBundle.create(blocker, "platform_x")


def test_paths_cannot_escape_the_run_root(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    for bad in ("../x.json", "/etc/x.json", "a/../../x.json"):
        with pytest.raises(EvidenceError, match="relative to the run root"):
            bundle.put(bad, {})


def test_secrets_are_redacted_by_value_and_by_key(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.register("sk-live-0123456789")
    bundle = EvidenceBundle.create(tmp_path, "platform_r", redactor=redactor)
    bundle.put("figures.json", {"figures": {"note": "key=sk-live-0123456789", "api_key": "whatever",
                                            "ssm_api_key_path": "/dev_min/ig/key"}})
    text = (bundle.root / "figures.json").read_text()
    assert "sk-live-0123456789" not in text
    figures = json.loads(text)["figures"]
    assert figures["note"] == f"key={MASK}"
    assert figures["api_key"] == MASK
    assert figures["ssm_api_key_path"] == "/dev_min/ig/key"


def test_history_is_compressed_redacted_and_bounded(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.register("canary-secret-42")
    bundle = EvidenceBundle.create(tmp_path, "platform_h", redactor=redactor)
    history = History(ManualClock())
    for i in range(100):
        history.append("wsp", "ok", "ingest", event_id=f"e{i}", header="canary-secret-42")
    stored = bundle.put_history("history/run.jsonl.gz", history.operations(), limit_bytes=2000)
    assert stored["truncated"] is True
    assert 0 < stored["operations"] < 100
    lines = gzip.decompress((bundle.root / "history/run.jsonl.gz").read_bytes()).decode().splitlines()
    assert json.loads(lines[-1]) == {"truncated": True, "kept": stored["operations"], "total": 100,
                                     "limit_bytes": 2000}
    assert "canary-secret-42" not in "\n".join(lines)


def test_seal_writes_status_then_manifest_of_every_file(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    bundle.put("figures.json", {"figures": {}})
    bundle.seal("complete", "done")
    manifest = json.loads((bundle.root / "manifest.json").read_text())
    assert set(manifest["files"]) == {"figures.json", "bundle_status.json"}
    assert manifest["file_count"] == 2
    with pytest.raises(EvidenceError, match="already sealed"):
        bundle.put("verdicts.json", {"verdicts": []})


@pytest.mark.parametrize(("relpath", "schema"), [
    ("run.json", "run"),
    ("ingest/receipt_summary.json", "ingest__receipt_summary"),
    ("scenarios/CH-REPLAY-FLOOD-seed=3/timeline.json", "scenarios__timeline"),
    ("parts/gw0/verdicts.json", "parts__verdicts"),
])
def test_schema_name_for_paths(relpath: str, schema: str) -> None:
    assert schema_name_for(relpath) == schema
