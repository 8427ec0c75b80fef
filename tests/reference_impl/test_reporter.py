from __future__ import annotations

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.errors import ReporterLockHeld
from reference_impl.platform import SpinePlatform
from reference_impl.reporter import Reporter
from reference_impl.runtime import DictEvidence, PlatformConfig


def platform(*mutations: str) -> tuple[SpinePlatform, History, DictEvidence]:
    clock = ManualClock()
    history = History(clock)
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, mutations=frozenset(mutations),
                                               api_key="k" * 12), evidence=evidence, recorder=history, clock=clock)
    return p, history, evidence


def test_single_writer_lock_second_reporter_fails_closed() -> None:
    p, history, _ = platform()
    p.run_until("P0")
    first = Reporter(p.rt, holder="reporter-1")
    first.acquire()
    first.acquire()  # re-acquiring one's own lock is idempotent
    with pytest.raises(ReporterLockHeld, match="held by 'reporter-1'; 'reporter-2' may not close the run"):
        Reporter(p.rt, holder="reporter-2").acquire()
    assert [(op.process, op.type) for op in history if op.f == "lock_acquire"] == [
        ("reporter-1", "ok"), ("reporter-1", "ok"), ("reporter-2", "fail")]


def test_closure_is_written_by_one_holder_and_run_completed_is_last() -> None:
    p, history, evidence = platform()
    p.run_until("P11")
    writes = [op.value for op in history if op.f == "closure_write"]
    assert {w["holder"] for w in writes} == {"reporter-1"}
    assert writes[-1]["path"] == "run_completed.json"
    done = evidence.documents["run_completed.json"]
    assert done["status"] == "COMPLETED" and done["lock"]["holder"] == "reporter-1"
    assert evidence.documents["reconciliation.json"]["balanced"] is True
    assert p.drill("second_reporter")["acquired"] is False


def test_reporter_without_lock_mutant_lets_a_second_reporter_in() -> None:
    p, _, evidence = platform("reporter_without_lock")
    p.run_until("P11")
    assert evidence.documents["run_completed.json"]["lock"]["holder"] is None
    assert p.drill("second_reporter") == {"acquired": True, "error": None}


def test_a_second_reporter_before_p11_does_not_block_the_runs_own_reporter() -> None:
    p, _, evidence = platform()
    p.run_until("P10")
    assert p.drill("second_reporter")["acquired"] is False
    assert p.run_phase("P11").completed
    assert evidence.documents["run_completed.json"]["lock"]["holder"] == "reporter-1"
