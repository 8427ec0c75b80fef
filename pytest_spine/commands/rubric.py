"""``spine rubric score measurement=2 outcomes=1 ...``: the seed 004 table, total and decision from scores."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

_NO_GO = {
    "sev1": "An open Sev-1 reliability or security incident",
    "redteam": "An unresolved P0/P1 red-team finding",
    "slo-window": "The SLO validation window has two consecutive days of SLO miss in one pillar",
    "smoke-streak": "The smoke run failed for 3 consecutive required runs",
}


def register(sub: Any) -> None:
    parser = sub.add_parser("rubric", help="Score the weighted reliability rubric (seed 004)")
    inner = parser.add_subparsers(dest="rubric_command", metavar="ACTION", required=True)
    score = inner.add_parser(
        "score", help="Print the rubric table, total and decision for six category scores",
        description="Score each category 0-4: measurement, outcomes, ci, security, operability, discipline. "
                    "Total = sum(score / 4 * weight); decision per seed 004 section 5",
    )
    score.add_argument("scores", nargs="+", metavar="CATEGORY=N", help="Each of the six categories once, e.g. ci=3")
    score.add_argument("--no-go", action="append", default=[], choices=sorted(_NO_GO), metavar="CONDITION",
                       help=f"An automatic No-Go condition that holds ({', '.join(sorted(_NO_GO))}); repeatable")
    score.add_argument("--json", action="store_true", help="Print the result as JSON")
    score.add_argument("--rubric", type=Path, default=None,
                       help="Take weights and thresholds from this rubric mapping file (default: seed 004's)")
    score.set_defaults(func=_score)
    validate = inner.add_parser("validate", help="Check a rubric mapping file (schema, weights, thresholds)")
    validate.add_argument("file", type=Path, help="A rubric.yaml")
    validate.set_defaults(func=_validate)


def _score(args: argparse.Namespace) -> int:
    from pytest_spine.rubric.engine import parse_pairs, score

    kw: dict[str, Any] = {}
    if args.rubric is not None:
        from pytest_spine.rubric.mapping import load_rubric

        spec = load_rubric(args.rubric)
        kw = {"categories": spec.categories, "thresholds": spec.thresholds}
    result = score(parse_pairs(args.scores), no_go=[_NO_GO[k] for k in args.no_go], **kw)
    if args.json:
        from pytest_spine.rubric.scorecard import rubric_json

        print(json.dumps(rubric_json(result), indent=2))
        return 0
    from rich.console import Console

    from pytest_spine.rubric.terminal import print_rubric

    print_rubric(result, Console(width=140, highlight=False))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pytest_spine.rubric.mapping import load_rubric

    spec = load_rubric(args.file)  # raises RubricError naming the file and the place
    rules = sum(len(r) for r in spec.rules.values())
    weights = ", ".join(f"{c.key}={c.weight}" for c in spec.categories)
    print(f"{args.file}: valid ({weights}; {rules} rules, {len(spec.no_go)} No-Go conditions)")
    return 0
