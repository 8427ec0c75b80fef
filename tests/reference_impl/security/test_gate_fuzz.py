"""CH-OVERSIZE-FUZZ at the unit level: whatever the bytes, the gate decides, with a reason and a diagnostic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_spine.clock import ManualClock
from reference_impl.security import SecurityConfig, SecurityGate, Signer

SIGNER = Signer.from_seed("fuzz", 1)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_and_are_never_admitted(data: bytes) -> None:
    gate = SecurityGate(SecurityConfig(), ManualClock(), None, {"fuzz": SIGNER.public_key})
    decision = gate.admit(data, "n")
    assert not decision.admitted
    assert decision.reason and decision.detail and decision.reason != "internal_error"


@settings(max_examples=25, deadline=None)
@given(extra=st.integers(1, 200_000))
def test_every_message_over_the_cap_is_rejected_as_oversize(extra: int) -> None:
    clock = ManualClock()
    gate = SecurityGate(SecurityConfig(), clock, None, {"fuzz": SIGNER.public_key})
    message = SIGNER.message(1, int(clock.now() * 1000), payload={"blob": "x" * (64 * 1024 + extra)})
    assert gate.admit(message, "n").reason == "oversize"
