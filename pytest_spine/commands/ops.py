"""``spine ops``: the control plane's ops status (CP-007) — queue depth, stale RUNNING jobs, recent failures.

Runs a control-plane workload of the reference implementation (or reads the final snapshot of a stored
control-plane history) and prints the status an operator reads in a glance; ``--json`` prints it as JSON.
Exit 0 when healthy, 1 when a RUNNING job holds an expired lease or jobs were lost, 2 on bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

WORKLOADS = ("CP-BASELINE", "CH-POLL-TIMEOUT-BURST", "CH-DUPLICATE-COMMAND-REPLAY", "CH-RESTART-DURING-RUNNING",
             "CH-SUCCESS-THEN-REPORTING-FAILURE", "CH-DUPLICATE-RESUME")


def register(sub: Any) -> None:
    parser = sub.add_parser("ops", help="Print the ops status of a reference control-plane run (queue depth, "
                                        "stale RUNNING, recent failures)")
    parser.add_argument("--workload", choices=WORKLOADS, default="CP-BASELINE",
                        help="The control-plane workload to run (default: CP-BASELINE)")
    parser.add_argument("--seed", type=int, default=3, help="Seed of the workload (default: 3)")
    parser.add_argument("--store", choices=("memory", "postgres"), default="memory",
                        help="The control-plane store (postgres: --dsn, else SPINE_POSTGRES_DSN, else a throwaway "
                             "cluster)")
    parser.add_argument("--dsn", default=None, help="A PostgreSQL DSN for --store=postgres")
    parser.add_argument("--mutant", default=None, help="Run a control-plane mutant (to see what broken looks like)")
    parser.add_argument("--history", type=Path, default=None,
                        help="Read the final snapshot of a stored history (control_plane/<w>/history.jsonl.gz) "
                             "instead of running a workload")
    parser.add_argument("--json", action="store_true", help="Print the status as JSON")
    parser.set_defaults(func=_ops)


def _status_from_history(path: Path) -> dict[str, Any]:
    from pytest_spine.errors import HistoryError
    from pytest_spine.history import read_history

    if not path.is_file():
        raise HistoryError(f"{path}: no such history file; give a control_plane/<workload>/history.jsonl.gz")
    snapshot = None
    created: set[str] = set()
    for op in read_history(path):
        if op.f == "cp_snapshot":
            snapshot = op
        elif op.f == "cp_job_created":
            created.add(str(op.value.get("job_id")))
    if snapshot is None or not isinstance(snapshot.value.get("ops"), dict):
        raise HistoryError(f"{path}: holds no cp_snapshot with an ops status; it is not a control-plane history "
                           "or the run did not finish")
    status = dict(snapshot.value["ops"])
    present = {str(job.get("job_id")) for job in snapshot.value.get("jobs") or [] if isinstance(job, dict)}
    status["jobs_lost"] = sorted(created - present)
    return status


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.targets.reference_control_plane import run_control_plane

    run = run_control_plane(args.workload, seed=args.seed, mutant=args.mutant, store=args.store, dsn=args.dsn)
    status = dict(run.summary.get("ops") or {})
    created = {str(op.value.get("job_id")) for op in run.operations if op.f == "cp_job_created"}
    snapshots = [op for op in run.operations if op.f == "cp_snapshot"]
    present = {str(j.get("job_id")) for j in (snapshots[-1].value.get("jobs") or [])} if snapshots else set()
    status["jobs_lost"] = sorted(created - present)
    status["workload"] = args.workload
    status["seed"] = args.seed
    return status


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "?"
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(status: dict[str, Any]) -> str:
    stale = status.get("stale_running") or []
    lost = status.get("jobs_lost") or []
    healthy = not stale and not lost
    by_state = status.get("by_state") or {}
    lines = [
        f"control plane ops status ({status.get('store', '?')} store"
        + (f", {status['workload']} seed={status['seed']}" if "workload" in status else "") + ")",
        f"  health         {'OK' if healthy else 'ATTENTION'}",
        f"  queue depth    {status.get('queue_depth', 0)} ({status.get('queue_due', 0)} due, oldest "
        f"{float(status.get('oldest_queued_age') or 0):.0f}s)",
        f"  running        {status.get('running', 0)}, stale RUNNING: {len(stale)}",
        f"  jobs           {status.get('jobs', 0)}: " + " · ".join(f"{k} {v}" for k, v in by_state.items()),
    ]
    for row in stale:
        lines.append(f"    STALE {row.get('job_id')} owner={row.get('owner')} lease expired "
                     f"{float(row.get('lease_expired_for') or 0):.0f}s ago, attempts={row.get('attempts')}, "
                     f"trace={row.get('trace_id')}")
    if lost:
        lines.append(f"    LOST  {', '.join(lost)} (created, no longer in the store)")
    failures = status.get("recent_failures") or []
    lines.append(f"  recent failures ({len(failures)})")
    for row in failures:
        lines.append(f"    {_when(row.get('ts'))} {row.get('event')} {row.get('job_id') or ''} {row.get('error') or ''}"
                     .rstrip())
    return "\n".join(lines)


def _ops(args: argparse.Namespace) -> int:
    status = _status_from_history(args.history) if args.history is not None else _run(args)
    print(json.dumps(status, indent=2, sort_keys=True, default=str) if args.json else render(status))
    return 0 if not status.get("stale_running") and not status.get("jobs_lost") else 1
