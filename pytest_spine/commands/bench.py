"""``spine bench KIND``: measure and print figures (operations/s, peak memory, ...).

Kinds are the modules of ``pytest_spine.benchmarks`` (see its docstring for how to add one).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
from typing import Any

from pytest_spine import benchmarks


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
        kind.set_defaults(func=_runner(module))


def _runner(module: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        figures = module.run(args)
        if args.json:
            print(json.dumps({"bench": module.KIND, "figures": dict(figures)}, sort_keys=True))
        else:
            width = max((len(name) for name in figures), default=0)
            for name, value in figures.items():
                shown = f"{value:,.1f}" if isinstance(value, float) else (
                    f"{value:,}" if isinstance(value, int) else str(value))
                print(f"{name:<{width}}  {shown}")
        return 0

    return run
