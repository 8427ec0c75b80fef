"""``spine bench ingest --env local_parity``: events/s through the real adapters on the running local stack:
acknowledged ``KafkaBus.produce`` calls, and envelopes through the HTTP ingestion gate into Kafka."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

KIND = "ingest"
HELP = "Events/s through KafkaBus and through the HTTP ingestion gate on the local stack"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local_parity", choices=("local_parity",),
                        help="Where to measure (the running local stack)")
    parser.add_argument("--events", type=int, default=2000, help="Events per measurement")
    parser.add_argument("--dir", type=Path, default=None, help="Stack directory (default $SPINE_STACK_DIR or "
                                                               ".spine/stack)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the generated keys")
    parser.add_argument("--through-proxies", action="store_true",
                        help="Send through the Toxiproxy proxies (no toxics armed) instead of direct")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError, TargetUnavailable
    from pytest_spine.stack.bench import bench_bus_produce, bench_gate_ingest
    from pytest_spine.stack.fixture import running_stack, stack_dir_default

    if args.events < 1:
        raise ConfigError(f"spine bench ingest --events must be a positive count, given: {args.events}")
    directory = args.dir or stack_dir_default()
    state = running_stack(directory)
    if state is None:
        raise TargetUnavailable(f"no running local stack in {Path(directory).resolve()}; run 'spine stack up' "
                                "first")
    bootstrap = state.endpoint("kafka.bootstrap_proxied" if args.through_proxies else "kafka.bootstrap")
    figures: dict[str, Any] = {}
    figures.update(bench_bus_produce(bootstrap, args.events, seed=args.seed))
    figures.update(bench_gate_ingest(state, args.events, seed=args.seed, use_proxies=args.through_proxies))
    return figures
