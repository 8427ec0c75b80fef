"""``spine bench checkers --ops N``: throughput and peak memory of every registered checker over one
generated, law-abiding history of N operations."""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from typing import Any

KIND = "checkers"
HELP = "Throughput (operations/s) and peak memory of all checkers over a generated history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=1_000_000, help="Operations in the generated history")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated history")
    parser.add_argument("--kind", default=None, help="Only the checkers of this kind (e.g. invariant: the INV-*)")
    parser.add_argument("--no-memory", action="store_true",
                        help="Skip the (slower, traced) second pass that measures peak memory")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError
    from pytest_spine.invariants.registry import CheckContext, registered, run_checks
    from pytest_spine.invariants.synthetic import HANDLES, RUN, synthetic_history

    if args.ops < 1:
        raise ConfigError(f"spine bench checkers --ops must be a positive count, given: {args.ops}")
    specs = [spec for spec in registered() if args.kind is None or spec.kind == args.kind]
    if not specs:
        raise ConfigError(f"no checker of kind {args.kind!r} is registered")
    ctx = CheckContext(platform_run_id=RUN, handles=HANDLES)
    ops = list(synthetic_history(args.ops, args.seed))
    gc.collect()
    started = time.perf_counter()
    verdicts = run_checks(ops, ctx, specs)
    elapsed = time.perf_counter() - started
    figures: dict[str, Any] = {
        "operations": len(ops),
        "checkers": len(specs),
        "seconds": round(elapsed, 3),
        "operations_per_second": len(ops) / elapsed if elapsed else float("inf"),
        "drift_violations": sum(1 for v in verdicts if v.check_id.startswith("INV-") and v.status.is_failure),
    }
    del ops
    if not args.no_memory:
        # Streamed from the generator: the peak is the checkers' state, not the history's size.
        gc.collect()
        tracemalloc.start()
        run_checks(synthetic_history(args.ops, args.seed), ctx, specs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures["checker_peak_memory_mib"] = peak / 2**20
    return figures
