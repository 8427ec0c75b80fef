"""Metrics sources for metric gates: the simulator JSON of seed 000 §4 (schema v0.2), CSV tables, and a
bundle's own ``figures.json``.

Simulator schema governance (seed 000 §4): fields are added without a bump; a rename or removal bumps
the version (0.3) and the parser gains an explicit compatibility step. So this reader accepts 0.2
(``schema_version``) as it is, converts 0.1 (``version``, milliseconds, flat keys) through
``upgrade_v0_1``, and refuses anything newer than 0.2 -- a breaking change it cannot know how to read --
with a message saying what to do, never a guess.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import SpineError

CURRENT_SIMULATOR_SCHEMA = (0, 2)
SUPPORTED_SIMULATOR_SCHEMAS = ((0, 1), (0, 2))


class MetricsFileError(SpineError):
    """A metrics file cannot be read, or is of a schema version this harness refuses."""

    def __init__(self, path: str, place: str, reason: str) -> None:
        self.path = path
        self.place = place
        self.reason = reason
        super().__init__(f"{path}: at {place}: {reason}")


@dataclass(frozen=True, slots=True)
class SimulatorMetrics:
    """A simulator metrics document, always in the v0.2 shape (older files converted)."""

    path: str
    schema_version: str
    original_version: str
    document: Mapping[str, Any]
    compat_notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV metrics table: column names and rows of cells (numbers parsed where they parse)."""

    path: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


def _version_tuple(text: Any, path: str, place: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:\.\d+)?\s*", str(text)) if isinstance(text, str | int | float) \
        else None
    if match is None or isinstance(text, bool):
        raise MetricsFileError(path, place, f"schema version {text!r} is not of the form MAJOR.MINOR "
                                            "(e.g. \"0.2\"); write it as a string")
    return int(match.group(1)), int(match.group(2))


def read_json_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetricsFileError(str(path), "(file)", "no such metrics file; missing evidence is a failure: "
                                                    "produce it or fix the gate's source path") from None
    except (OSError, UnicodeDecodeError) as bad:
        raise MetricsFileError(str(path), "(file)", f"cannot be read: {bad}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as bad:
        raise MetricsFileError(str(path), f"line {bad.lineno}, column {bad.colno}",
                               f"not valid JSON: {bad.msg}") from None


def _ms_to_s(value: Any, path: str, place: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MetricsFileError(path, place, f"expected a number of milliseconds, given: {value!r}")
    return float(value) / 1000.0


def upgrade_v0_1(doc: Mapping[str, Any], path: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The explicit compatibility step 0.1 -> 0.2 (seed 000 §4 step 3). Each conversion is noted.

    0.1 was flat and in milliseconds: ``nodes``, ``convergence_ms``, ``stabilize_p95_ms``,
    ``replay: {attempted, dropped, skew_window_ms}``, ``quarantine_delta_ms``, ``sig_fail``,
    ``unsigned_accepted``. 0.2 nests ``config`` and ``metrics`` and uses seconds and ratios.
    """
    notes: list[str] = []
    config: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    if "nodes" in doc:
        config["nodes"] = doc["nodes"]
        notes.append("nodes -> config.nodes")
    if "seed" in doc:
        config["seed"] = doc["seed"]
    if "convergence_ms" in doc:
        metrics["convergence_s"] = _ms_to_s(doc["convergence_ms"], path, "convergence_ms")
        notes.append("convergence_ms -> metrics.convergence_s (/1000)")
    if "stabilize_p95_ms" in doc:
        metrics["stabilize_s"] = {"p95": _ms_to_s(doc["stabilize_p95_ms"], path, "stabilize_p95_ms")}
        notes.append("stabilize_p95_ms -> metrics.stabilize_s.p95 (/1000)")
    security: dict[str, Any] = {}
    replay = doc.get("replay")
    if replay is not None:
        if not isinstance(replay, Mapping):
            raise MetricsFileError(path, "replay", f"expected an object, given: {type(replay).__name__}")
        attempted, dropped = replay.get("attempted"), replay.get("dropped")
        for key, value in (("attempted", attempted), ("dropped", dropped)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MetricsFileError(path, f"replay.{key}", f"expected a count, given: {value!r}")
        assert isinstance(attempted, int) and isinstance(dropped, int)
        security["replay_attempts"] = attempted
        security["replay_drop"] = dropped
        if attempted > 0:
            security["replay_rejection_ratio"] = dropped / attempted
        notes.append("replay.{attempted,dropped} -> metrics.security.replay_{attempts,drop} + ratio")
        if "skew_window_ms" in replay:
            config["skew_window_s"] = _ms_to_s(replay["skew_window_ms"], path, "replay.skew_window_ms")
            notes.append("replay.skew_window_ms -> config.skew_window_s (/1000)")
    for key in ("sig_fail", "unsigned_accepted"):
        if key in doc:
            security[key] = doc[key]
            notes.append(f"{key} -> metrics.security.{key}")
    if security:
        metrics["security"] = security
    if "quarantine_delta_ms" in doc:
        metrics["quarantine"] = {"reaction_s": _ms_to_s(doc["quarantine_delta_ms"], path, "quarantine_delta_ms")}
        notes.append("quarantine_delta_ms -> metrics.quarantine.reaction_s (/1000)")
    upgraded = {"schema_version": "0.2", "simulator": doc.get("simulator", "unknown"), "config": config,
                "metrics": metrics}
    return upgraded, tuple(notes)


def load_simulator_json(path: Path) -> SimulatorMetrics:
    doc = read_json_document(path)
    where = str(path)
    if not isinstance(doc, Mapping):
        raise MetricsFileError(where, "(document)", f"expected a JSON object, given: {type(doc).__name__}")
    if "schema_version" in doc:
        raw, place = doc["schema_version"], "schema_version"
    elif "version" in doc:
        raw, place = doc["version"], "version"  # 0.1 named the field `version`
    else:
        raise MetricsFileError(where, "(document)", "no schema_version field: simulator metrics since v0.2 "
                                                    "carry \"schema_version\": \"0.2\"; add it")
    version = _version_tuple(raw, where, place)
    if version > CURRENT_SIMULATOR_SCHEMA:
        kind = "major" if version[0] > CURRENT_SIMULATOR_SCHEMA[0] else "breaking"
        raise MetricsFileError(
            where, place,
            f"simulator schema {raw!r} is a newer {kind} version than this harness reads (up to "
            f"{'.'.join(map(str, CURRENT_SIMULATOR_SCHEMA))}); under seed 000 §4 a bump means a rename or "
            "removal, so its fields cannot be guessed. Upgrade pytest-spine (whose parser gains the "
            "compatibility step), or emit schema 0.2 from the simulator")
    if version not in SUPPORTED_SIMULATOR_SCHEMAS:
        raise MetricsFileError(where, place, f"simulator schema {raw!r} is older than any this harness can "
                                             "convert (0.1, 0.2); regenerate the file")
    if version == (0, 1):
        upgraded, notes = upgrade_v0_1(doc, where)
        return SimulatorMetrics(where, "0.2", str(raw), upgraded, notes)
    metrics = doc.get("metrics")
    if not isinstance(metrics, Mapping):
        raise MetricsFileError(where, "metrics", "a v0.2 simulator file holds its figures in a \"metrics\" "
                                                 f"object, given: {type(metrics).__name__}")
    config = doc.get("config", {})
    if not isinstance(config, Mapping):
        raise MetricsFileError(where, "config", f"expected an object, given: {type(config).__name__}")
    return SimulatorMetrics(where, "0.2", str(raw), dict(doc))


def _cell(text: str) -> Any:
    stripped = text.strip()
    if stripped == "":
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return stripped
    return number if math.isfinite(number) else stripped


def load_csv(path: Path) -> Table:
    where = str(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = next(reader)
            except StopIteration:
                raise MetricsFileError(where, "line 1", "the CSV file is empty; it needs a header row") from None
            columns = tuple(h.strip() for h in header)
            if not all(columns) or len(set(columns)) != len(columns):
                raise MetricsFileError(where, "line 1", f"header {list(columns)} has empty or repeated "
                                                        "column names")
            rows = []
            for number, raw in enumerate(reader, start=2):
                if not any(cell.strip() for cell in raw):
                    continue
                if len(raw) != len(columns):
                    raise MetricsFileError(where, f"line {number}", f"{len(raw)} cells for {len(columns)} "
                                                                     "columns; fix the row")
                rows.append({c: _cell(v) for c, v in zip(columns, raw, strict=True)})
    except FileNotFoundError:
        raise MetricsFileError(where, "(file)", "no such metrics file; missing evidence is a failure: "
                                                "produce it or fix the gate's source path") from None
    except (OSError, UnicodeDecodeError, csv.Error) as bad:
        raise MetricsFileError(where, "(file)", f"cannot be read as CSV: {bad}") from None
    return Table(where, columns, tuple(rows))


def load_figures(path: Path) -> Mapping[str, Any]:
    doc = read_json_document(path)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("figures"), Mapping):
        raise MetricsFileError(str(path), "figures", "figures.json must hold an object \"figures\": "
                                                      "{name: number}")
    return dict(doc["figures"])


_MISSING = object()


def lookup(document: Any, dotted: str) -> Any:
    """The value at a dotted path (``metrics.stabilize_s.p95``); list items by index; _MISSING if absent."""
    value = document
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit() \
                and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the convention latency SLOs use): the smallest value >= q % of the data."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]
