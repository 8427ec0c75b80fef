"""``spine export BUNDLE --format csv|parquet --out DIR``: a run's metrics, verdicts and events as tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help="Export a bundle's metrics, verdicts and events as CSV or Parquet")
    parser.add_argument("bundle", type=Path, help="A run directory, or an evidence dir holding one run")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default="csv",
                        help="Table format (parquet needs pyarrow: pip install 'pytest-spine[parquet]')")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="Output folder (existing tables are never overwritten)")
    parser.add_argument("--taxonomy", type=Path, default=None, metavar="PATH",
                        help="Taxonomy used to label each event's family (default: the packaged one)")
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from pytest_spine.telemetry.export import collect_tables, require_pyarrow, write_tables
    from pytest_spine.telemetry.run_records import resolve_run_dir
    from pytest_spine.telemetry.taxonomy import load_taxonomy

    if args.fmt == "parquet":
        require_pyarrow()  # the clear message before reading anything
    taxonomy = load_taxonomy(args.taxonomy)
    tables = collect_tables(resolve_run_dir(args.bundle), taxonomy)
    for path in write_tables(tables, args.out, args.fmt):
        print(f"wrote {path}")
    for history in tables.truncated_histories:
        print(f"note: {history} was cut at the bundle's size bound: its events table holds the stored part")
    return 0
