"""``spine bench security --events N``: Ed25519 verify, replay-check and whole-gate throughput per core of the
reference security layer, and the gate's peak memory (tracemalloc)."""

from __future__ import annotations

import argparse
from typing import Any

KIND = "security"
HELP = "Verify and replay-check throughput per core and peak memory of the reference security layer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=100_000, help="Distinct signed messages to push through")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the signing keys")
    parser.add_argument("--no-memory", action="store_true",
                        help="Skip the (slower, traced) second gate pass that measures peak memory")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError
    from pytest_spine.targets.reference_security import bench

    if args.events < 1:
        raise ConfigError(f"spine bench security --events must be a positive count, given: {args.events}")
    return bench(args.events, args.seed, memory=not args.no_memory)
