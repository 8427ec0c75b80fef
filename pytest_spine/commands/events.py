"""``spine events lint FILE...``: lint telemetry events against the taxonomy (seed 000 §1.5).

Sources: JSON lines (bare events or history operations), a history (.jsonl / .jsonl.gz) or an evidence
bundle directory. Exit 0 when clean, 1 on findings, 2 when a source or the taxonomy cannot be read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("events", help="Work with telemetry event streams")
    inner = parser.add_subparsers(dest="events_command", metavar="ACTION", required=True)
    lint = inner.add_parser("lint", help="Lint event names, categories, versions, correlation fields and PII")
    lint.add_argument("files", nargs="+", type=Path, metavar="FILE",
                      help="JSON lines, a history (.jsonl/.gz) or an evidence bundle directory")
    lint.add_argument("--json", action="store_true", help="Print machine-readable findings for CI")
    lint.add_argument("--taxonomy", type=Path, default=None, metavar="PATH",
                      help="Taxonomy file (default: the packaged reference taxonomy)")
    lint.add_argument("--run-id", default=None, metavar="ID",
                      help="Require every event to carry this platform_run_id (default: one id per file)")
    lint.set_defaults(func=_lint)


def _lint(args: argparse.Namespace) -> int:
    from pytest_spine.telemetry.events import load_event_streams
    from pytest_spine.telemetry.lint import Finding, lint_all, summarize
    from pytest_spine.telemetry.pii import PiiDetector
    from pytest_spine.telemetry.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy)
    detector = PiiDetector.from_config(taxonomy.pii)
    detector.self_test()
    cut: list[dict[str, Any]] = []
    # Read every source before reporting anything: a bad file fails the whole command (exit 2).
    sources = [stream for path in args.files for stream in load_event_streams(path, cut)]
    results: list[dict[str, Any]] = []
    total = []
    for label, events in sources:
        findings = lint_all(events, taxonomy, detector, args.run_id)
        total.extend(findings)
        results.append({"path": label, "events": len(events), "findings": [f.to_json() for f in findings]})
    events_seen = sum(r["events"] for r in results)
    if events_seen == 0:
        # An empty stream lints clean vacuously; missing telemetry is a failure, so say so and fail.
        total.append(Finding("TEL-TAXONOMY", "no_events", ", ".join(str(p) for p in args.files), "",
                             "no event in any source: nothing was linted (missing telemetry is a failure)"))
    if args.json:
        print(json.dumps({"ok": not total, "taxonomy": taxonomy.source, "files": results,
                          "counts": dict(summarize(total)), "truncated_histories": cut}, indent=2))
    else:
        for finding in total:
            print(f"FAIL {finding}")
        for marker in cut:
            print(f"note: {marker['path']} was cut at the bundle's size bound ({marker['kept']} of "
                  f"{marker['total']} operations stored): linted the stored part")
        state = "clean" if not total else f"{len(total)} findings"
        print(f"{len(results)} streams, {events_seen} events: {state}")
    return 0 if not total else 1
