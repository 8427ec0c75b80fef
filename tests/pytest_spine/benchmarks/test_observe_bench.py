"""``spine bench observe``: TopicObserver.read against a raw confluent-kafka loop over one fresh topic of the
local stack's Kafka. Figures are printed, never judged here (performance is measured, not tested)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_spine.cli import main
from pytest_spine.stack.fixture import SessionStack, services_stack_dir, session_stack

PREFIX = "spine-bench-observe-"


@pytest.fixture(scope="module")
def kafka_stack(pytestconfig: pytest.Config) -> Iterator[SessionStack]:
    """The running local stack (``$SPINE_STACK_DIR`` or ``<rootdir>/.spine/stack``), else one started here."""
    with session_stack("native", stack_dir=services_stack_dir(pytestconfig.rootpath), services=("kafka",)) as stack:
        yield stack


def _bench_topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {name for name in metadata.topics if name.startswith(PREFIX)}


@pytest.mark.services
def test_bench_observe_prints_both_figures_the_ratio_and_deletes_its_topic(
        kafka_stack: SessionStack, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bootstrap = kafka_stack.endpoint("kafka.bootstrap")
    before = _bench_topics(bootstrap)
    assert main(["bench", "observe", "--records", "300", "--bootstrap", bootstrap]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(None, 1) for line in out.splitlines() if line.strip() and ":" not in line)
    for name in ("observer_records_per_second", "baseline_records_per_second", "ratio"):
        assert name in figures, out
    assert figures["records"].strip() == figures["observer_records_read"].strip() == "300"
    assert figures["partitions"].strip() == "3"
    assert re.search(r"observe: \d+ records/s \(TopicObserver\.read, 3 partitions\) vs \d+ records/s "
                     r"\(raw confluent-kafka Consumer\): \d+\.\d\dx", out), out
    deadline = time.monotonic() + 15
    while _bench_topics(bootstrap) - before and time.monotonic() < deadline:
        time.sleep(0.2)  # a deleted topic may linger in the metadata for a moment
    assert not _bench_topics(bootstrap) - before

    # From the stack directory, as JSON and saved: the broker's address is not part of the workload.
    saved = tmp_path / "observe.json"
    assert main(["bench", "observe", "--records", "150", "--stack-dir", kafka_stack.state.stack_dir, "--json",
                 "--save", str(saved)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bench"] == "observe" and report["figures"]["observer_records_read"] == 150
    assert report["figures"]["observer_records_per_second"] > 0 and report["figures"]["ratio"] > 0
    assert json.loads(saved.read_text())["workload"] == {"records": 150, "rounds": 3}
    assert main(["bench", "observe", "--records", "150", "--bootstrap", bootstrap, "--compare", str(saved),
                 "--fail-over", "1000000"]) == 0
    assert "0 regression(s)" in capsys.readouterr().out


def test_bench_observe_without_a_stack_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPINE_STACK_DIR", str(tmp_path / "none"))
    assert main(["bench", "observe", "--records", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"spine: error: no running local stack in {tmp_path / 'none'}") and "\n" not in err
    assert "--bootstrap HOST:PORT" in err


@pytest.mark.parametrize(("args", "message"), [(["--records", "0"], "--records must be a positive count"),
                                               (["--rounds", "1"], "--rounds must be at least 2")])
def test_bench_observe_refuses_bad_counts(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "observe", *args]) == 2
    assert message in capsys.readouterr().err
