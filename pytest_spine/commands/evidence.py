"""``spine evidence verify DIR``: exit 0 when the bundle is faithful and complete, 1 otherwise."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("evidence", help="Work with evidence bundles")
    inner = parser.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    verify = inner.add_parser("verify", help="Check a bundle's completeness, schemas, digests and run ids")
    verify.add_argument("bundle", type=Path, help="A run directory, or an evidence dir holding one run")
    verify.add_argument("--json", action="store_true", help="Print the report as JSON")
    verify.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    from pytest_spine.evidence.verify import verify_bundle

    report = verify_bundle(args.bundle)
    if args.json:
        print(json.dumps({
            "bundle": str(report.bundle), "platform_run_id": report.platform_run_id, "ok": report.ok,
            "spine_green": report.spine_green, "files_checked": report.files_checked,
            "failed_phases": list(report.failed_phases), "verdict_counts": report.verdict_counts,
            "problems": [{"path": p.path, "reason": p.reason} for p in report.problems],
        }, indent=2))
    else:
        for problem in report.problems:
            print(f"FAIL {problem}")
        state = "valid" if report.ok else "INVALID"
        run = "Spine Green" if report.spine_green else (
            f"run failed at {', '.join(report.failed_phases)}" if report.failed_phases else "not green")
        print(f"{report.bundle}: {state} ({report.files_checked} files, {len(report.problems)} problems; {run})")
    return 0 if report.ok else 1
