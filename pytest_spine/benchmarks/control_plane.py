"""``spine bench control_plane --jobs N [--store postgres]``: command and worker throughput of the reference
control plane, and the throughput of the 14 CP-* checkers over the history it leaves."""

from __future__ import annotations

import argparse
from typing import Any

KIND = "control_plane"
HELP = "Command, worker and CP-* checker throughput of the reference control plane (memory or PostgreSQL)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=2000, help="Jobs requested, approved, resumed and run")
    parser.add_argument("--store", choices=("memory", "postgres"), default="memory", help="The control-plane store")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN for --store=postgres (else a throwaway cluster)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the workload")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError
    from pytest_spine.targets.reference_control_plane import bench

    if args.jobs < 1:
        raise ConfigError(f"spine bench control_plane --jobs must be a positive count, given: {args.jobs}")
    return bench(args.jobs, store=args.store, seed=args.seed, dsn=args.dsn)
