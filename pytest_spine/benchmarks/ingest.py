"""``spine bench ingest --events N [--env reference|local_parity]``: events/s through the ingestion gate.

On ``reference`` (in-process), three figures: the dedupe decision itself (key + admission look-up); the
whole gate (auth, run scope, validation, payload hash, dedupe, receipt append; nothing recorded); and the
same traffic as the scenarios see it (every request and answer recorded in a History). Replays of a small
admitted set are what a replay flood sends.

On ``local_parity`` (the running local stack: ``--stack-dir`` or ``$SPINE_STACK_DIR``), fresh events
through the real HTTP ingestion gate process into Kafka (each answered only after the broker's
acknowledgement), and acknowledged produces per second through ``KafkaBus`` alone, on a scratch topic.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

KIND = "ingest"
HELP = "Events/s through the ingestion gate: in-process (reference) or over HTTP into Kafka (local_parity)"
ENVS = ("reference", "local_parity")
DEFAULT_EVENTS = {"reference": 100_000, "local_parity": 2_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=None,
                        help="Events to send (default 100000 replays on reference, 2000 on local_parity)")
    parser.add_argument("--distinct", type=int, default=1000, help="Distinct events admitted first (reference)")
    parser.add_argument("--env", default="reference", help="Target: reference (in-process) or local_parity")
    parser.add_argument("--stack-dir", default=None,
                        help="The running local stack (local_parity; default $SPINE_STACK_DIR or .spine/stack)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError

    if args.env not in ENVS:
        raise ConfigError(f"spine bench ingest --env {args.env!r} is not available in this build; "
                          f"use --env {' or --env '.join(ENVS)}")
    if args.events is None:
        args.events = DEFAULT_EVENTS[args.env]
    if args.env == "local_parity":
        return run_local_parity(args)
    if args.events < 1 or args.distinct < 1:
        raise ConfigError(f"--events and --distinct must be positive, given: {args.events}, {args.distinct}")
    from pytest_spine.clock import ManualClock
    from pytest_spine.history import History
    from pytest_spine.scenarios.reference_driver import ReferenceDriver

    figures: dict[str, Any] = {"events": args.events, "distinct": args.distinct}
    # The gate alone: the platform records into a recorder that drops everything.
    driver = ReferenceDriver.standalone("bench-ingest-gate", args.seed, clock=ManualClock(),
                                        history=History(ManualClock(), keep_in_memory=0))
    gate = driver.platform.ig
    headers = driver.platform.auth_headers()
    envelopes = [driver.envelope(f"bench-{n}") for n in range(args.distinct)]
    driver.platform.rt.recorder = _Null()
    for envelope in envelopes:
        gate.send(headers, envelope)
    gc.collect()
    started = time.perf_counter()
    duplicates = 0
    for n in range(args.events):
        duplicates += gate.send(headers, envelopes[n % args.distinct]).outcome == "DUPLICATE"
    elapsed = time.perf_counter() - started
    figures["gate_events_per_second"] = args.events / elapsed
    figures["gate_duplicates"] = duplicates
    # The dedupe decision itself (key + admission look-up), without hashing, receipts or answers.
    keys = [gate._dedupe_key(e) for e in envelopes]
    started = time.perf_counter()
    hits = 0
    for n in range(args.events):
        hits += gate.admission.get(keys[n % args.distinct]) is not None
    elapsed = time.perf_counter() - started
    figures["dedupe_lookups_per_second"] = args.events / elapsed
    # As the scenarios see it: every request and answer recorded.
    recorded = ReferenceDriver.standalone("bench-ingest-recorded", args.seed, clock=ManualClock())
    envelopes = [recorded.envelope(f"bench-{n}") for n in range(args.distinct)]
    for envelope in envelopes:
        recorded.ingest(envelope)
    gc.collect()
    started = time.perf_counter()
    for n in range(args.events):
        recorded.ingest(envelopes[n % args.distinct], "bench")
    elapsed = time.perf_counter() - started
    figures["recorded_events_per_second"] = args.events / elapsed
    figures["history_operations"] = len(recorded.history)
    return figures


def run_local_parity(args: argparse.Namespace) -> dict[str, Any]:
    """Through the real gate process into Kafka, then KafkaBus alone; the stack must already run."""
    from pathlib import Path

    from pytest_spine.errors import ConfigError
    from pytest_spine.stack.bench import bench_bus_produce, bench_gate_ingest
    from pytest_spine.stack.fixture import STACK_DIR_ENV, running_stack, stack_dir_default

    if args.events < 1:
        raise ConfigError(f"--events must be a positive count, given: {args.events}")
    directory = Path(args.stack_dir) if args.stack_dir else stack_dir_default()
    state = running_stack(directory)
    if state is None:
        raise ConfigError(f"no running local stack in {directory.resolve()}: start one with "
                          f"'spine stack up --dir {directory}', or point --stack-dir (or ${STACK_DIR_ENV}) at a "
                          "running one ('spine stack status --dir DIR' tells)")
    missing = [name for name in ("kafka", "s3") if name not in state.services]
    if missing:
        raise ConfigError(f"the local stack in {state.stack_dir} runs without {', '.join(missing)}; restart it "
                          "with every service ('spine stack down' then 'spine stack up')")
    figures: dict[str, Any] = {"env": "local_parity", "stack_dir": state.stack_dir}
    figures.update(bench_gate_ingest(state, args.events, seed=args.seed))
    figures.update(bench_bus_produce(state.endpoint("kafka.bootstrap"), args.events, seed=args.seed))
    return figures


class _Null:
    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        return None
