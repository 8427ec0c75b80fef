from __future__ import annotations

from reference_impl.security.canonical import MAX_U64
from reference_impl.security.nonces import NonceTracker


def run(tracker: NonceTracker, nonces: list[int], author: str = "a") -> list[str]:
    return [tracker.check(author, n) for n in nonces]


def test_fresh_duplicate_out_of_order_and_stale() -> None:
    tracker = NonceTracker(window=16)
    assert run(tracker, [5, 5, 10, 7, 7, 10, 11, 100, 84, 85]) == [
        "fresh", "duplicate", "fresh", "out_of_order", "duplicate", "duplicate", "fresh", "fresh", "stale",
        "out_of_order"]
    assert tracker.high_water_mark("a") == 100


def test_authors_are_independent() -> None:
    tracker = NonceTracker()
    assert run(tracker, [9], "a") + run(tracker, [9], "b") == ["fresh", "fresh"]


def test_wraparound_is_never_accepted_and_the_mutant_does() -> None:
    assert run(NonceTracker(), [MAX_U64 - 1, MAX_U64, MAX_U64, 0, 1]) == [
        "fresh", "fresh", "duplicate", "stale", "stale"]
    mutant = NonceTracker(accept_wraparound=True)
    assert run(mutant, [MAX_U64, 0]) == ["fresh", "fresh"]


def test_snapshot_restores_the_mark_and_the_seen_bits() -> None:
    tracker = NonceTracker(window=8)
    run(tracker, [10, 8])
    restored = NonceTracker(window=8)
    restored.restore(tracker.snapshot())
    assert run(restored, [10, 8, 9, 1]) == ["duplicate", "duplicate", "out_of_order", "stale"]


def test_a_jump_wider_than_the_window_clears_the_seen_bits() -> None:
    tracker = NonceTracker(window=8)
    assert run(tracker, [1, 1000, 995, 995]) == ["fresh", "fresh", "out_of_order", "duplicate"]
