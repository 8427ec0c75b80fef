"""Builders of hand-made histories for the checker tests, handed out as fixtures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History, Operation
from pytest_spine.invariants.registry import CheckContext, get
from pytest_spine.verdicts import Verdict


@pytest.fixture
def h() -> History:
    return History(ManualClock())


@pytest.fixture(name="check")
def _check_fixture() -> Any:
    return check


@pytest.fixture(name="ingest")
def _ingest_fixture() -> Any:
    return ingest


def check(check_id: str, ops: Iterable[Operation], ctx: CheckContext | None = None) -> Verdict:
    return get(check_id).check(list(ops), ctx or CheckContext())


def ingest(h: History, event_id: str, outcome: str | None, *, run: str = "r1", cls: str = "tx",
           payload: str = "p1", process: str = "client-1", publish: bool | None = None,
           **extra: Any) -> None:
    """One ingest attempt; outcome None = unknown (info). publish=True records an acknowledged publish."""
    key = {"platform_run_id": run, "event_class": cls, "event_id": event_id}
    h.append(process, "invoke", "ingest", payload_hash=payload, **key)
    if publish is None:
        publish = outcome == "ADMIT"
    if publish:
        h.append("ig", "invoke", "publish", topic="events", key=event_id, **key)
        h.append("ig", "ok", "publish", topic="events", key=event_id, partition=0, offset=len(h), **key)
    if outcome is None:
        h.append(process, "info", "ingest", error="timeout")
        return
    h.append("ig", "ok", "receipt_append", seq=len(h), outcome=outcome, payload_hash=payload, **key)
    h.append(process, "ok", "ingest", payload_hash=payload, outcome=outcome, receipt_seq=len(h), **key,
             **extra)
