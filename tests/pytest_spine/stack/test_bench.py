from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spine.stack.bench import bench_bus_produce, bench_gate_ingest
from pytest_spine.stack.fixture import SessionStack

pytestmark = pytest.mark.services


def test_bus_benchmark_writes_every_event_it_counts(local_stack: SessionStack) -> None:
    figures = bench_bus_produce(local_stack.endpoint("kafka.bootstrap"), 50)
    assert figures["bus_events"] == 50
    assert figures["bus_events_written"] == 50
    assert figures["bus_events_per_second"] > 0


def test_ingest_benchmark_admits_and_publishes_every_event(local_stack: SessionStack, tmp_path: Path) -> None:
    figures = bench_gate_ingest(local_stack.state, 40, work_dir=tmp_path)
    assert (figures["ingest_events"], figures["ingest_admitted"], figures["ingest_published"],
            figures["ingest_other_outcomes"]) == (40, 40, 40, 0)
