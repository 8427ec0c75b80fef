from __future__ import annotations

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.security import SecurityConfig, SecurityGate, Signer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def history(clock: ManualClock) -> History:
    return History(clock)


@pytest.fixture
def alice() -> Signer:
    return Signer.from_seed("alice", 7)


@pytest.fixture
def gate(clock: ManualClock, history: History, alice: Signer) -> SecurityGate:
    return SecurityGate(SecurityConfig(burst=10**6), clock, history, {"alice": alice.public_key})


def now_ms(clock: ManualClock) -> int:
    return int(clock.now() * 1000)
