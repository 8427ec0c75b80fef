from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from pytest_spine.history import History, Operation
from pytest_spine.invariants.catalogue import DRIFT_INVARIANTS
from pytest_spine.invariants.registry import (
    CheckContext,
    InvariantDefinitionError,
    invariant,
    registered,
    run_checks,
    unregister,
)
from pytest_spine.invariants.synthetic import HANDLES, RUN, synthetic_history
from pytest_spine.verdicts import Status, Verdict, passed


def test_every_drift_invariant_has_exactly_one_checker() -> None:
    ids = [spec.check_id for spec in registered()]
    assert set(DRIFT_INVARIANTS) <= set(ids)
    assert len(ids) == len(set(ids))
    assert len(DRIFT_INVARIANTS) == 16


def test_bad_id_fails_at_definition() -> None:
    with pytest.raises(InvariantDefinitionError, match="catalogue id"):
        invariant("dedupe")


def test_duplicate_id_fails_at_definition() -> None:
    with pytest.raises(InvariantDefinitionError, match="already registered"):
        @invariant("INV-DEDUPE-IDENTITY")
        def again(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
            return passed("INV-DEDUPE-IDENTITY", "invariant", "")


def test_class_without_observe_fails_at_definition() -> None:
    with pytest.raises(InvariantDefinitionError, match="observe"):
        @invariant("INV-TEST-BROKEN-CLASS")
        class Broken:
            pass
    unregister("INV-TEST-BROKEN-CLASS")


def test_bad_kind_and_reads_fail_at_definition() -> None:
    with pytest.raises(InvariantDefinitionError, match="kind"):
        invariant("INV-TEST-KIND", kind="vibes")
    with pytest.raises(InvariantDefinitionError, match="reads"):
        invariant("INV-TEST-READS", reads=())


def test_function_checkers_plug_in_and_see_only_their_operations(h: History) -> None:
    seen: list[str] = []

    @invariant("CP-TEST-PLUGGED", kind="control_plane", reads=("command",))
    def plugged(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
        seen.extend(op.f for op in ops)
        return passed("CP-TEST-PLUGGED", "control_plane", "ok")

    try:
        h.append("cp", "ok", "command", name="approve")
        h.append("ig", "ok", "receipt_append", seq=1)
        specs = [spec for spec in registered() if spec.check_id in ("CP-TEST-PLUGGED", "INV-APPEND-ONLY")]
        verdicts = run_checks(h.operations(), CheckContext(), specs)
        assert [v.status for v in verdicts] == [Status.PASS, Status.PASS]
        assert seen == ["command"]
    finally:
        unregister("CP-TEST-PLUGGED")


def test_a_crashing_checker_is_unknown_with_the_operation(h: History) -> None:
    @invariant("INV-TEST-CRASH", reads=("boom",))
    class Crash:
        def __init__(self, ctx: CheckContext) -> None:
            pass

        def observe(self, op: Operation) -> None:
            raise KeyError("field")

        def finish(self) -> Verdict:
            return passed("INV-TEST-CRASH", "invariant", "")

    try:
        h.append("x", "ok", "boom")
        spec = next(s for s in registered() if s.check_id == "INV-TEST-CRASH")
        verdict: Any = spec.check(h.operations(), CheckContext())
        assert verdict.status is Status.UNKNOWN
        assert "KeyError" in verdict.reason and "operation 0" in verdict.reason
    finally:
        unregister("INV-TEST-CRASH")


def test_drift_checkers_pass_on_an_empty_history() -> None:
    specs = [spec for spec in registered() if spec.check_id in DRIFT_INVARIANTS]
    verdicts = run_checks([], CheckContext(), specs)
    failing = [v for v in verdicts if v.status.is_failure]
    assert failing == []
    assert len(verdicts) == 16


def test_drift_checkers_pass_on_a_large_generated_clean_history() -> None:
    specs = [spec for spec in registered() if spec.check_id in DRIFT_INVARIANTS]
    ctx = CheckContext(handles=HANDLES, platform_run_id=RUN)
    verdicts = run_checks(synthetic_history(20_000, seed=7), ctx, specs)
    by_id = {v.check_id: v for v in verdicts}
    assert [v.check_id for v in verdicts if v.status.is_failure] == []
    assert by_id["INV-DEDUPE-IDENTITY"].figures["duplicates"] > 0
    assert by_id["INV-EXPLICIT-DEGRADE"].figures["degrades"] > 0
    assert by_id["INV-EVIDENCE-COMPLETE"].status is Status.NOT_APPLICABLE
