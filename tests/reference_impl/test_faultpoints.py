from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from reference_impl.errors import UnknownFaultPoint
from reference_impl.faultpoints import FaultPoints


def test_armed_exception_fires_for_n_hits_then_disarms_itself() -> None:
    faults = FaultPoints()
    faults.arm("rtdl.before_commit", RuntimeError, times=2)
    for _ in range(2):
        with pytest.raises(RuntimeError, match=r"fault injected at rtdl\.before_commit"):
            faults.hit("rtdl.before_commit")
    faults.hit("rtdl.before_commit")
    assert faults.hits("rtdl.before_commit") == 3
    assert faults.armed() == []


def test_callback_sees_the_context_and_disarm_rolls_back() -> None:
    faults = FaultPoints()
    seen: list[Mapping[str, Any]] = []
    faults.arm("store.put.before", seen.append, times=None)
    faults.hit("store.put.before", bucket="b", key="k1")
    faults.hit("store.put.before", bucket="b", key="k2")
    faults.disarm()
    faults.hit("store.put.before", bucket="b", key="k3")
    assert [c["key"] for c in seen] == ["k1", "k2"]


def test_when_filter_selects_the_hits() -> None:
    faults = FaultPoints()
    faults.arm("bus.produce.before_append", ValueError("x"), when=lambda c: c["topic"] == "a")
    faults.hit("bus.produce.before_append", topic="b")
    with pytest.raises(ValueError):
        faults.hit("bus.produce.before_append", topic="a")


def test_unknown_point_and_bad_times_are_refused() -> None:
    faults = FaultPoints()
    known = r"unknown fault point .bus\.nope.; known points: .*rtdl\.before_commit"
    with pytest.raises(UnknownFaultPoint, match=known):
        faults.arm("bus.nope", RuntimeError)
    with pytest.raises(ValueError, match="times must be >= 1 or None, given: 0"):
        faults.arm("rtdl.before_commit", RuntimeError, times=0)
