from __future__ import annotations

from pytest_spine.clock import ManualClock, new_platform_run_id, seeded_random, utc_iso
from pytest_spine.verdicts import Status, Verdict, merge


def test_merge_is_worst_first() -> None:
    assert merge([Status.PASS, Status.NOT_APPLICABLE]) is Status.PASS
    assert merge([Status.PASS, Status.UNKNOWN]) is Status.UNKNOWN
    assert merge([Status.UNKNOWN, Status.BLOCKED, Status.PASS]) is Status.BLOCKED
    assert merge([Status.BLOCKED, Status.FAIL]) is Status.FAIL
    assert merge([Status.NOT_APPLICABLE]) is Status.NOT_APPLICABLE
    assert merge([]) is Status.UNKNOWN  # nothing checked is never a pass


def test_failures_include_unknown_and_blocked() -> None:
    assert [s.value for s in Status if s.is_failure] == ["FAIL", "UNKNOWN", "BLOCKED"]


def test_verdict_json_round_trip() -> None:
    verdict = Verdict("INV-X", "invariant", Status.FAIL, "two admits", ("history/run.jsonl.gz",),
                      ({"index": 3},), {"ratio": 0.5})
    assert Verdict.from_json(verdict.to_json()) == verdict


def test_ids_and_randomness_replay_from_the_seed() -> None:
    clock = ManualClock()
    assert new_platform_run_id(clock, 7) == new_platform_run_id(ManualClock(), 7)
    assert new_platform_run_id(clock, 7) != new_platform_run_id(clock, 8)
    assert new_platform_run_id(clock, 7).startswith("platform_20260101T000000Z_")
    assert seeded_random(3, "a").random() == seeded_random(3, "a").random()
    assert seeded_random(3, "a").random() != seeded_random(3, "b").random()
    assert utc_iso(0) == "1970-01-01T00:00:00.000000Z"
