"""``spine check HISTORY``: re-check a stored history offline with every registered checker.

Exit 0 when every law holds (NOT_APPLICABLE is not a violation), 1 when one is violated or cannot be
decided (FAIL, UNKNOWN, BLOCKED), 2 when the history cannot be read (the line is named).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("check", help="Re-check a stored history (JSONL or .jsonl.gz) with the invariant "
                                          "checkers")
    parser.add_argument("history", type=Path, help="A history file, e.g. scenarios/<id>/history.jsonl.gz")
    parser.add_argument("--json", action="store_true", help="Print the verdicts as JSON")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="The run's evidence bundle: enables the evidence laws (replay anchors, "
                             "completeness, receipt summary)")
    parser.add_argument("--handles", type=Path, default=None,
                        help="A handles registry (YAML/JSON/Markdown) for INV-HANDLES")
    parser.add_argument("--only", action="append", default=[], metavar="ID",
                        help="Check only this id (repeatable)")
    parser.add_argument("--kind", default=None, choices=("invariant", "control_plane", "security", "telemetry"),
                        help="Check only this family (invariant = the INV-* drift laws)")
    parser.add_argument("--run-scope", default=None, metavar="RUN_ID",
                        help="The run the gate was pinned to: admits of other runs violate INV-RUN-SCOPE")
    parser.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from pytest_spine.errors import SpineError
    from pytest_spine.history import read_history
    from pytest_spine.invariants.offline import context_for
    from pytest_spine.invariants.registry import get, registered, run_checks
    from pytest_spine.verdicts import merge

    if not args.history.is_file():
        raise SpineError(f"history {args.history} does not exist; pass a history.jsonl(.gz) file, e.g. from "
                         "an evidence bundle's scenarios/<id>/ folder")
    ctx = context_for(bundle=args.bundle, handles=args.handles, run_scope=args.run_scope)
    specs = [get(check_id) for check_id in args.only] if args.only else registered()
    if args.kind is not None:
        specs = [spec for spec in specs if spec.kind == args.kind]
    elif not args.only:
        # A family's checks run when its operations are in the history; a spine run's history holds no
        # control-plane or security-layer operations, and judging it by them would only report absences.
        present = _families_present(read_history(args.history))
        skipped = sorted({spec.kind for spec in specs} - present - {"invariant"})
        specs = [spec for spec in specs if spec.kind == "invariant" or spec.kind in present]
        for kind in skipped:
            print(f"note: {kind} checks not run: the history holds none of their operations "
                  f"(force them with --kind {kind})", file=sys.stderr)
    verdicts = run_checks(read_history(args.history), ctx, specs)
    overall = merge(v.status for v in verdicts)
    failing = [v for v in verdicts if v.status.is_failure]
    if args.json:
        json.dump({"history": str(args.history), "status": overall.value,
                   "verdicts": [v.to_json() for v in verdicts]}, sys.stdout, indent=2, default=str)
        print()
    else:
        for verdict in verdicts:
            print(f"{verdict.status.value:<15} {verdict.check_id:<28} {verdict.reason}")
            for op in verdict.counterexample if verdict.status.is_failure else ():
                print(f"{'':16}  {json.dumps(op, sort_keys=True, default=str)}")
        print(f"{args.history}: {len(verdicts)} checks, {len(failing)} violated or undecided")
    return 1 if failing else 0


def _families_present(ops: Any) -> set[str]:
    present: set[str] = set()
    for op in ops:
        if op.f.startswith(("cp_", "heavy_")):
            present.add("control_plane")
        elif op.f == "control_admit":
            present.add("security")
        if len(present) == 2:
            break
    return present
