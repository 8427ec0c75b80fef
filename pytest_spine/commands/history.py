"""``spine history add BUNDLE [--junit FILE]`` and ``spine history report [--json]``: the run history
(a local folder or an S3 prefix) behind the flake, consecutive-failure, SLO-window and error-budget gates.

``report`` exits 0 when every history gate passes, 1 when any fails (No-Go included).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

DEFAULT_HISTORY_DIR = "reports/history"


def default_history_location() -> str:
    return os.environ.get("SPINE_HISTORY_DIR") or DEFAULT_HISTORY_DIR


def _add_location(parser: Any) -> None:
    parser.add_argument("--history-dir", default=None, metavar="DIR",
                        help="History folder or s3://bucket/prefix (default: $SPINE_HISTORY_DIR or "
                             f"{DEFAULT_HISTORY_DIR})")


def register(sub: Any) -> None:
    parser = sub.add_parser("history", help="Record runs and judge flake rate, streaks, SLO windows, budgets")
    inner = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    add = inner.add_parser("add", help="Add one run (its bundle and/or JUnit file) to the history")
    add.add_argument("bundle", nargs="?", type=Path, default=None,
                     help="A run directory, or an evidence dir holding one run")
    add.add_argument("--junit", type=Path, default=None, metavar="FILE", help="The run's JUnit XML file")
    _add_location(add)
    add.set_defaults(func=_add)
    report = inner.add_parser("report", help="Flake rate (G4), consecutive failures, SLO days, budget (G7)")
    report.add_argument("--json", action="store_true", help="Print the report as JSON")
    report.add_argument("--window", type=int, default=20, metavar="N", help="Rolling window of runs (default 20)")
    report.add_argument("--required", action="append", default=[], metavar="PATTERN",
                        help="Required checks (fnmatch, repeatable; default: every check)")
    report.add_argument("--slo-target", type=float, default=0.99, metavar="RATIO",
                        help="Default per-pillar SLO target (default 0.99)")
    report.add_argument("--validation-days", type=int, default=7, metavar="DAYS",
                        help="SLO validation window in days (default 7)")
    _add_location(report)
    report.set_defaults(func=_report)


def _add(args: argparse.Namespace) -> int:
    from pytest_spine.telemetry.run_records import (
        RunHistoryError,
        open_store,
        record_from_bundle,
        record_from_junit,
    )

    if args.bundle is None and args.junit is None:
        raise RunHistoryError("spine history add needs a BUNDLE, a --junit FILE, or both")
    record = record_from_bundle(args.bundle) if args.bundle is not None else None
    if args.junit is not None:
        junit = record_from_junit(args.junit, record.run_id if record else None,
                                  record.started_at if record else None)
        record = record.merged(junit) if record is not None else junit
    assert record is not None
    store = open_store(args.history_dir or default_history_location())
    where = store.add(record)
    print(f"added run {record.run_id} ({len(record.outcomes)} tests) to {where}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pytest_spine.errors import ConfigError
    from pytest_spine.telemetry.history_gates import HistoryPolicy, evaluate_history
    from pytest_spine.telemetry.run_records import open_store

    if args.window < 1 or args.validation_days < 1 or not 0 < args.slo_target < 1:
        raise ConfigError(f"--window and --validation-days must be >= 1 and --slo-target in (0, 1), given: "
                          f"{args.window}, {args.validation_days}, {args.slo_target}")
    policy = HistoryPolicy(window_runs=args.window, required=tuple(args.required) or ("*",),
                           default_slo_target=args.slo_target, validation_days=args.validation_days)
    store = open_store(args.history_dir or default_history_location())
    report = evaluate_history(store.records(), policy, store.location)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        for verdict in report.verdicts:
            print(f"{verdict.status.value:<5} {verdict.check_id}: {verdict.reason}")
        print(f"{report.runs} runs in {report.location}; {'NO-GO' if report.no_go else 'no automatic No-Go'}")
    return 1 if any(v.status.is_failure for v in report.verdicts) else 0
