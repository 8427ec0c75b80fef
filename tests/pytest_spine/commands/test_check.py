from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pytest_spine.cli import main
from pytest_spine.history import dump_compressed
from pytest_spine.invariants.synthetic import synthetic_history


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _op(index: int, process: str, type: str, f: str, **value: object) -> dict[str, object]:
    return {"index": index, "time": 1.0 + index, "process": process, "type": type, "f": f, "value": value}


def test_clean_generated_history_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ops = list(synthetic_history(3000, seed=5))
    data, kept, truncated = dump_compressed(ops, limit_bytes=50_000_000)
    assert not truncated
    assert kept == len(ops)
    path = tmp_path / "history.jsonl.gz"
    path.write_bytes(data)
    code = main(["check", str(path), "--only", "INV-DEDUPE-IDENTITY", "--only", "INV-APPEND-ONLY"])
    out = capsys.readouterr().out
    assert code == 0
    assert "PASS            INV-DEDUPE-IDENTITY" in out
    assert "2 checks, 0 violated" in out


def test_violation_exits_1_and_prints_the_counterexample(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "h.jsonl", [
        _op(0, "decision_lane", "ok", "action_execute", action_key="a1", decision_id="d1"),
        _op(1, "decision_lane", "ok", "action_execute", action_key="a1", decision_id="d1"),
    ])
    code = main(["check", str(path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["status"] == "FAIL"
    verdict = next(v for v in report["verdicts"] if v["id"] == "INV-IDEMPOTENT-ACTIONS")
    assert verdict["status"] == "FAIL"
    assert [op["index"] for op in verdict["counterexample"]] == [0, 1]


def test_not_json_names_the_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(_op(0, "ig", "ok", "handle_use", name="x")) + "\n{not json\n", encoding="utf-8")
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:2: not a JSON line" in err


def test_truncated_history_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.jsonl.gz"
    line = json.dumps(_op(0, "ig", "ok", "handle_use", name="x"))
    path.write_bytes(gzip.compress((line + "\n" + line[:20]).encode()))
    code = main(["check", str(path)])
    assert code == 2
    assert ":2: the last line is cut short" in capsys.readouterr().err


def test_missing_history_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nope.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_scope_option_enforces_foreign_admits(tmp_path: Path) -> None:
    key = {"platform_run_id": "other", "event_class": "tx", "event_id": "e1"}
    path = _write(tmp_path / "h.jsonl", [
        _op(0, "wsp", "invoke", "ingest", **key),
        _op(1, "wsp", "ok", "ingest", outcome="ADMIT", **key),
    ])
    assert main(["check", str(path), "--only", "INV-RUN-SCOPE"]) == 0
    assert main(["check", str(path), "--only", "INV-RUN-SCOPE", "--run-scope", "mine"]) == 1


def test_kind_restricts_to_a_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "h.jsonl", [_op(0, "ig", "ok", "receipt_append", seq=1, outcome="ADMIT")])
    main(["check", str(path), "--kind", "invariant", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert {v["id"][:4] for v in report["verdicts"]} == {"INV-"}
    assert len(report["verdicts"]) == 16
