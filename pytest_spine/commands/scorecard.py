"""``spine scorecard BUNDLE... [--format terminal|json|md|html] [--out PATH]``.

Each bundle must pass evidence verification first; a bundle it rejects gets no scorecard (exit 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("scorecard", help="Rubric, v1.2 gate, Θ-03 and Spine Green scorecard of evidence bundles")
    parser.add_argument("bundles", nargs="+", type=Path, metavar="BUNDLE",
                        help="A run directory (or an evidence dir holding one run); several give the weekly table")
    parser.add_argument("--format", choices=("terminal", "json", "md", "html"), default="terminal",
                        help="Output format (default: terminal)")
    parser.add_argument("--out", type=Path, default=None, help="Write to this file instead of standard output")
    parser.add_argument("--rubric", type=Path, default=None, help="A rubric mapping file (default: the packaged "
                        "rubric.yaml)")
    parser.set_defaults(func=_scorecard)


def _scorecard(args: argparse.Namespace) -> int:
    from pytest_spine.clock import SystemClock, utc_iso
    from pytest_spine.errors import SpineError
    from pytest_spine.evidence.bundle import write_once
    from pytest_spine.rubric.bundles import load_verified
    from pytest_spine.rubric.mapping import load_rubric
    from pytest_spine.rubric.scorecard import build_scorecard, scorecard_json

    spec = load_rubric(args.rubric)
    card = build_scorecard([load_verified(path) for path in args.bundles], spec)
    if args.format == "terminal":
        from rich.console import Console

        from pytest_spine.rubric.terminal import print_scorecard

        if args.out is None:
            print_scorecard(card, Console(width=160, highlight=False))
            return 0
        import io

        buffer = io.StringIO()
        print_scorecard(card, Console(file=buffer, width=160, no_color=True))
        text = buffer.getvalue()
    elif args.format == "json":
        from pytest_spine.evidence.schemas import load_schema, problems

        document = scorecard_json(card, utc_iso(SystemClock().now()))
        found = problems(document, load_schema("scorecard"))
        if found:  # a renderer bug, not bad input: refuse to emit an invalid document
            raise SpineError(f"the scorecard does not validate against scorecard.schema.json: {'; '.join(found[:3])}")
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif args.format == "md":
        from pytest_spine.rubric.markdown import render_markdown

        text = render_markdown(card)
    else:
        from pytest_spine.rubric.html import render_html

        text = render_html(card, args.out)
    if args.out is None:
        print(text, end="")
        return 0
    try:
        write_once(args.out, text.encode("utf-8"))
    except OSError as bad:
        raise SpineError(f"cannot write the scorecard to {args.out} ({bad.strerror}); pass a writable --out") from None
    print(f"scorecard written to {args.out}")
    return 0
