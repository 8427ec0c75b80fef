"""Pairing invocations with their completions, and compact memories of past operations.

Jepsen's convention: a process has at most one operation in flight, so a completion belongs to the last
``invoke`` of the same process and ``f``. Checkers keep a compact tuple of the operations they may later
need as a counterexample instead of the operation itself, so memory grows with the number of keys, not
with the size of the values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.history import Operation

# (index, time, process, type, f, value subset)
Brief = tuple[int, float, str, str, str, tuple[tuple[str, Any], ...]]


def brief(op: Operation, *fields: str) -> Brief:
    value = op.value
    return (op.index, op.time, op.process, op.type, op.f, tuple([(n, value[n]) for n in fields if n in value]))


def expand(memo: Brief) -> dict[str, Any]:
    index, time, process, op_type, f, value = memo
    return {"index": index, "time": time, "process": process, "type": op_type, "f": f, "value": dict(value)}


class Pairing:
    """Completions get the fields of their invocation (a ``fail`` or ``info`` may carry only an error)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], Operation] = {}

    def complete(self, op: Operation) -> tuple[Operation | None, Mapping[str, Any]]:
        """Feed one operation; for a completion returns (its invoke or None, the merged fields)."""
        if op.type == "invoke":
            self._pending[(op.process, op.f)] = op
            return None, op.value
        invoke = self._pending.pop((op.process, op.f), None)
        # An ``ok`` repeats the invocation's fields (docs/history-vocabulary.md): no merge needed.
        if invoke is None or op.type == "ok":
            return invoke, op.value
        merged = dict(invoke.value)
        merged.update(op.value)
        return invoke, merged

    def in_flight(self) -> list[Operation]:
        """Invocations that never completed: unknown outcomes, the same as ``info``."""
        return sorted(self._pending.values(), key=lambda op: op.index)
