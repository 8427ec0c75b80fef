from __future__ import annotations

import json
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


def test_spine_bench_ingest_on_local_parity_prints_the_figures(local_stack: SessionStack,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_spine.cli import main

    assert main(["bench", "ingest", "--env", "local_parity", "--stack-dir", local_stack.state.stack_dir,
                 "--events", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["figures"]
    assert report["bench"] == "ingest"
    assert (figures["env"], figures["ingest_events"], figures["ingest_admitted"], figures["ingest_published"],
            figures["ingest_other_outcomes"]) == ("local_parity", 60, 60, 60, 0)
    assert (figures["bus_events"], figures["bus_events_written"]) == (60, 60)
    assert figures["ingest_events_per_second"] > 0 and figures["bus_events_per_second"] > 0
