"""``spine scenarios list | validate PATH... | plan [ID...]``: the chaos scenario files on their own.

``validate`` applies exactly the checks of collection (YAML, schema, registries, schedule) and exits 1
naming the file, the place and the reason of every rejected file; the valid ones are still reported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("scenarios", help="List, validate and plan the chaos scenarios")
    inner = parser.add_subparsers(dest="scenarios_command", metavar="ACTION", required=True)
    listing = inner.add_parser("list", help="The scenarios, their generators, faults and checks")
    listing.add_argument("--json", action="store_true", help="Print as JSON")
    listing.set_defaults(func=_list)
    validate = inner.add_parser("validate", help="Validate scenario files or folders (exit 1 on any bad file)")
    validate.add_argument("paths", nargs="*", type=Path, help="Files or folders (default: the packaged ones)")
    validate.set_defaults(func=_validate)
    plan = inner.add_parser("plan", help="Print the plan of scenarios without touching a target")
    plan.add_argument("ids", nargs="*", help="Scenario ids (default: all)")
    plan.add_argument("--seed", type=int, default=None, help="The seed of the planned instance")
    plan.add_argument("--json", action="store_true", help="Print as JSON")
    plan.set_defaults(func=_plan)


def _load(paths: list[Path]) -> Any:
    from pytest_spine.errors import ScenarioError
    from pytest_spine.scenarios.loader import LoadReport, load_dir, load_file, packaged_dir

    if not paths:
        return load_dir(packaged_dir())
    scenarios: list[Any] = []
    errors: list[ScenarioError] = []
    for path in paths:
        if path.is_dir():
            report = load_dir(path)
            scenarios.extend(report.scenarios)
            errors.extend(report.errors)
        elif not path.exists():
            errors.append(ScenarioError(str(path), "file", "no such file or folder"))
        else:
            try:
                scenarios.append(load_file(path))
            except ScenarioError as error:
                errors.append(error)
    return LoadReport(tuple(scenarios), tuple(errors))


def _validate(args: argparse.Namespace) -> int:
    report = _load(list(args.paths))
    for scenario in report.scenarios:
        print(f"ok      {scenario.path}: {scenario.id}")
    for error in report.errors:
        print(f"INVALID {error}")
    print(f"{len(report.scenarios)} valid, {len(report.errors)} rejected")
    return 1 if report.errors else 0


def _list(args: argparse.Namespace) -> int:
    report = _load([])
    rows = [{"id": s.id, "generator": s.workload.generator, "faults": [f.name for f in s.faults],
             "invariants": list(s.invariants), "thresholds": [str(t) for t in s.thresholds],
             "seeds": list(s.seeds), "file": s.path} for s in report.scenarios]
    if args.json:
        print(json.dumps({"scenarios": rows, "rejected": [str(e) for e in report.errors]}, indent=2))
    else:
        for row in rows:
            print(f"{row['id']:<34} {row['generator']:<22} faults={','.join(row['faults']) or '-'}  "
                  f"checks={len(row['invariants']) + len(row['thresholds'])}")
        for error in report.errors:
            print(f"INVALID {error}")
    return 1 if report.errors else 0


def _plan(args: argparse.Namespace) -> int:
    from pytest_spine.errors import SpineError
    from pytest_spine.scenarios.plan import plan_json, render_plan

    report = _load([])
    chosen = [s for s in report.scenarios if not args.ids or s.id in args.ids]
    unknown = sorted(set(args.ids) - {s.id for s in report.scenarios})
    if unknown:
        raise SpineError(f"unknown scenario id(s) {', '.join(unknown)}; known: "
                         f"{', '.join(s.id for s in report.scenarios)}")
    if args.json:
        print(json.dumps([plan_json(s, args.seed if args.seed is not None else s.seeds[0]) for s in chosen],
                         indent=2))
    else:
        for scenario in chosen:
            print(render_plan(scenario, args.seed if args.seed is not None else scenario.seeds[0]))
            print()
    return 0
