"""``spine bench KIND``: measure and print figures (operations/s, peak memory, ...).

Kinds are the modules of ``pytest_spine.benchmarks`` (see its docstring for how to add one). Every kind takes
``--save PATH`` and ``--compare PATH [--fail-over PCT]`` (``pytest_spine.benchmarks._baseline``). A kind may also
expose ``summary(figures) -> list[str]`` (lines printed after the figures, not with ``--json``) and
``NOT_WORKLOAD`` (argument names kept out of the saved and compared workload, e.g. a broker address).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

from pytest_spine import benchmarks
from pytest_spine.benchmarks._baseline import (
    DEFAULT_FAIL_OVER_PCT,
    Comparison,
    compare,
    load,
    record,
    refuse_existing,
    save,
)


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="Measure the harness and the reference platform (prints figures)")
    kinds = parser.add_subparsers(dest="bench_kind", metavar="KIND", required=True)
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{benchmarks.__name__}.{info.name}")
        kind = kinds.add_parser(module.KIND, help=module.HELP)
        module.add_arguments(kind)
        kind.add_argument("--json", action="store_true", help="Print the figures as one JSON object")
        kind.add_argument("--save", type=Path, default=None, metavar="PATH",
                          help="Also write the figures, workload and machine info to PATH (never overwritten)")
        kind.add_argument("--compare", type=Path, default=None, metavar="PATH",
                          help="Compare with a benchmark saved earlier; exit 1 on a regression")
        kind.add_argument("--fail-over", type=float, default=DEFAULT_FAIL_OVER_PCT, metavar="PCT",
                          help="With --compare: a figure worse by more than PCT %% is a regression "
                               f"(default {DEFAULT_FAIL_OVER_PCT:g})")
        kind.set_defaults(func=_runner(module))


def _runner(module: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        # Both files are checked before measuring: a long benchmark must not end in "cannot save".
        baseline = load(args.compare, module.KIND) if args.compare is not None else None
        if args.save is not None:
            refuse_existing(args.save)
        figures = module.run(args)
        # A kind's NOT_WORKLOAD arguments say where to reach things (a broker address), not what was measured.
        measured = argparse.Namespace(**{k: v for k, v in vars(args).items()
                                         if k not in getattr(module, "NOT_WORKLOAD", ())})
        rows = compare(baseline, module.KIND, measured, figures, args.fail_over) if baseline is not None else None
        if args.save is not None:
            save(args.save, record(module.KIND, measured, figures))
        if args.json:
            report: dict[str, Any] = {"bench": module.KIND, "figures": dict(figures)}
            if rows is not None:
                report["comparison"] = {"baseline": str(args.compare), "fail_over_pct": args.fail_over,
                                        "regressions": [r.figure for r in rows if r.regression],
                                        "figures": [{"figure": r.figure, "baseline": r.baseline, "now": r.now,
                                                     "change_pct": r.change_pct, "better": r.better,
                                                     "verdict": r.verdict} for r in rows]}
            print(json.dumps(report, sort_keys=True))
        elif rows is None:
            width = max((len(name) for name in figures), default=0)
            for name, value in figures.items():
                print(f"{name:<{width}}  {_shown(value)}")
        else:
            _print_comparison(rows, args.compare, args.fail_over)
        if not args.json and hasattr(module, "summary"):
            for line in module.summary(figures):
                print(line)
        if args.save is not None:
            print(f"saved to {args.save}", file=sys.stderr)
        return 1 if rows is not None and any(r.regression for r in rows) else 0

    return run


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"  # a ratio needs its decimals
    return f"{value:,}" if isinstance(value, int) else str(value)


def _print_comparison(rows: list[Comparison], baseline: Path, fail_over: float) -> None:
    width = max((len(r.figure) for r in rows), default=0)
    print(f"{'figure':<{width}}  {'baseline':>14}  {'now':>14}  {'change':>9}  verdict")
    for r in rows:
        change = "-" if r.change_pct is None else f"{r.change_pct:+.1f} %"
        better = f" ({r.better} is better)" if r.better and r.regression else ""
        print(f"{r.figure:<{width}}  {_shown(r.baseline):>14}  {_shown(r.now):>14}  {change:>9}  {r.verdict}{better}")
    bad = [r.figure for r in rows if r.regression]
    print(f"{len(bad)} regression(s) over {fail_over:g} % against {baseline}" + (f": {', '.join(bad)}" if bad else ""))
