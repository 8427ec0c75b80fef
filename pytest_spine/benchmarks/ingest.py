"""``spine bench ingest --events N``: events/s through the reference ingestion gate's dedupe path.

Three figures: the dedupe decision itself (key + admission look-up); the whole gate (auth, run scope,
validation, payload hash, dedupe, receipt append; nothing recorded); and the same traffic as the
scenarios see it (every request and answer recorded in a History). Replays of a small admitted set are
what a replay flood sends. ``--env`` names the target; only ``reference`` (in-process) is built in.
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

KIND = "ingest"
HELP = "Events/s through the reference IG dedupe path (in-process)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=100_000, help="Replayed events to send")
    parser.add_argument("--distinct", type=int, default=1000, help="Distinct events admitted first")
    parser.add_argument("--env", default="reference", help="Target (only 'reference' is built in)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pytest_spine.errors import ConfigError

    if args.env != "reference":
        raise ConfigError(f"spine bench ingest --env {args.env!r} is not available in this build; "
                          "use --env reference")
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


class _Null:
    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        return None
