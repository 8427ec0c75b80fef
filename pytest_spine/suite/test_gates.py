"""Phase gates P(-1)..P12 of "Spine Green v0" (seed 003 §5): one item per PASS criterion."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.gates.catalogue import all_criteria

CRITERIA = all_criteria()


@pytest.mark.spine_gate
@pytest.mark.xdist_group("spine-phases")
@pytest.mark.parametrize("check_id", [c.check_id for c in CRITERIA])
def test_gate(spine: Any, check_id: str) -> None:
    spine.report(spine.gate_verdict(check_id))
