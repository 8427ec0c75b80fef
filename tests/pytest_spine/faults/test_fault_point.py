from __future__ import annotations

import pytest

from pytest_spine.faults.base import FaultKindError, fault_kinds, register_fault_kind
from pytest_spine.faults.fault_point import FaultPointKind
from pytest_spine.scenarios.reference_driver import ReferenceDriver


def test_fault_point_is_registered_and_validates() -> None:
    kind = fault_kinds()["fault_point"]
    assert kind.validate({"point": "bus.produce.after_append", "error": "publish_timeout", "times": 2}) == []
    assert kind.validate({"point": "rtdl.before_commit", "delay_s": 0.5, "times": None}) == []
    problems = dict(kind.validate({"point": "Nope", "error": "x", "delay_s": 1, "times": 0, "colour": 1}))
    assert set(problems) == {"colour", "point", "error", "times"}
    assert "exactly one of" in dict(kind.validate({"point": "a.b"}))["error"]


def test_a_kind_cannot_be_registered_twice() -> None:
    fault_kinds()
    with pytest.raises(FaultKindError, match="already registered"):
        register_fault_kind(FaultPointKind())


def test_injection_arms_the_reference_fault_point_and_rollback_disarms() -> None:
    driver = ReferenceDriver.standalone("t-faults", 1)
    kind = fault_kinds()["fault_point"]
    params = {"point": "bus.produce.after_append", "error": "publish_timeout", "times": None}
    kind.inject(driver, params)
    assert driver.armed() == ["bus.produce.after_append"]
    assert driver.ingest(driver.envelope("f-1")) == "PUBLISH_AMBIGUOUS"
    kind.rollback(driver, params, "disarm")
    assert driver.armed() == []
    assert driver.ingest(driver.envelope("f-2")) == "ADMIT"
    kind.rollback(driver, params, "disarm")  # safe twice


def test_a_delay_uses_the_scenario_clock_and_a_match_narrows_it() -> None:
    driver = ReferenceDriver.standalone("t-delay", 1)
    before = driver.clock.now()
    driver.arm("bus.produce.before_append", delay_s=2.0, times=None, match={"topic": "no.such.topic"})
    driver.ingest(driver.envelope("d-1"))
    assert driver.clock.now() == before
    driver.disarm("bus.produce.before_append")
    driver.arm("bus.produce.before_append", delay_s=2.0, times=1)
    driver.ingest(driver.envelope("d-2"))
    assert driver.clock.now() == before + 2.0
