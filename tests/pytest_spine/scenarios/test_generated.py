"""Generated workloads (Hypothesis) against the reference target through the chaos driver: event streams
with duplicates, payload changes under one event id, foreign run ids, consumer restarts (replays after a
restart) and late context; and a stateful model of the ingest path. A failure prints the shrunk sequence
and the blob that replays it (``print_blob=True``)."""

from __future__ import annotations

import contextlib
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from pytest_spine.invariants.catalogue import DRIFT_INVARIANTS
from pytest_spine.invariants.registry import CheckContext, get, run_checks
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.verdicts import Status

HISTORY_LAWS = [i for i in DRIFT_INVARIANTS
                if i not in ("INV-REPLAY-ANCHORS", "INV-HANDLES", "INV-EVIDENCE-COMPLETE")]
SETTINGS = settings(max_examples=25, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# One action of a generated stream: (kind, event number, payload variant)
action = st.one_of(
    st.tuples(st.just("send"), st.integers(0, 6), st.integers(0, 1)),  # duplicates and payload changes
    st.tuples(st.just("context"), st.integers(0, 6), st.integers(0, 2)),  # context, possibly after traffic
    st.tuples(st.just("foreign"), st.integers(0, 6), st.just(0)),  # an event of another run id
    st.tuples(st.just("consume"), st.just(0), st.just(0)),
    st.tuples(st.just("restart"), st.just(0), st.just(0)),  # replay from the last commit
)


# Few event numbers, so replays and payload changes are frequent: the search for a mutant is short.
dense_action = st.tuples(st.sampled_from(["send", "send", "send", "context", "consume", "restart"]),
                         st.integers(0, 2), st.integers(0, 2))


def _violations(driver: ReferenceDriver) -> list[str]:
    ctx = CheckContext(platform_run_id=driver.platform_run_id, options={"run_scope_enforced": True})
    verdicts = run_checks(driver.history.operations(), ctx, [get(i) for i in HISTORY_LAWS])
    return [f"{v.check_id}: {v.reason}" for v in verdicts if v.status.is_failure]


def _play(driver: ReferenceDriver, actions: list[tuple[str, int, int]]) -> dict[tuple[str, str], str]:
    """Send the stream; returns the first payload variant admitted per event (the model)."""
    first: dict[tuple[str, str], str] = {}
    for kind, number, variant in actions:
        if kind == "send":
            key = ("traffic", f"g-{number}")
            envelope = driver.envelope(key[1], flow_id=f"flow-{number}",
                                       payload={"flow_id": f"flow-{number}", "amount_minor": 100 + variant})
            outcome = driver.ingest(envelope)
            expected = "ADMIT" if key not in first else (
                "DUPLICATE" if first[key] == str(variant) else "ANOMALY")
            assert outcome == expected, f"{key} variant {variant}: expected {expected}, got {outcome}"
            first.setdefault(key, str(variant))
        elif kind == "context":
            envelope = driver.envelope(f"g-ctx{variant}-{number}", event_class=f"context:{variant}",
                                       flow_id=f"flow-{number}")
            assert driver.ingest(envelope) in ("ADMIT", "DUPLICATE")
        elif kind == "foreign":
            envelope = driver.envelope(f"g-{number}", platform_run_id="another-run")
            assert driver.ingest(envelope) is None  # fails closed on the run id mismatch
        elif kind == "consume":
            driver.consume()
        else:
            driver.restart_consumer()
    driver.consume()
    return first


@SETTINGS
@given(actions=st.lists(action, max_size=30), seed=st.integers(0, 2**16))
def test_generated_streams_keep_every_law(actions: list[tuple[str, int, int]], seed: int) -> None:
    driver = ReferenceDriver.standalone(f"gen-{seed}", seed)
    _play(driver, actions)
    assert _violations(driver) == []


@pytest.mark.slow
@pytest.mark.parametrize(("mutant", "law"), [
    ("payload_overwrite", "INV-PAYLOAD-ANOMALY"),
    ("silent_degrade", "INV-EXPLICIT-DEGRADE"),
    ("ack_before_write", "INV-COMMIT-AFTER-WRITE"),
])
def test_a_generated_stream_finds_the_mutant(mutant: str, law: str) -> None:
    found: list[str] = []

    @settings(max_examples=100, deadline=None, database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(actions=st.lists(dense_action, min_size=1, max_size=20))
    def search(actions: list[tuple[str, int, int]]) -> None:
        driver = ReferenceDriver.standalone("gen-mutant", 1, mutant)
        with contextlib.suppress(AssertionError):  # the model disagreeing is a find too; the laws decide
            _play(driver, actions)
        failures = [v for v in _violations(driver) if v.startswith(law)]
        if failures:
            found.extend(failures)
        assert not failures

    with pytest.raises(AssertionError):
        search()
    assert found and found[0].startswith(law)


class IngestMachine(RuleBasedStateMachine):
    """A model of the ingest path: first send admits, same payload is a duplicate, another payload is an
    anomaly, another run fails closed; the history's laws hold after every step."""

    mutant: str | None = None
    events = Bundle("events")

    @initialize()
    def start(self) -> None:
        self.driver = ReferenceDriver.standalone("stateful", 1, self.mutant)
        self.model: dict[str, int] = {}
        self.counter = 0

    @rule(target=events, amount=st.integers(1, 3))
    def send_new(self, amount: int) -> str:
        self.counter += 1
        event_id = f"s-{self.counter}"
        outcome = self.driver.ingest(self._envelope(event_id, amount))
        assert outcome == "ADMIT"
        self.model[event_id] = amount
        return event_id

    @rule(event_id=events)
    def replay(self, event_id: str) -> None:
        assert self.driver.ingest(self._envelope(event_id, self.model[event_id])) == "DUPLICATE"

    @rule(event_id=events, delta=st.integers(1, 5))
    def change_payload(self, event_id: str, delta: int) -> None:
        assert self.driver.ingest(self._envelope(event_id, self.model[event_id] + delta)) == "ANOMALY"

    @rule(event_id=events)
    def foreign_run(self, event_id: str) -> None:
        envelope = self._envelope(event_id, self.model[event_id])
        assert self.driver.ingest({**envelope, "platform_run_id": "intruder"}) is None

    @rule()
    def consume(self) -> None:
        self.driver.consume()

    @rule()
    def restart(self) -> None:
        self.driver.restart_consumer()

    @invariant()
    def laws_hold(self) -> None:
        if hasattr(self, "driver"):
            assert _violations(self.driver) == []

    def _envelope(self, event_id: str, amount: int) -> dict[str, Any]:
        return self.driver.envelope(event_id, payload={"flow_id": event_id, "amount_minor": amount})


def test_ingest_state_machine_on_the_reference() -> None:
    run_state_machine_as_test(IngestMachine, settings=settings(
        max_examples=15, stateful_step_count=15, deadline=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow]))


@pytest.mark.slow
def test_ingest_state_machine_catches_payload_overwrite() -> None:
    class Mutated(IngestMachine):
        mutant = "payload_overwrite"

    with pytest.raises(AssertionError):
        run_state_machine_as_test(Mutated, settings=settings(
            max_examples=30, stateful_step_count=10, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow]))


def test_violations_helper_reports_a_bad_history() -> None:
    driver = ReferenceDriver.standalone("helper", 1)
    driver.history.record("drill", "ok", "receipt_rewrite", seq=1)
    assert any(v.startswith("INV-APPEND-ONLY") for v in _violations(driver))
    assert Status.FAIL.is_failure
