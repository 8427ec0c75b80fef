"""``spine metrics check [GATEFILE...]``: judge metric gate files outside a pytest run (the CI "simulator
gate job" of seed 000 §9). Exit 0 when every gate passes (or is not applicable), 1 when any fails, 2 on a
malformed gate file."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("metrics", help="Judge metric gate files (simulator JSON, CSV, a bundle's figures)")
    inner = parser.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)
    check = inner.add_parser("check", help="Evaluate gate files; default: the packaged gates and ./gates/*.yaml")
    check.add_argument("gatefiles", nargs="*", type=Path, metavar="GATEFILE",
                       help="Gate files (default: the packaged ones and gates/*.yaml in the current directory)")
    check.add_argument("--metrics-dir", type=Path, default=os.environ.get("SPINE_METRICS_DIR") or None,
                       metavar="DIR", help="Where the packaged gates find their sources (simulator_metrics.json, "
                                           "...; default: $SPINE_METRICS_DIR)")
    check.add_argument("--figures", type=Path, default=None, metavar="BUNDLE",
                       help="A run directory whose figures.json feeds the figures gates")
    check.add_argument("--json", action="store_true", help="Print the verdicts as JSON")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from pytest_spine.telemetry.gatefile import PACKAGED_GATES_DIR, discover_gatefiles, judge_gate, load_gates
    from pytest_spine.telemetry.metrics import load_figures
    from pytest_spine.telemetry.run_records import resolve_run_dir

    files = list(args.gatefiles) or discover_gatefiles(PACKAGED_GATES_DIR, Path("gates"))
    gates = load_gates(files, args.metrics_dir)
    figures = load_figures(resolve_run_dir(args.figures) / "figures.json") if args.figures is not None else None
    verdicts = [judge_gate(gate, figures, args.metrics_dir is not None) for gate in gates]
    if args.json:
        print(json.dumps({"ok": not any(v.status.is_failure for v in verdicts),
                          "verdicts": [v.to_json() for v in verdicts]}, indent=2))
    else:
        for verdict in verdicts:
            print(f"{verdict.status.value:<14} {verdict.check_id}: {verdict.reason}")
    return 1 if any(v.status.is_failure for v in verdicts) else 0
