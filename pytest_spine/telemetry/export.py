"""Export a bundle's metrics, verdicts and telemetry events as tables (seed 002: telemetry export to
CSV/Parquet for CI artifacts).

Tables: ``metrics`` (figures.json and each verdict's figures), ``verdicts``, ``events`` (every ``event``
operation of the stored histories). All tables are built in memory first and written to temporaries, then
renamed into place: an error leaves the output folder as it was, and existing files are never replaced.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import SpineError
from pytest_spine.telemetry.events import bundle_history_files
from pytest_spine.telemetry.run_records import bundle_parts
from pytest_spine.telemetry.taxonomy import Taxonomy

FORMATS = ("csv", "parquet")
METRIC_COLUMNS = ("platform_run_id", "source", "name", "value", "text")
VERDICT_COLUMNS = ("platform_run_id", "id", "kind", "status", "reason")
EVENT_COLUMNS = ("platform_run_id", "history", "index", "time", "process", "name", "category", "version",
                 "family", "scenario_run_id", "trace_id", "payload_json")


class ExportError(SpineError):
    """A bundle cannot be exported as asked; nothing was written."""


@dataclass(frozen=True, slots=True)
class Tables:
    platform_run_id: str
    metrics: tuple[Mapping[str, Any], ...]
    verdicts: tuple[Mapping[str, Any], ...]
    events: tuple[Mapping[str, Any], ...]
    truncated_histories: tuple[str, ...] = ()

    def named(self) -> dict[str, tuple[tuple[str, ...], tuple[Mapping[str, Any], ...]]]:
        return {"metrics": (METRIC_COLUMNS, self.metrics), "verdicts": (VERDICT_COLUMNS, self.verdicts),
                "events": (EVENT_COLUMNS, self.events)}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise ExportError(f"{path}: cannot be read as JSON ({bad}); the bundle is damaged, check it with "
                          "`spine evidence verify`") from None


def _metric_row(run_id: str, source: str, name: str, value: Any) -> dict[str, Any]:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return {"platform_run_id": run_id, "source": source, "name": name,
            "value": float(value) if numeric else (float(value) if isinstance(value, bool) else None),
            "text": None if numeric or isinstance(value, bool) else json.dumps(value, sort_keys=True, default=str)}


def _history_ops(path: Path, truncated: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as bad:
                    raise ExportError(f"{path}:{number}: not a JSON line ({bad.msg})") from None
                if not isinstance(data, dict):
                    raise ExportError(f"{path}:{number}: expected a JSON object")
                if data.get("truncated") is True:
                    truncated.append(str(path))
                    continue
                yield number, data
    except (OSError, EOFError, gzip.BadGzipFile) as bad:
        raise ExportError(f"{path}: cannot be read as a history ({bad})") from None


def collect_tables(bundle: Path, taxonomy: Taxonomy | None = None) -> Tables:
    if not bundle.is_dir():
        raise ExportError(f"no bundle directory at {bundle}; pass a run directory "
                          "(<evidence-dir>/evidence/runs/<platform_run_id>)")
    # xdist workers write their own parts (parts/<worker>/verdicts.json ...): read them with the controller's.
    verdict_docs = [_json(p) for p in bundle_parts(bundle, "verdicts.json")]
    figure_docs = [_json(p) for p in bundle_parts(bundle, "figures.json")]
    run_doc = _json(bundle / "run.json")
    if not verdict_docs and not figure_docs and run_doc is None:
        raise ExportError(f"{bundle} holds no verdicts.json, figures.json or run.json: not an evidence bundle")
    run_ids = {doc.get("platform_run_id") for doc in (*verdict_docs, *figure_docs, run_doc)
               if isinstance(doc, Mapping) and doc.get("platform_run_id")}
    if len(run_ids) > 1:
        raise ExportError(f"{bundle}: its files claim several platform_run_id values {sorted(map(str, run_ids))}: "
                          "mixed run ids; the bundle is not trustworthy")
    run_id = str(next(iter(run_ids), bundle.name))
    metrics: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    for figures_doc in figure_docs:
        if isinstance(figures_doc, Mapping) and isinstance(figures_doc.get("figures"), Mapping):
            figures.update(figures_doc["figures"])
    for name, value in sorted(figures.items()):
        metrics.append(_metric_row(run_id, "figures.json", str(name), value))
    verdict_rows: list[dict[str, Any]] = []
    for verdicts_doc in verdict_docs:
        if not isinstance(verdicts_doc, Mapping):
            continue
        for verdict in verdicts_doc.get("verdicts") or ():
            if not isinstance(verdict, Mapping):
                continue
            check_id = str(verdict.get("id", ""))
            verdict_rows.append({"platform_run_id": run_id, "id": check_id, "kind": verdict.get("kind"),
                                 "status": verdict.get("status"), "reason": verdict.get("reason")})
            for name, value in sorted((verdict.get("figures") or {}).items()):
                metrics.append(_metric_row(run_id, f"verdict:{check_id}", str(name), value))
    events: list[dict[str, Any]] = []
    truncated: list[str] = []
    for history in bundle_history_files(bundle):
        relative = history.relative_to(bundle).as_posix()
        for number, op in _history_ops(history, truncated):
            if op.get("f") != "event" or op.get("type") != "ok":
                continue
            value = op.get("value") if isinstance(op.get("value"), Mapping) else {}
            assert isinstance(value, Mapping)
            family = taxonomy.family_of(value.get("name")) if taxonomy is not None else None
            events.append({
                "platform_run_id": value.get("platform_run_id"), "history": relative,
                "index": op.get("index", number), "time": op.get("time"), "process": op.get("process"),
                "name": value.get("name"), "category": value.get("category"),
                "version": None if value.get("version") is None else str(value.get("version")),
                "family": family.name if family is not None else None,
                "scenario_run_id": value.get("scenario_run_id"), "trace_id": value.get("trace_id"),
                "payload_json": json.dumps(value.get("payload"), sort_keys=True, default=str),
            })
    return Tables(run_id, tuple(metrics), tuple(verdict_rows), tuple(events), tuple(truncated))


def _csv_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue().encode()


_ARROW_TYPES = {"value": "float64", "time": "float64", "index": "int64"}


def _parquet_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field(c, getattr(pa, _ARROW_TYPES.get(c, "string"))()) for c in columns]
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for row in rows:
        for c in columns:
            value = row.get(c)
            if value is not None and _ARROW_TYPES.get(c) is None:
                value = str(value)
            data[c].append(value)
    table = pa.Table.from_pydict(data, schema=pa.schema(fields))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def require_pyarrow() -> None:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ExportError("Parquet export needs pyarrow, which is not installed: "
                          "pip install 'pytest-spine[parquet]' (or pyarrow), or export with --format csv") from None


def write_tables(tables: Tables, out_dir: Path, fmt: str) -> list[Path]:
    """Write every table or none; refuse to replace existing files."""
    if fmt not in FORMATS:
        raise ExportError(f"export format must be one of {list(FORMATS)}, given: {fmt!r}")
    if fmt == "parquet":
        require_pyarrow()
    encode = _csv_bytes if fmt == "csv" else _parquet_bytes
    payloads = {out_dir / f"{name}.{fmt}": encode(cols, rows) for name, (cols, rows) in tables.named().items()}
    clashing = [str(p) for p in payloads if p.exists()]
    if clashing:
        raise ExportError(f"{', '.join(clashing)} already exist: export never overwrites; choose an empty --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as bad:
        raise ExportError(f"cannot create the output folder {out_dir} ({bad.strerror})") from None
    temporaries: dict[Path, Path] = {}
    written: list[Path] = []
    try:
        for target, data in payloads.items():
            tmp = out_dir / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            tmp.write_bytes(data)
            temporaries[target] = tmp
        for target, tmp in temporaries.items():
            os.link(tmp, target)
            written.append(target)
    except OSError as bad:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise ExportError(f"export to {out_dir} failed ({bad}); nothing was kept") from None
    finally:
        for tmp in temporaries.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
    return written


def export_bundle(bundle: Path, out_dir: Path, fmt: str, taxonomy: Taxonomy | None = None) -> list[Path]:
    if fmt == "parquet":
        require_pyarrow()  # before reading anything: the clear message first
    return write_tables(collect_tables(bundle, taxonomy), out_dir, fmt)
