from __future__ import annotations

from reference_impl.security.replay import ReplayWindow


def test_a_key_is_seen_until_its_bucket_is_older_than_the_skew() -> None:
    window = ReplayWindow(skew_s=30, bucket_s=1, shards=4, cap=1000)
    assert window.seen_or_add("a", 1, 1_000_000, 1000.0) is False
    assert window.seen_or_add("a", 1, 1_000_000, 1029.0) is True
    assert window.seen_or_add("a", 2, 1_029_000, 1032.0) is False  # this insert prunes the first bucket
    assert window.seen_or_add("a", 1, 1_000_000, 1032.0) is False
    assert window.pruned >= 1


def test_the_cap_bounds_memory_under_a_flood_by_evicting_the_oldest_bucket() -> None:
    window = ReplayWindow(skew_s=30, bucket_s=1, shards=4, cap=400)
    for i in range(20_000):
        now = 1000.0 + i / 1000  # 20 s of traffic, all within the skew
        window.seen_or_add(f"flood-{i % 50}", i, int(now * 1000), now)
        assert len(window) <= window.bound == 400
    assert window.evicted > 0


def test_the_unbounded_mutant_grows_without_limit() -> None:
    window = ReplayWindow(skew_s=30, bucket_s=1, shards=4, cap=400, bounded=False)
    for i in range(2000):
        window.seen_or_add("a", i, 1_000_000 + i, 1000.0 + i)
    assert len(window) == 2000
