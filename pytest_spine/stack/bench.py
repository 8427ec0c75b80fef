"""Throughput through the real adapters: ``KafkaBus.produce`` (acknowledged, one at a time, as the gate
publishes) and envelopes through the HTTP ingestion gate into Kafka. Figures only; nothing asserts on time.
The lead exposes these as ``spine bench ingest --env local_parity``."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path
from typing import Any

from pytest_spine.clock import seeded_random
from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.stack.state import StackState

BENCH_TOPIC_KEY = "FP_BUS_TRAFFIC_FRAUD_V1"


def bench_bus_produce(bootstrap: str, events: int, *, topic: str | None = None, partitions: int = 3,
                      seed: int = 0) -> dict[str, Any]:
    """Acknowledged produces per second through KafkaBus on a fresh topic."""
    from reference_impl.adapters.kafka_bus import KafkaBus

    rng = seeded_random(seed, "bench", "bus")
    bus = KafkaBus(bootstrap, client_id="spine-bench", timeout_s=10.0)
    topic = topic or f"spine.bench.{uuid.uuid4().hex[:10]}"
    try:
        bus.create_topic(topic, partitions)
        payload = {"amount": 0.0, "merchant": "m", "pad": "x" * 200}
        started = time.perf_counter()
        for i in range(events):
            bus.produce(topic, f"k{rng.randrange(1 << 30)}", {**payload, "n": i})
        elapsed = time.perf_counter() - started
        written = sum(bus.end_offsets(topic).values())
    finally:
        # A scratch topic left behind would break the platform's "topics from the registry only" check.
        with contextlib.suppress(Exception):
            bus.delete_topic(topic)
        bus.close()
    return {"bus_events": events, "bus_events_written": written, "bus_seconds": round(elapsed, 3),
            "bus_events_per_second": round(events / elapsed, 1) if elapsed else float("inf")}


def bench_gate_ingest(state: StackState, events: int, *, registry: HandlesRegistry | None = None,
                      seed: int = 0, work_dir: Path | None = None, use_proxies: bool = False) -> dict[str, Any]:
    """Envelopes per second through the HTTP ingestion gate (auth, dedupe, publish to Kafka, receipt)."""
    from pytest_spine.stack.gate import gate_stats, start_gate, stop_gate
    from reference_impl.services.ig_client import HttpIngestClient

    registry = registry or load_registry(state.registry_path)
    run_id = f"platform_bench_{uuid.uuid4().hex[:8]}"
    api_key = uuid.uuid4().hex
    rng = seeded_random(seed, "bench", "ingest")
    base = work_dir or Path(state.stack_dir) / "bench" / run_id
    gate = start_gate(state, registry, platform_run_id=run_id, api_key=api_key, base_dir=base,
                      use_proxies=use_proxies)
    client = HttpIngestClient(gate.base_url, ingest_path=gate.ingest_path, timeout_s=10.0)
    outcomes: dict[str, int] = {}
    try:
        started = time.perf_counter()
        for i in range(events):
            envelope = {"platform_run_id": run_id, "event_class": "traffic_fraud", "event_id": f"evt-{i:08d}",
                        "ts_utc": "2026-01-01T00:00:00.000000Z",
                        "payload": {"flow_id": f"flow-{rng.randrange(1 << 30)}", "amount": i % 997}}
            response = client.send({gate.auth_header: api_key}, envelope)
            key = response.outcome or f"http_{response.status_code}"
            outcomes[key] = outcomes.get(key, 0) + 1
        elapsed = time.perf_counter() - started
        stats = gate_stats(gate)
    finally:
        client.close()
        stop_gate(gate)
    return {"ingest_events": events, "ingest_seconds": round(elapsed, 3),
            "ingest_events_per_second": round(events / elapsed, 1) if elapsed else float("inf"),
            "ingest_admitted": outcomes.get("ADMIT", 0), "ingest_published": int(str(stats.get("published", 0))),
            "ingest_other_outcomes": sum(v for k, v in outcomes.items() if k != "ADMIT")}
