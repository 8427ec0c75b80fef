"""CH-BROKER-PARTITION's core on the real stack: Toxiproxy blackholes the gate's connection to Kafka. No
admitted event is lost and the ambiguity is surfaced (PUBLISH_AMBIGUOUS, resolved by a resend after the
heal); the mutant that hides it (``hide_publish_ambiguity``) is caught by INV-NO-PUBLISH-AMBIGUITY."""

from __future__ import annotations

import uuid

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.invariants.catalogue import load_builtin
from pytest_spine.invariants.registry import CheckContext, get, run_checks
from pytest_spine.stack.fixture import STACK_DIR_ENV, SessionStack
from pytest_spine.stack.toxiproxy_api import ToxiproxyApi
from pytest_spine.targets import local_parity
from pytest_spine.verdicts import Status
from reference_impl.adapters.kafka_bus import KafkaBus

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.mark.parametrize("mutant", [None, "hide_publish_ambiguity"])
def test_partition_between_gate_and_kafka(local_stack: SessionStack, monkeypatch: pytest.MonkeyPatch,
                                          mutant: str | None) -> None:
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    monkeypatch.setattr(local_parity, "BUS_TIMEOUT_S", 2.0)
    api = ToxiproxyApi(local_stack.endpoint("toxiproxy.api_url"))
    history = History(ManualClock())
    run_id = f"t-partition-{uuid.uuid4().hex[:8]}"
    driver = local_parity.local_parity_driver(run_id, 5, mutant, history)
    outcomes: dict[str, list[str | None]] = {}
    try:
        for i in range(4):
            outcomes.setdefault(f"e{i}", []).append(driver.ingest(driver.envelope(f"e{i}")))
        api.add_toxic("kafka", "timeout", name="partition", stream="downstream", timeout=0)
        try:
            for i in range(4, 6):
                outcomes.setdefault(f"e{i}", []).append(driver.ingest(driver.envelope(f"e{i}")))
        finally:
            api.reset()  # heal, even if the test fails
        for i in range(4, 6):  # the sender resends what it does not know to be admitted
            outcomes[f"e{i}"].append(driver.ingest(driver.envelope(f"e{i}")))
    finally:
        driver.close()
        api.reset()
    if mutant is None:
        assert outcomes == {"e0": ["ADMIT"], "e1": ["ADMIT"], "e2": ["ADMIT"], "e3": ["ADMIT"],
                            "e4": ["PUBLISH_AMBIGUOUS", "ADMIT"], "e5": ["PUBLISH_AMBIGUOUS", "ADMIT"]}
    else:
        assert outcomes["e4"][0] == "ADMIT"  # the lie: admitted while the acknowledgement never came
    # No admitted event is lost: every one is on the topic (read over the direct listener).
    reader = KafkaBus(local_stack.endpoint("kafka.bootstrap"), timeout_s=10.0)
    try:
        on_topic = {dict(r.value)["event_id"] for r in reader.poll(f"reader-{run_id}", "fp.bus.traffic.fraud.v1",
                                                                 max_records=10_000)
                    if dict(r.value).get("platform_run_id") == run_id}
    finally:
        reader.close()
    if mutant is None:
        assert {"e0", "e1", "e2", "e3", "e4", "e5"} <= on_topic
    # (Under the mutant the resend meets "already admitted" and is not republished, so an event whose bytes
    # never reached the broker is lost for good; whether one did depends on timing, the verdict below does not.)
    load_builtin()
    verdict = run_checks(history.operations(), CheckContext(platform_run_id=run_id),
                         [get("INV-NO-PUBLISH-AMBIGUITY")])[0]
    assert verdict.status is (Status.PASS if mutant is None else Status.FAIL), verdict.reason
