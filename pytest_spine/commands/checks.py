"""``spine checks list [--json]``: every phase-gate criterion with its basis and what it reads, so a platform
team sees which of its evidence files are judged alone (attested) and which are cross-checked against what the
harness observes of its substrate."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("checks", help="The checks the harness judges, with their basis")
    inner = parser.add_subparsers(dest="checks_command", metavar="ACTION", required=True)
    listing = inner.add_parser("list", help="List every phase-gate criterion: id, basis, the evidence it reads")
    listing.add_argument("--json", action="store_true", help="Print machine-readable rows")
    listing.set_defaults(func=_list)


def rows() -> list[dict[str, Any]]:
    from pytest_spine.gates.catalogue import all_criteria

    return [{"id": c.check_id, "basis": c.basis, "reads": list(c.evidence), "title": c.title}
            for c in all_criteria()]


def _list(args: argparse.Namespace) -> int:
    found = rows()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    width = max(len(r["id"]) for r in found)
    for row in found:
        reads = ", ".join(row["reads"]) or "(the target's observations or drills)"
        print(f"{row['id']:<{width}}  {row['basis']:<10}  {row['title']}  [reads: {reads}]")
    counts = {b: sum(r["basis"] == b for r in found) for b in ("observed", "recomputed", "attested")}
    print(f"{len(found)} criteria: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
