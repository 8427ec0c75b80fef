from __future__ import annotations

import uuid

from reference_impl.security.lineage import LineageIds, is_uuid7, uuid7_millis


class SettableClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_ids_are_v7_carry_the_millisecond_and_are_monotonic_within_it() -> None:
    clock = SettableClock(1_767_225_600.123)
    ids = LineageIds(clock, seed=1)
    minted = [ids.new() for _ in range(5000)]  # more than the 4096 sequence values of one millisecond
    assert all(is_uuid7(x) for x in minted)
    assert minted == sorted(minted) and len(set(minted)) == 5000
    assert uuid7_millis(minted[0]) == 1_767_225_600_123
    assert uuid7_millis(minted[-1]) == 1_767_225_600_124  # borrowed the next ms on sequence overflow
    assert ids.regressions == 0  # running ahead of the clock is not the clock going back


def test_clock_regress_keeps_order_and_is_reported_once_per_episode() -> None:
    clock = SettableClock(1000.0)
    seen: list[tuple[int, int]] = []
    ids = LineageIds(clock, on_regress=lambda last, now: seen.append((last, now)))
    first = ids.new()
    clock.t = 999.0
    after = [ids.new() for _ in range(3)]
    assert seen == [(1_000_000, 999_000)] and ids.regressions == 1
    assert [first, *after] == sorted([first, *after])
    clock.t = 1001.0
    ids.new()
    clock.t = 1000.5
    ids.new()
    assert ids.regressions == 2


def test_is_uuid7_rejects_other_versions_and_non_canonical_text() -> None:
    v7 = LineageIds(SettableClock(1.0)).new()
    assert is_uuid7(v7)
    assert not is_uuid7(str(uuid.uuid4()))
    assert not is_uuid7(v7.upper())
    assert not is_uuid7(v7.replace("-", ""))
    assert not is_uuid7(None)
    assert not is_uuid7(LineageIds(SettableClock(1.0), version7=False).new())
