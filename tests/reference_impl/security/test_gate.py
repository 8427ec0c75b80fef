from __future__ import annotations

import json

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.security import (
    SECURITY_MUTANTS,
    SecurityConfig,
    SecurityConfigError,
    SecurityGate,
    Signer,
    encode,
    is_uuid7,
)
from tests.reference_impl.security.conftest import now_ms


def names(history: History) -> list[str]:
    return [op.value["name"] for op in history if op.f == "event"]


def test_valid_message_is_admitted_and_recorded_with_lineage(gate: SecurityGate, alice: Signer,
                                                             clock: ManualClock, history: History) -> None:
    decision = gate.admit(alice.message(1, now_ms(clock)), "n1")
    assert (decision.admitted, decision.reason, decision.author, decision.nonce) == (True, "admitted", "alice", 1)
    assert is_uuid7(decision.lineage_id)
    [op] = history.operations()
    assert (op.f, op.type, op.value["signed"], op.value["lineage_id"]) == ("control_admit", "ok", True,
                                                                            decision.lineage_id)


def test_unsigned_and_forged_messages_are_rejected_with_sig_fail_events(gate: SecurityGate, alice: Signer,
                                                                        clock: ManualClock,
                                                                        history: History) -> None:
    body = json.loads(alice.message(1, now_ms(clock)))
    del body["sig"]
    assert gate.admit(encode(body), "n1").reason == "unsigned"
    forged = json.loads(Signer.from_seed("alice", 8).message(2, now_ms(clock)))
    assert gate.admit(encode(forged), "n2").reason == "bad_signature"
    assert names(history) == ["security.sig_fail", "security.sig_fail"]
    assert gate.counters["sig_fail"] == 2


def test_replay_within_the_window_and_outside_the_skew_are_dropped(gate: SecurityGate, alice: Signer,
                                                                    clock: ManualClock, history: History) -> None:
    message = alice.message(1, now_ms(clock))
    assert gate.admit(message, "n1").admitted
    clock.advance(10)
    assert gate.admit(message, "n1").reason == "replay"
    clock.advance(21)
    assert gate.admit(message, "n1").reason == "skew"
    assert names(history) == ["security.replay_drop", "security.replay_drop"]


def test_token_bucket_admits_burst_then_sustain_and_emits_drops(clock: ManualClock, history: History,
                                                                 alice: Signer) -> None:
    gate = SecurityGate(SecurityConfig(), clock, history, {"alice": alice.public_key})
    outcomes = [gate.admit(alice.message(n, now_ms(clock)), "n1").admitted for n in range(1, 151)]
    assert outcomes.count(True) == 100
    clock.advance(1.0)
    later = [gate.admit(alice.message(n, now_ms(clock)), "n1").admitted for n in range(151, 171)]
    assert later.count(True) == 10
    assert names(history).count("flow.rate.drop") == 60


def test_bucket_never_refills_mutant_admits_only_the_burst(clock: ManualClock, alice: Signer) -> None:
    gate = SecurityGate(SecurityConfig(mutant="bucket_never_refills"), clock, None, {"alice": alice.public_key})
    for n in range(1, 101):
        assert gate.admit(alice.message(n, now_ms(clock)), "n1").admitted
    clock.advance(60)
    assert gate.admit(alice.message(101, now_ms(clock)), "n1").reason == "rate_limited"


def test_oversize_is_rejected_before_parsing_and_the_mutant_admits_it(clock: ManualClock, alice: Signer) -> None:
    big = alice.message(1, now_ms(clock), payload={"blob": "x" * 70_000})
    assert SecurityGate(SecurityConfig(), clock, None, {"alice": alice.public_key}).admit(big, "n").reason \
        == "oversize"
    mutant = SecurityGate(SecurityConfig(mutant="no_payload_cap"), clock, None, {"alice": alice.public_key})
    assert mutant.admit(big, "n").admitted


def test_quarantine_trips_on_the_fourth_failure_in_a_second_and_releases_after_the_timeout(
        clock: ManualClock, history: History, alice: Signer) -> None:
    gate = SecurityGate(SecurityConfig(burst=10**6, quarantine_release_s=30), clock, history,
                        {"alice": alice.public_key})
    forged = Signer.from_seed("alice", 99)
    reasons = []
    for n in range(1, 6):
        clock.advance(0.1)
        reasons.append(gate.admit(forged.message(n, now_ms(clock)), "bad").reason)
    assert reasons == ["bad_signature"] * 4 + ["quarantined"]
    assert gate.admit(alice.message(1, now_ms(clock)), "good").admitted  # bystander untouched
    clock.advance(29)
    assert gate.admit(alice.message(2, now_ms(clock)), "bad").reason == "quarantined"
    clock.advance(1)
    assert gate.admit(alice.message(3, now_ms(clock)), "bad").admitted
    states = [op.value["payload"]["state"] for op in history if op.value.get("name") == "security.quarantine"]
    assert states == ["quarantined", "released"]
    # Counter decay: the counter was reset on release, so one new failure does not re-quarantine.
    assert gate.admit(forged.message(9, now_ms(clock)), "bad").reason == "bad_signature"
    assert gate.admit(alice.message(4, now_ms(clock)), "bad").admitted


def test_failures_spread_out_decay_and_never_quarantine(clock: ManualClock, alice: Signer) -> None:
    gate = SecurityGate(SecurityConfig(burst=10**6), clock, None, {"alice": alice.public_key})
    forged = Signer.from_seed("alice", 99)
    for n in range(1, 30):
        clock.advance(0.34)  # 3 failures per second: at the threshold, not over it
        assert gate.admit(forged.message(n, now_ms(clock)), "slow").reason == "bad_signature"


def test_insecure_mode_admits_anything_and_announces_itself_once(clock: ManualClock, history: History) -> None:
    gate = SecurityGate(SecurityConfig(insecure=True), clock, history)
    assert [gate.admit(b"garbage", "n").reason for _ in range(3)] == ["insecure_mode"] * 3
    assert names(history) == ["security.insecure_mode"]
    silent_history = History(clock)
    SecurityGate(SecurityConfig(insecure=True, mutant="insecure_mode_silent"), clock, silent_history)
    assert names(silent_history) == []


def test_nonce_state_survives_a_restart(clock: ManualClock, alice: Signer) -> None:
    keys = {"alice": alice.public_key}
    first = SecurityGate(SecurityConfig(), clock, None, keys)
    message = alice.message(42, now_ms(clock))
    assert first.admit(message, "n").admitted
    restarted = SecurityGate(SecurityConfig(), clock, None, keys, nonce_state=first.snapshot())
    assert restarted.admit(message, "n").reason == "nonce_duplicate"
    amnesiac = SecurityGate(SecurityConfig(), clock, None, keys)
    assert amnesiac.admit(message, "n").admitted  # why the marks must be persisted


def test_the_gate_never_raises(gate: SecurityGate) -> None:
    for junk in (b"", b"\x00" * 10, b"{}", b'{"sig":null}', bytearray(b"[]"), "text"):  # type: ignore[list-item]
        decision = gate.admit(junk, "n")  # type: ignore[arg-type]
        assert not decision.admitted and decision.reason and decision.detail


def test_clock_regress_is_warned_once_and_ids_stay_ordered(caplog: pytest.LogCaptureFixture) -> None:
    from tests.reference_impl.security.test_lineage import SettableClock

    clock = SettableClock(100.0)
    history = History(ManualClock())
    gate = SecurityGate(SecurityConfig(insecure=True), clock, history)
    first = gate.admit(b"x", "n").lineage_id
    clock.t = 90.0
    with caplog.at_level("WARNING", logger="reference_impl.security"):
        later = [gate.admit(b"x", "n").lineage_id for _ in range(3)]
    assert all(x > first for x in later) and later == sorted(later)
    assert names(history).count("security.clock_regress") == 1
    assert "regressed" in caplog.text


@pytest.mark.parametrize("bad", [{"skew_s": 0}, {"burst": 0}, {"replay_cap": 2, "replay_shards": 16},
                                 {"mutant": "nope"}, {"burst": True}])
def test_config_out_of_range_names_the_field(bad: dict[str, object]) -> None:
    with pytest.raises(SecurityConfigError, match=r"SecurityConfig\.\w+"):
        SecurityConfig(**bad)  # type: ignore[arg-type]


def test_with_mutant_ignores_names_of_other_families() -> None:
    assert SecurityConfig().with_mutant("ack_before_write").mutant is None
    assert SecurityConfig().with_mutant("accept_unsigned").mutant == "accept_unsigned"
    assert len(SECURITY_MUTANTS) >= 11


def test_per_node_state_stays_bounded_under_a_flood_of_node_ids() -> None:
    from reference_impl.security import Quarantine, TokenBuckets

    buckets = TokenBuckets(max_nodes=100)
    for i in range(1000):
        assert buckets.take(f"node-{i}", 1000.0)  # every fresh node starts with a full bucket
    assert len(buckets) <= 100 and buckets.evicted >= 900
    quarantine = Quarantine(max_nodes=100)
    for i in range(1000):
        quarantine.failure(f"node-{i}", 1000.0)
    assert quarantine.tracked() <= 100
