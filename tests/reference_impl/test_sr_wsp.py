from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.errors import LeaseConflict, ReadyNotFound
from reference_impl.ig import IngestResponse
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig
from reference_impl.sr import ScenarioRunner, equivalence_key, scenario_run_id_for
from reference_impl.wsp import WorldStreamProducer, event_id_for


def platform(*mutations: str, seed: int = 3, run_id: str = "run-1") -> tuple[SpinePlatform, History, ManualClock]:
    clock = ManualClock()
    history = History(clock)
    p = SpinePlatform.in_memory(PlatformConfig(run_id, seed=seed, traffic_events=30, mutations=frozenset(mutations),
                                               api_key="k" * 12), evidence=DictEvidence(), recorder=history,
                                clock=clock)
    return p, history, clock


def test_scenario_run_id_is_sha256_of_the_equivalence_key() -> None:
    key = equivalence_key(3, 30, ("traffic_fraud",))
    assert key == '{"outputs":["traffic_fraud"],"scenario_id":"spine_green_v0","seed":3,"traffic_events":30}'
    assert scenario_run_id_for(key) == scenario_run_id_for(key)
    assert len(scenario_run_id_for(key)) == 64
    a, _, _ = platform(run_id="run-a")
    b, _, _ = platform(run_id="run-b")
    assert a.scenario_run_id == b.scenario_run_id  # the run id is not part of the equivalence


def test_sr_publishes_ready_with_pointers_after_the_checker_passed() -> None:
    p, history, _ = platform()
    p.run_until("P5")
    ready = [op.value for op in history if op.f == "ready_publish"]
    assert ready == [{"platform_run_id": "run-1", "scenario_run_id": p.scenario_run_id,
                      "topic": "fp.bus.control.v1", "partition": 0, "offset": 0}]
    record = p.bus.poll("reader", "fp.bus.control.v1")[0].value
    assert sorted(record["manifests"]) == ["arrival_entities", "arrival_events", "flow_anchor_fraud", "traffic_fraud"]


def test_a_conflicting_lease_fails_closed_and_the_holder_may_reacquire() -> None:
    p, _, _ = platform()
    p.run_until("P5")
    assert p.sr is not None
    assert p.sr.acquire_lease()["acquired"] is True  # the holder again: idempotent
    with pytest.raises(LeaseConflict, match="held by 'sr:run-1'; 'sr:other' refuses"):
        ScenarioRunner(p.rt, holder="sr:other").acquire_lease()
    stealer, _, _ = platform("sr_ignores_lease")
    stealer.run_until("P5")
    assert stealer.drill("sr_conflicting_lease") == {"refused": False}


def test_wsp_refuses_to_stream_without_ready_and_records_it() -> None:
    p, history, _ = platform()
    p.run_until("P4")  # no SR yet: no READY on the control topic
    with pytest.raises(ReadyNotFound, match="no READY for run 'run-1'"):
        p.new_wsp().start()
    assert [(op.type, op.value["ready_offset"]) for op in history if op.f == "stream_start"] == [("fail", None)]
    bad, bad_history, _ = platform("stream_without_ready")
    bad.run_until("P4")
    assert bad.new_wsp().start() is None
    assert [op.type for op in bad_history if op.f == "stream_start"] == ["ok"]


def test_wsp_reads_only_stream_view_and_event_ids_are_stable() -> None:
    p, history, _ = platform()
    p.run_until("P6")
    reads = {op.value["output_id"]: op.value["source"] for op in history if op.f == "stream_read"}
    assert set(reads.values()) == {"stream_view"} and len(reads) == 4
    assert event_id_for("traffic_fraud", "t000001") == event_id_for("traffic_fraud", "t000001")
    again, _, _ = platform()
    again.run_until("P6")
    assert p.wsp is not None and again.wsp is not None
    assert [e["event_id"] for e in p.wsp.planned] == [e["event_id"] for e in again.wsp.planned]


def test_wsp_stream_has_replays_one_anomaly_and_one_malformed_event() -> None:
    p, _, _ = platform()
    p.run_until("P6")
    assert p.wsp is not None
    assert dict(p.wsp.totals.outcomes) == {"ADMIT": p.wsp.totals.attempted - 7, "DUPLICATE": 5, "ANOMALY": 1,
                                           "QUARANTINE": 1}


class _Flaky:
    """Answers 503 twice, then 200."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse:
        self.calls += 1
        return IngestResponse(503, error="busy") if self.calls <= 2 else IngestResponse(200, outcome="ADMIT")


def test_retryable_errors_back_off_on_the_injected_clock() -> None:
    p, _, clock = platform()
    p.run_until("P0")
    client = _Flaky()
    wsp = WorldStreamProducer(p.rt, client, api_key="k")
    before = clock.now()
    resp = wsp.send_one({"platform_run_id": "run-1", "event_class": "traffic_fraud", "event_id": "e",
                         "ts_utc": "x", "payload": {}})
    assert resp is not None and resp.outcome == "ADMIT"
    assert (client.calls, wsp.totals.retries, wsp.totals.succeeded) == (3, 2, 1)
    assert clock.now() - before == pytest.approx(0.05 + 0.1)  # 50 ms, then 100 ms


def test_nonretryable_stops_the_stream_and_the_skipping_mutant_does_not() -> None:
    good, _, _ = platform()
    good.run_until("P6")
    assert good.drill("nonretryable_stop") == {"stopped": True, "recorded": True, "sent_after_rejection": 0}
    bad, _, _ = platform("nonretryable_skipped")
    bad.run_until("P6")
    assert bad.drill("nonretryable_stop")["stopped"] is False


def test_publish_ambiguity_is_resent_and_resolved_and_the_run_still_reconciles() -> None:
    p, history, _ = platform()
    p.run_until("P5")
    from reference_impl.ports import PublishTimeout

    p.faults.arm("bus.produce.after_append", PublishTimeout("ack lost"), times=1,
                 when=lambda ctx: ctx["topic"] == "fp.bus.traffic.fraud.v1")
    assert p.run_phase("P6").completed
    assert p.wsp is not None and p.wsp.totals.retries == 1 and p.wsp.totals.failed == 0
    summary = p.receipt_summary()
    assert summary["counts_by_outcome"]["PUBLISH_AMBIGUOUS"] == 1 and summary["publish_ambiguous_unresolved"] == 0
    assert [op.type for op in history if op.f == "publish" and op.type != "invoke"].count("info") == 1
    p.run_until("P11")
    recon = p.reconciliation()
    assert recon["balanced"] is True and recon["landed"] == recon["published"] + 1
