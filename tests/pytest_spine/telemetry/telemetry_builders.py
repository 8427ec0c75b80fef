"""Builders for telemetry tests: event operations, histories and minimal evidence bundles on disk.

Imported by the test modules beside it and by tests/pytest_spine/commands."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RUN_ID = "platform_20260101T000000Z_abcd1234"


def event_value(name: str, category: str, version: Any = "1", run_id: str = RUN_ID, **extra: Any) -> dict[str, Any]:
    value = {"name": name, "category": category, "version": version, "platform_run_id": run_id,
             "scenario_run_id": None, "trace_id": None, "payload": {}}
    value.update(extra)
    return value


def clean_values(run_id: str = RUN_ID) -> list[dict[str, Any]]:
    """One event per required family, as the reference platform emits them."""
    return [
        event_value("ingest.admit", "ingest", run_id=run_id, payload={"event_id": "e-1", "outcome": "ADMIT"}),
        event_value("security.sig_fail", "security", run_id=run_id, trace_id="ln-1", payload={"node": "n1"}),
        event_value("[:tocp,:security,:quarantine]", "security", 2, run_id=run_id, trace_id="ln-2",
                    payload={"node": "n1"}),
        event_value("control_plane.state_change", "control_plane", run_id=run_id, trace_id="tr-1",
                    payload={"from": "QUEUED", "to": "RUNNING"}),
        event_value("evidence.write", "evidence", run_id=run_id,
                    payload={"path": "run.json", "sha256": "ab" * 32}),
    ]


def op_lines(values: Sequence[Mapping[str, Any]], extra_ops: int = 1) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for _ in range(extra_ops):
        ops.append({"index": len(ops), "time": 1.0, "process": "ig", "type": "ok", "f": "receipt_append",
                    "value": {"seq": len(ops)}})
    for value in values:
        ops.append({"index": len(ops), "time": 2.0 + len(ops), "process": "ig", "type": "ok", "f": "event",
                    "value": dict(value)})
    return ops


def write_jsonl(path: Path, lines: Sequence[Mapping[str, Any]]) -> Path:
    data = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def write_bundle(
    root: Path,
    run_id: str = RUN_ID,
    verdicts: Sequence[tuple[str, str, str]] = (("P7-receipts_reconcile", "gate", "PASS"),),
    figures: Mapping[str, Any] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
    written_at: str = "2026-01-01T00:00:00.000000Z",
) -> Path:
    """A bundle at <root>/evidence/runs/<run_id> with verdicts.json, figures.json and a history."""
    run_dir = root / "evidence" / "runs" / run_id
    run_dir.mkdir(parents=True)
    stamp = {"platform_run_id": run_id, "written_at_utc": written_at, "schema_version": 1}
    (run_dir / "verdicts.json").write_text(json.dumps({**stamp, "verdicts": [
        {"id": i, "kind": k, "status": s, "reason": "", "evidence": [], "counterexample": [], "figures": {}}
        for i, k, s in verdicts]}))
    if figures is not None:
        (run_dir / "figures.json").write_text(json.dumps({**stamp, "figures": dict(figures)}))
    if events is not None:
        write_jsonl(run_dir / "histories" / "run.jsonl.gz", op_lines(events))
    return run_dir
