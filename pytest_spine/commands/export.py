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
    from pytest_spine.telemetry.export import export_bundle
    from pytest_spine.telemetry.run_records import resolve_run_dir
    from pytest_spine.telemetry.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy)
    written = export_bundle(resolve_run_dir(args.bundle), args.out, args.fmt, taxonomy)
    for path in written:
        print(f"wrote {path}")
    return 0
