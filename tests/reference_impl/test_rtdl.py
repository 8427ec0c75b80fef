from __future__ import annotations

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History, Operation
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig


def platform(*mutations: str) -> tuple[SpinePlatform, History, DictEvidence]:
    clock = ManualClock()
    history = History(clock)
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=40, mutations=frozenset(mutations),
                                               api_key="k" * 12), evidence=evidence, recorder=history, clock=clock)
    return p, history, evidence


def commits_ahead_of_writes(ops: list[Operation], group: str) -> list[int]:
    written: dict[tuple[str, int], int] = {}
    bad = []
    for op in ops:
        if op.value.get("group") != group or op.type != "ok":
            continue
        slot = (op.value["topic"], op.value["partition"])
        if op.f == "state_write":
            written[slot] = max(written.get(slot, -1), op.value["offset"])
        elif op.f == "offset_commit" and op.value["offset"] - 1 > written.get(slot, -1):
            bad.append(op.index)
    return bad


def test_every_commit_follows_its_durable_write() -> None:
    p, history, evidence = platform()
    p.run_until("P8")
    assert p.rtdl is not None
    assert commits_ahead_of_writes(history.operations(), p.rtdl.group) == []
    caught = evidence.documents["rtdl_core/caught_up.json"]
    assert (caught["max_lag"], caught["commit_violations"], caught["partitions_covered"]) == (0, 0, 9)
    snapshot = evidence.documents["rtdl_core/offsets_snapshot.json"]
    assert all(p["committed_offset"] == p["end_offset"] for parts in snapshot["topics"].values() for p in parts)


def test_ack_before_write_mutant_commits_ahead() -> None:
    p, history, evidence = platform("ack_before_write")
    p.run_until("P8")
    assert p.rtdl is not None
    assert commits_ahead_of_writes(history.operations(), p.rtdl.group) != []
    assert evidence.documents["rtdl_core/caught_up.json"]["commit_violations"] > 0


def test_join_misses_are_explicit_counted_degrades() -> None:
    p, history, evidence = platform()
    p.run_until("P8")
    misses = {op.value["event_id"] for op in history if op.f == "join" and op.value["context"] == "missing"}
    degraded = {op.value["event_id"] for op in history if op.f == "degrade" and op.process == "rtdl"}
    counts = evidence.documents["rtdl_core/caught_up.json"]["degrade_counts"]
    assert misses and misses == degraded
    assert sum(counts.values()) == len(misses)
    assert all(reason.startswith("missing_context:") for reason in counts)


def test_silent_degrade_mutant_defaults_without_a_record() -> None:
    p, history, evidence = platform("silent_degrade")
    p.run_until("P8")
    assert [op for op in history if op.f == "degrade"] == []
    caught = evidence.documents["rtdl_core/caught_up.json"]
    assert caught["degrade_counts"] == {} and caught["join_misses"] > 0


def test_crash_before_commit_replays_from_the_last_commit_without_loss() -> None:
    p, history, _evidence = platform()
    p.run_until("P7")
    assert p.rtdl is not None
    p.faults.arm("rtdl.before_commit", RuntimeError("crash"), times=1)
    with pytest.raises(RuntimeError, match="crash"):
        p.rtdl.process_available()
    p.rtdl.restart()
    p.rtdl.process_available()
    lag = p.rtdl.lag()
    assert max(v for parts in lag.values() for v in parts.values()) == 0
    assert p.rtdl.stats.commit_violations == 0
    # every admitted traffic event has exactly one decision input, although some were consumed twice
    traffic = {op.value["event_id"] for op in history if op.f == "publish" and op.type == "ok"
               and op.value["event_class"] == "traffic_fraud"}
    assert set(p.rtdl.state.decision_inputs) == traffic


def test_consumer_not_caught_up_mutant_leaves_lag() -> None:
    p, _, evidence = platform("consumer_not_caught_up")
    p.run_until("P8")
    caught = evidence.documents["rtdl_core/caught_up.json"]
    assert caught["max_lag"] > caught["lag_max_threshold"]
