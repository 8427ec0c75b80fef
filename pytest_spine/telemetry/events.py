"""Telemetry events as the linter sees them, read from a History, JSON lines, or an evidence bundle.

A platform emits an event by recording an ``event`` operation (``docs/history-vocabulary.md``):
``value = {name, category, version, platform_run_id, scenario_run_id, trace_id, payload}``. A plain
event stream (one JSON object per line, no ``f``/``type``) carries the same fields at the top level.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import HistoryError, SpineError
from pytest_spine.history import Operation

EVENT_F = "event"
CORRELATION_FIELDS: tuple[str, ...] = ("platform_run_id", "scenario_run_id", "trace_id")


class EventSourceError(SpineError):
    """A file given as an event stream cannot be read as one."""


@dataclass(frozen=True, slots=True)
class Event:
    """One emitted telemetry event and where it came from (``file:line`` or ``history#index``)."""

    name: Any
    category: Any
    version: Any
    where: str
    process: str = ""
    time: float | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    payload: Any = None

    def get(self, key: str) -> Any:
        return self.fields.get(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "category": self.category, "version": self.version, "where": self.where,
            "process": self.process, "time": self.time,
            **{key: self.fields.get(key) for key in CORRELATION_FIELDS}, "payload": self.payload,
        }


def _event_from_fields(data: Mapping[str, Any], where: str, process: str = "",
                       time: float | None = None) -> Event:
    return Event(
        name=data.get("name"), category=data.get("category"), version=data.get("version"), where=where,
        process=process, time=time,
        fields={k: v for k, v in data.items() if k not in ("name", "category", "version", "payload")},
        payload=data.get("payload"),
    )


def event_from_operation(op: Operation, where: str | None = None) -> Event | None:
    """The event an operation carries, or None when it is not an ``event`` operation."""
    if op.f != EVENT_F or op.type != "ok":
        return None
    return _event_from_fields(op.value, where or f"history#{op.index}", op.process, op.time)


def events_from_operations(ops: Iterable[Operation], label: str = "history") -> list[Event]:
    found = []
    for op in ops:
        event = event_from_operation(op, f"{label}#{op.index}")
        if event is not None:
            found.append(event)
    return found


def _is_operation(data: Mapping[str, Any]) -> bool:
    return "f" in data and "type" in data and "index" in data


def read_event_lines(path: Path, truncation: list[dict[str, Any]] | None = None) -> Iterator[Event]:
    """JSON lines that are either operations (only ``event`` ones are kept) or bare event objects.

    A history the bundle truncated at its size bound ends in a marker line: an error, unless a
    ``truncation`` list is given, which then receives the marker (the caller reports the coverage).
    """
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as bad:
                    raise EventSourceError(f"{where}: not a JSON line ({bad.msg} at column {bad.colno}); an "
                                           "event stream holds one JSON object per line") from None
                if not isinstance(data, dict):
                    raise EventSourceError(f"{where}: expected a JSON object, given: {type(data).__name__}")
                if data.get("truncated") is True and truncation is not None:
                    truncation.append({"path": str(path), "kept": data.get("kept"), "total": data.get("total")})
                    continue
                if data.get("truncated") is True:
                    raise EventSourceError(f"{where}: the history was truncated when stored (kept "
                                           f"{data.get('kept')} of {data.get('total')}); lint the full history")
                if _is_operation(data):
                    try:
                        op = Operation.from_json(data, where=where)
                    except HistoryError as bad:
                        raise EventSourceError(str(bad)) from None
                    event = event_from_operation(op, where)
                    if event is not None:
                        yield event
                else:
                    yield _event_from_fields(data, where, str(data.get("process", "")),
                                             data.get("time") if isinstance(data.get("time"), int | float)
                                             else None)
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as bad:
        raise EventSourceError(f"{path}: cannot be read as JSON lines: {bad}") from None


def bundle_history_files(bundle: Path) -> list[Path]:
    """Every stored history of a bundle (``*.jsonl`` / ``*.jsonl.gz``), in path order."""
    return sorted(p for p in bundle.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz")))


def is_bundle(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file()
                                 for name in ("manifest.json", "verdicts.json", "run.json", "bundle_status.json"))


def load_event_streams(path: Path, truncation: list[dict[str, Any]] | None = None) -> list[tuple[str, list[Event]]]:
    """The event streams of one source, each (label, events): a JSON-lines file (plain or .gz) is one stream;
    an evidence bundle gives one stream per stored history (a scenario's history is its own stream).

    With a ``truncation`` list, histories the bundle cut at its size bound are read up to the cut and
    their markers appended to the list; without one they are an error.
    """
    if path.is_dir():
        if not is_bundle(path):
            raise EventSourceError(f"{path} is a directory but not an evidence bundle (no manifest.json, "
                                   "verdicts.json or run.json); pass a run directory or a .jsonl file")
        histories = bundle_history_files(path)
        if not histories:
            raise EventSourceError(f"bundle {path} stores no history (*.jsonl.gz): no events to lint, and "
                                   "missing evidence is a failure; re-run with history capture on")
        return [(str(history), list(read_event_lines(history, truncation))) for history in histories]
    if not path.is_file():
        raise EventSourceError(f"no such event source: {path}; pass JSON lines, a history (.jsonl/.gz) or a "
                               "bundle directory")
    return [(str(path), list(read_event_lines(path, truncation)))]


def load_events(path: Path, truncation: list[dict[str, Any]] | None = None) -> list[Event]:
    """Every event of one source (all its streams, in order)."""
    return [event for _, events in load_event_streams(path, truncation) for event in events]
