from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.errors import HistoryError
from pytest_spine.history import History, Operation, dump_compressed, read_history


def test_operations_are_indexed_timed_and_streamed_to_disk(tmp_path: Path) -> None:
    clock = ManualClock(100.0)
    history = History(clock, path=tmp_path / "h.jsonl")
    history.append("wsp", "invoke", "ingest", event_id="e1")
    clock.advance(2.5)
    history.record("wsp", "info", "ingest", event_id="e1", error="timeout")
    history.close()
    ops = list(read_history(tmp_path / "h.jsonl"))
    assert [(o.index, o.time, o.type) for o in ops] == [(0, 100.0, "invoke"), (1, 102.5, "info")]
    assert ops[1].value == {"event_id": "e1", "error": "timeout"}
    assert len(history) == 2


def test_unknown_operation_type_is_refused() -> None:
    with pytest.raises(HistoryError, match="type must be one of"):
        History(ManualClock()).append("x", "maybe", "ingest")  # type: ignore[arg-type]


def test_compressed_round_trip(tmp_path: Path) -> None:
    ops = [Operation(i, float(i), "p", "ok", "f", {"i": i}) for i in range(10)]
    data, kept, truncated = dump_compressed(ops, 10_000)
    path = tmp_path / "h.jsonl.gz"
    path.write_bytes(data)
    assert (kept, truncated) == (10, False)
    assert [o.value["i"] for o in read_history(path)] == list(range(10))


@pytest.mark.parametrize(("content", "message"), [
    (b'{"index": 0, "time": 1, "process": "p", "type": "ok", "f": "x"}\n{"index": 1,', "line 2"),
    (b'{"index": 0, "time": 1, "process": "p", "type": "ok", "f": "x"}\nnot json\n', ":2: not a JSON line"),
    (b'[1, 2]\n', ":1: expected a JSON object"),
    (b'{"index": 0, "time": 1, "process": "p", "f": "x"}\n', ":1: missing field 'type'"),
])
def test_broken_histories_name_the_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_bytes(content)
    with pytest.raises(HistoryError) as caught:
        list(read_history(path))
    assert message in str(caught.value) or "cut short" in str(caught.value)
    assert str(path) in str(caught.value)


def test_stored_truncated_history_is_refused_for_a_complete_recheck(tmp_path: Path) -> None:
    ops = [Operation(i, float(i), "p", "ok", "f", {"pad": "x" * 50}) for i in range(50)]
    data, kept, truncated = dump_compressed(ops, 500)
    path = tmp_path / "h.jsonl.gz"
    path.write_bytes(data)
    assert truncated and kept < 50
    with pytest.raises(HistoryError, match="truncated at"):
        list(read_history(path))


def test_not_gzip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl.gz"
    path.write_bytes(b"plain text, not gzip")
    with pytest.raises(HistoryError, match="cannot be read as a history"):
        list(read_history(path))
    assert gzip  # the module under test writes gzip; this file must not be mistaken for one
