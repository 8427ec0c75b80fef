"""Declarative metric gates (``gates/*.yaml``): metric path, source kind, comparator, threshold, window.

Each gate becomes one ``test_metric_gate[<id>]`` item and one ``metric`` verdict. A source that is
missing, unreadable or of a refused schema version makes the gate FAIL with the reason, never skip.
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import SpineError
from pytest_spine.telemetry.metrics import (
    MetricsFileError,
    SimulatorMetrics,
    Table,
    is_missing,
    load_csv,
    load_simulator_json,
    lookup,
    percentile,
)
from pytest_spine.verdicts import Status, Verdict

PACKAGED_GATES_DIR = Path(__file__).resolve().parent.parent / "data" / "gates"
KIND = "metric"

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
    "!=": operator.ne,
}


class GateFileError(SpineError):
    """A gate file is malformed; names the file and the place."""

    def __init__(self, path: str, place: str, reason: str) -> None:
        self.path = path
        self.place = place
        self.reason = reason
        super().__init__(f"{path}: at {place}: {reason}")


@dataclass(frozen=True, slots=True)
class Condition:
    metric: str
    comparator: str
    threshold: float

    def describe(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class Window:
    last_rows: int | None = None
    last_seconds: float | None = None
    time_column: str | None = None
    aggregate: str = "last"
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricGate:
    gate_id: str
    title: str
    source_kind: str  # simulator_json | csv | figures
    source_file: Path | None
    metric: str
    comparator: str
    threshold: float
    gate_file: Path
    unit: str = ""
    seed_ref: str = ""
    window: Window = field(default_factory=Window)

    def describe(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}{(' ' + self.unit) if self.unit else ''}"


def _yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as bad:
        raise GateFileError(str(path), "(file)", f"cannot be read: {bad.strerror or bad}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as bad:
        mark = getattr(bad, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        raise GateFileError(str(path), place, f"not valid YAML: {getattr(bad, 'problem', None) or bad}") from None


def load_gatefile(path: Path, sources_dir: Path | None = None) -> list[MetricGate]:
    """The gates of one file; source files resolve against ``sources_dir`` (default: the file's folder)."""
    from pytest_spine.evidence.schemas import load_schema, problems

    data = _yaml(path)
    found = problems(data, load_schema("gatefile"))
    if found:
        place, _, reason = found[0].partition(": ")
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        raise GateFileError(str(path), place.removeprefix("at "),
                            f"{reason}{more}; see pytest_spine/data/schemas/gatefile.schema.json")
    gates: list[MetricGate] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data["gates"]):
        if raw["id"] in seen:
            raise GateFileError(str(path), f"gates/{i}/id", f"gate id {raw['id']!r} is already used by "
                                                             f"gates/{seen[raw['id']]}; ids are unique")
        seen[raw["id"]] = i
        source = raw["source"]
        kind = source["kind"]
        if kind == "figures" and "file" in source:
            raise GateFileError(str(path), f"gates/{i}/source/file",
                                "a figures source reads the run's own figures.json; drop the file")
        win = raw.get("window") or {}
        if kind != "csv" and any(k in win for k in ("last_rows", "last_seconds", "aggregate")):
            raise GateFileError(str(path), f"gates/{i}/window", "last_rows, last_seconds and aggregate select "
                                                                 f"rows of a CSV table; a {kind} source has one "
                                                                 "value per metric: use conditions only")
        window = Window(
            last_rows=win.get("last_rows"), last_seconds=win.get("last_seconds"), time_column=win.get("time_column"),
            aggregate=win.get("aggregate", "last"),
            conditions=tuple(Condition(c["metric"], c["comparator"], float(c["threshold"]))
                             for c in win.get("conditions", ())),
        )
        gates.append(MetricGate(
            gate_id=raw["id"], title=raw["title"], source_kind=kind,
            source_file=((sources_dir or path.parent) / source["file"]) if "file" in source else None,
            metric=raw["metric"], comparator=raw["comparator"], threshold=float(raw["threshold"]),
            gate_file=path, unit=raw.get("unit", ""), seed_ref=raw.get("seed_ref", ""), window=window,
        ))
    return gates


def discover_gatefiles(*dirs: Path) -> list[Path]:
    files: list[Path] = []
    for folder in dirs:
        if folder.is_dir():
            files.extend(sorted(p for p in folder.glob("*.yaml") if p.is_file()))
            files.extend(sorted(p for p in folder.glob("*.yml") if p.is_file()))
    return files


def is_packaged(gate: MetricGate) -> bool:
    return gate.gate_file.resolve().parent == PACKAGED_GATES_DIR


def load_gates(files: Iterable[Path], packaged_sources: Path | None = None) -> list[MetricGate]:
    """All gates of the files; a gate id defined twice (across files) is an error naming both.

    Packaged gate files read their sources from ``packaged_sources`` (the run's metrics dir): their own
    folder holds only examples, which must never stand in for a run's data.
    """
    gates: list[MetricGate] = []
    owner: dict[str, Path] = {}
    for path in files:
        packaged = path.resolve().parent == PACKAGED_GATES_DIR
        for gate in load_gatefile(path, packaged_sources if packaged else None):
            if gate.gate_id in owner:
                raise GateFileError(str(path), gate.gate_id, f"gate id {gate.gate_id!r} is also defined in "
                                                             f"{owner[gate.gate_id]}; rename one")
            owner[gate.gate_id] = path
            gates.append(gate)
    return gates


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _aggregate(values: Sequence[float], how: str) -> float:
    if how == "last":
        return values[-1]
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    if how == "mean":
        return statistics.fmean(values)
    if how == "sum":
        return float(sum(values))
    if how == "count":
        return float(len(values))
    return percentile(values, float(how[1:]))


def _table_value(gate: MetricGate, table: Table) -> tuple[float, dict[str, Any]]:
    if gate.metric not in table.columns:
        raise MetricsFileError(table.path, "line 1", f"no column {gate.metric!r} (columns: {list(table.columns)})")
    rows = list(table.rows)
    win = gate.window
    if win.time_column is not None:
        if win.time_column not in table.columns:
            raise MetricsFileError(table.path, "line 1", f"no time column {win.time_column!r}")
        if win.last_seconds is not None:
            times = [_number(r[win.time_column]) for r in rows]
            if any(t is None for t in times):
                raise MetricsFileError(table.path, win.time_column, "every row needs a numeric time "
                                                                    "(epoch seconds)")
            latest = max(t for t in times if t is not None) if times else 0.0
            rows = [r for r, t in zip(rows, times, strict=True) if t is not None
                    and t > latest - win.last_seconds]
    if win.last_rows is not None:
        rows = rows[-win.last_rows:]
    values = []
    for i, row in enumerate(rows):
        number = _number(row[gate.metric])
        if number is None:
            raise MetricsFileError(table.path, f"column {gate.metric} (window row {i + 1})",
                                   f"not a number: {row[gate.metric]!r}")
        values.append(number)
    if not values:
        raise MetricsFileError(table.path, "(window)", "no rows in the gate's window: nothing was measured")
    return _aggregate(values, win.aggregate), {"rows_in_window": len(values), "aggregate": win.aggregate}


def evaluate_gate(gate: MetricGate, figures: Mapping[str, Any] | None = None) -> Verdict:
    """PASS when the metric meets the threshold within the window; FAIL with the reason otherwise."""
    evidence = (str(gate.source_file),) if gate.source_file is not None else ("figures.json",)
    try:
        document: Any
        extra: dict[str, Any] = {}
        if gate.source_kind == "figures":
            if figures is None:
                return Verdict(gate.gate_id, KIND, Status.FAIL, "the run's figures.json is missing: no figure "
                               f"{gate.metric!r} to judge (missing evidence is a failure)", evidence)
            document = figures
            value: Any = lookup(figures, gate.metric)
        elif gate.source_kind == "csv":
            assert gate.source_file is not None
            table = load_csv(gate.source_file)
            document = table.rows[-1] if table.rows else {}
            value, extra = _table_value(gate, table)
        else:
            assert gate.source_file is not None
            sim: SimulatorMetrics = load_simulator_json(gate.source_file)
            document = sim.document
            value = lookup(document, gate.metric)
            extra = {"schema_version": sim.original_version, "compat_notes": list(sim.compat_notes)}
    except MetricsFileError as bad:
        return Verdict(gate.gate_id, KIND, Status.FAIL, f"cannot read the gate's source: {bad}", evidence)
    if is_missing(value):
        return Verdict(gate.gate_id, KIND, Status.FAIL, f"metric {gate.metric!r} is absent from the source "
                       "(missing evidence is a failure)", evidence)
    number = _number(value)
    if number is None:
        return Verdict(gate.gate_id, KIND, Status.FAIL, f"metric {gate.metric!r} is not a number: {value!r}",
                       evidence)
    figures_out: dict[str, Any] = {"value": number, "threshold": gate.threshold, **extra}
    for cond in gate.window.conditions:
        measured = lookup(document, cond.metric)
        cond_number = None if is_missing(measured) else _number(measured)
        if cond_number is None:
            return Verdict(gate.gate_id, KIND, Status.FAIL,
                           f"window condition {cond.describe()} cannot be checked: {cond.metric!r} is "
                           f"{'absent' if is_missing(measured) else repr(measured)}", evidence,
                           figures=figures_out)
        if not COMPARATORS[cond.comparator](cond_number, cond.threshold):
            return Verdict(gate.gate_id, KIND, Status.FAIL,
                           f"measured outside the gate's window: {cond.metric} = {cond_number:g}, the gate "
                           f"holds only for {cond.describe()}", evidence, figures=figures_out)
    ok = COMPARATORS[gate.comparator](number, gate.threshold)
    shown = f"{gate.metric} = {number:g}{(' ' + gate.unit) if gate.unit else ''}"
    reason = f"{shown}, gate {gate.describe()}: {'met' if ok else 'NOT met'} ({gate.title})"
    return Verdict(gate.gate_id, KIND, Status.PASS if ok else Status.FAIL, reason, evidence, figures=figures_out)


def judge_gate(gate: MetricGate, figures: Mapping[str, Any] | None, metrics_dir_given: bool) -> Verdict:
    """The verdict of one gate in a run: a packaged gate whose source is a file needs the run's metrics dir
    (NOT_APPLICABLE without one, so the shipped examples never stand in for a run's data)."""
    if is_packaged(gate) and gate.source_kind != "figures" and not metrics_dir_given:
        name = gate.source_file.name if gate.source_file is not None else ""
        return Verdict(gate.gate_id, KIND, Status.NOT_APPLICABLE,
                       f"no metrics dir is configured for the packaged gate's {gate.source_kind} source {name!r} "
                       "($SPINE_METRICS_DIR, --spine-metrics-dir or ini spine_metrics_dir in pytest, --metrics-dir "
                       "in spine metrics check): this run has no simulator metrics to judge")
    return evaluate_gate(gate, figures)
