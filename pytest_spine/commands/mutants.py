"""``spine mutants list`` and ``spine mutants run [--json]``: the mutation matrix.

``run`` runs the packaged suite once on the correct reference (the baseline) and once per mutant
(``pytest --spine-env=reference --spine-mutant=M``), each in a subprocess with its own evidence dir,
reads each run's verdicts.json and prints the kill matrix (mutant x check) and the mutation score. A
check "kills" a mutant when it fails (FAIL, BLOCKED or UNKNOWN) on the mutant but passed on the baseline;
a check that already fails on the baseline kills nothing. Exit 0 when every mutant is killed and every
INV-* / CH-* check that ran killed at least one mutant, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = "(baseline)"
FAILING = frozenset({"FAIL", "BLOCKED", "UNKNOWN"})


def register(sub: Any) -> None:
    parser = sub.add_parser("mutants", help="List the reference mutants, or run the suite against each "
                                            "(kill matrix and mutation score)")
    inner = parser.add_subparsers(dest="mutants_command", metavar="ACTION", required=True)
    listing = inner.add_parser("list", help="The mutants of the reference implementation")
    listing.add_argument("--json", action="store_true", help="Print as JSON")
    listing.set_defaults(func=_list)
    run = inner.add_parser("run", help="Run the suite against every mutant and print the kill matrix")
    run.add_argument("--json", action="store_true", help="Print the matrix as JSON: per mutant, the checks that "
                                                        "failed")
    run.add_argument("--only", action="append", default=[], metavar="MUTANT", help="Run only these (repeatable)")
    run.add_argument("--jobs", type=int, default=2, help="Suite runs in parallel (default: 2)")
    run.add_argument("--timeout", type=float, default=900.0, help="Seconds per suite run (default: 900)")
    run.add_argument("--profile", default="pr", choices=("pr", "default"),
                     help="Workload profile of each run (default: pr, a tenth of the scenario workloads)")
    run.add_argument("--select", default=None, metavar="EXPR", help="Only suite items matching this -k expression")
    run.add_argument("--seed", type=int, default=None, help="--spine-seed of every run")
    run.add_argument("--workdir", type=Path, default=None, help="Keep the evidence of every run here")
    run.set_defaults(func=_run)


def _catalogue() -> dict[str, str]:
    """Mutant name -> description, for every family the reference target accepts."""
    from pytest_spine.targets.reference import MUTANT_NAMES
    from reference_impl.mutants import MUTANTS

    described = {name: f"[{m.component}] {m.description}" for name, m in MUTANTS.items()}
    return {name: described.get(name, "(family mutant: control plane or security)") for name in sorted(MUTANT_NAMES)}


def _list(args: argparse.Namespace) -> int:
    catalogue = _catalogue()
    if args.json:
        print(json.dumps({"mutants": [{"name": n, "description": d} for n, d in catalogue.items()]}, indent=2))
    else:
        for name, description in catalogue.items():
            print(f"{name:<34} {description}")
        print(f"{len(catalogue)} mutants")
    return 0


@dataclass(frozen=True, slots=True)
class SuiteRun:
    mutant: str
    exit_code: int | None
    seconds: float
    statuses: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


def _suite(mutant: str | None, args: argparse.Namespace, workdir: Path) -> SuiteRun:
    name = mutant or BASELINE
    slug = mutant or "baseline"
    evidence = workdir / slug
    run_id = f"mutant-{slug}"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--spine-env=reference",
               f"--spine-evidence-dir={evidence}", f"--spine-run-id={run_id}", f"--spine-profile={args.profile}",
               "-o", "addopts=", "--rootdir", str(evidence)]
    if mutant:
        command.append(f"--spine-mutant={mutant}")
    if args.seed is not None:
        command.append(f"--spine-seed={args.seed}")
    if args.select:
        command += ["-k", args.select]
    evidence.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=evidence, capture_output=True, text=True, timeout=args.timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return SuiteRun(name, None, time.monotonic() - started, error=f"timed out after {args.timeout:g}s")
    seconds = time.monotonic() - started
    verdicts_path = evidence / "evidence" / "runs" / run_id / "verdicts.json"
    try:
        document = json.loads(verdicts_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as bad:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return SuiteRun(name, done.returncode, seconds, error=f"no readable verdicts.json ({bad}); "
                                                              f"pytest said: {' | '.join(tail)}")
    statuses = {str(v["id"]): str(v["status"]) for v in document.get("verdicts", [])}
    return SuiteRun(name, done.returncode, seconds, statuses)


def kill_matrix(baseline: SuiteRun, runs: list[SuiteRun],
                declared: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Per mutant, the checks that killed it; the score; and the INV-/CH- checks that killed nothing.

    ``declared``: the checks each mutant is measured to break. A surviving mutant whose declared checks are
    all NOT_APPLICABLE on the reference (a network fault) cannot be measured here: it is listed apart."""
    passing = {check for check, status in baseline.statuses.items() if status not in FAILING}
    rows: dict[str, Any] = {}
    killers: dict[str, list[str]] = {check: [] for check in sorted(baseline.statuses)}
    for run in runs:
        failed = sorted(c for c, s in run.statuses.items() if s in FAILING and c in passing)
        for check in failed:
            killers.setdefault(check, []).append(run.mutant)
        rows[run.mutant] = {"killed": bool(failed), "failed_checks": failed, "exit_code": run.exit_code,
                            "seconds": round(run.seconds, 1), "error": run.error}
    unmeasurable = []
    for name, row in list(rows.items()):
        checks = {c.split("/", 1)[0] for c in (declared or {}).get(name, ())}
        if not row["killed"] and checks and all(baseline.statuses.get(c) == "NOT_APPLICABLE" for c in checks):
            unmeasurable.append(name)
            del rows[name]
    killed = sum(1 for row in rows.values() if row["killed"])
    # A law NOT_APPLICABLE on the reference (a network fault needs local_parity) cannot be measured here:
    # it is listed apart, never counted as killing nothing nor as killing something.
    elsewhere = sorted(c for c, s in baseline.statuses.items()
                       if s == "NOT_APPLICABLE" and c.startswith(("INV-", "CH-")))
    laws = [c for c in killers if c.startswith(("INV-", "CH-")) and "/" not in c and c not in elsewhere]
    return {
        "mutants": rows,
        "score": killed / len(rows) if rows else 0.0,
        "killed": killed, "total": len(rows),
        "survivors": sorted(name for name, row in rows.items() if not row["killed"]),
        "baseline_failures": sorted(c for c, s in baseline.statuses.items() if s in FAILING),
        "laws_without_kill": sorted(c for c in laws if not killers[c]),
        "not_applicable_on_reference": elsewhere,
        "mutants_measured_elsewhere": sorted(unmeasurable),
        "killers": {c: sorted(m) for c, m in killers.items() if m},
    }


def _run(args: argparse.Namespace) -> int:
    from pytest_spine.errors import ConfigError

    catalogue = _catalogue()
    unknown = sorted(set(args.only) - set(catalogue))
    if unknown:
        raise ConfigError(f"unknown mutant(s) {', '.join(unknown)}; see spine mutants list")
    chosen = list(args.only) or list(catalogue)
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, given: {args.jobs}")
    holder = None
    if args.workdir is None:
        holder = tempfile.TemporaryDirectory(prefix="spine-mutants-")
        workdir = Path(holder.name)
    else:
        workdir = args.workdir
    try:
        total = len(chosen) + 1

        def one(mutant: str | None) -> SuiteRun:
            run = _suite(mutant, args, workdir)
            failed = sum(1 for status in run.statuses.values() if status in FAILING)
            print(f"spine mutants: {run.mutant}: {failed} failing checks in {run.seconds:.0f}s"
                  + (f" ({run.error})" if run.error else "") + f" [of {total} runs]", file=sys.stderr, flush=True)
            return run

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(one, None)] + [pool.submit(one, m) for m in chosen]
            results = [f.result() for f in futures]
    finally:
        if holder is not None:
            holder.cleanup()
    baseline, runs = results[0], results[1:]
    if baseline.error is not None:
        raise ConfigError(f"the baseline run on the correct reference failed to produce verdicts: {baseline.error}")
    from reference_impl.mutants import MUTANTS

    matrix = kill_matrix(baseline, runs, {name: tuple(m.breaks) for name, m in MUTANTS.items()})
    if args.json:
        print(json.dumps(matrix, indent=2))
    else:
        _print(matrix)
    ok = not matrix["survivors"] and not matrix["laws_without_kill"]
    return 0 if ok else 1


def _print(matrix: Mapping[str, Any]) -> None:
    laws = sorted(c for c in matrix["killers"] if c.startswith(("INV-", "CH-")) and "/" not in c)
    laws += sorted(matrix["laws_without_kill"])
    print("kill matrix (x = the check failed on the mutant and passed on the baseline)")
    header = "".join(f"{n:>4}" for n in range(1, len(laws) + 1))
    print(f"{'mutant':<34}{header}  other checks that failed")
    for name, row in sorted(matrix["mutants"].items()):
        failed = set(row["failed_checks"])
        cells = "".join(f"{'x' if law in failed else '.':>4}" for law in laws)
        others = [c for c in row["failed_checks"] if c not in laws]
        note = row["error"] or ", ".join(others[:4]) + (" ..." if len(others) > 4 else "")
        print(f"{name:<34}{cells}  {note}")
    for number, law in enumerate(laws, start=1):
        print(f"  {number:>3} = {law}")
    print(f"mutation score: {matrix['killed']}/{matrix['total']} = {matrix['score']:.1%}")
    if matrix["survivors"]:
        print(f"SURVIVED: {', '.join(matrix['survivors'])}")
    if matrix["laws_without_kill"]:
        print(f"checks that killed no mutant: {', '.join(matrix['laws_without_kill'])}")
    if matrix.get("mutants_measured_elsewhere"):
        print(f"mutants whose checks are not applicable on the reference (killed on local_parity by the services "
              f"tests): {', '.join(matrix['mutants_measured_elsewhere'])}")
    if matrix.get("not_applicable_on_reference"):
        print(f"not applicable on the reference (measured on local_parity by the services tests): "
              f"{', '.join(matrix['not_applicable_on_reference'])}")
    if matrix["baseline_failures"]:
        print(f"failing on the correct reference (they kill nothing): {', '.join(matrix['baseline_failures'])}")
