"""Laws of the truth stores (seed 003 §7.1 items 3 and 8): append-only receipts, audit, case timelines and
label assertions; idempotent actions; one closure writer under the reporter lock."""

from __future__ import annotations

from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, brief
from pytest_spine.invariants.registry import CheckContext, invariant
from pytest_spine.invariants.tally import Tally
from pytest_spine.verdicts import Verdict

APPENDS = ("receipt_append", "audit_append", "case_append", "label_append")
REWRITES = ("receipt_rewrite", "audit_rewrite", "case_rewrite", "label_rewrite")


@invariant("INV-APPEND-ONLY", reads=APPENDS + REWRITES)
class AppendOnly:
    """Receipts, audit, case timelines and label assertions are appended, never mutated in place.

    A rewrite that happened (``ok``) is a violation; one of unknown outcome (``info``) makes the verdict
    UNKNOWN; a refused one (``fail``) is the store doing its job. Appends carry strictly increasing ``seq``
    per store and run: a repeated or smaller ``seq`` is an overwrite.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-APPEND-ONLY")
        self.last: dict[tuple[str, Any], Brief] = {}
        self.appends = 0
        self.refused = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.f in REWRITES:
            target = op.value.get("seq", op.value.get("key"))
            if op.type == "ok":
                self.out.violation(
                    f"{op.process!r} rewrote {target!r} in place ({op.f}, operation {op.index}): truth stores "
                    "are append-only; derive a view instead", op)
            elif op.type == "info":
                self.out.unknown(
                    f"{op.f} of {target!r} at operation {op.index} has an unknown outcome: the store may "
                    "have been mutated", op)
            elif op.type == "fail":
                self.refused += 1
            return
        if op.type != "ok":
            return
        self.appends += 1
        stream = (op.f, op.value.get("platform_run_id"))
        seq = op.value.get("seq")
        before = self.last.get(stream)
        if before is not None and seq is not None:
            previous = dict(before[5]).get("seq")
            if previous is not None and seq <= previous:
                self.out.violation(
                    f"{op.f} wrote seq {seq!r} at operation {op.index} after seq {previous!r} (operation "
                    f"{before[0]}): a repeated or smaller sequence number overwrites an appended record",
                    before, op)
        # Only the sequence number is needed to show an overwrite: keep the memory small and cheap.
        self.last[stream] = (op.index, op.time, op.process, op.type, op.f, (("seq", seq),))

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{self.appends} appends in increasing order, no rewrite ({self.refused} refused)",
            appends=self.appends, rewrites_refused=self.refused)


@invariant("INV-IDEMPOTENT-ACTIONS", reads=("action_execute",))
class IdempotentActions:
    """Each action key is executed at most once, however often its decision is replayed."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-IDEMPOTENT-ACTIONS")
        self.done: dict[Any, Brief] = {}

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type not in ("ok", "info"):
            return
        action_key = op.value.get("action_key")
        first = self.done.get(action_key)
        if first is None:
            self.done[action_key] = brief(op, "action_key", "decision_id")
        elif op.type == "ok":
            self.out.violation(
                f"action {action_key!r} was executed again at operation {op.index} (first at operation "
                f"{first[0]}): actions must be idempotent by action key", first, op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{len(self.done)} distinct actions, each executed once",
                                actions=len(self.done))


@invariant("INV-SINGLE-WRITER", reads=("lock_acquire", "lock_release", "closure_write"))
class SingleWriter:
    """Run closure (P11) has exactly one writer, holding the reporter lock while it writes."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-SINGLE-WRITER")
        self.holders: dict[Any, Brief] = {}  # lock -> the acquire of its current holder
        self.held_by: dict[Any, Any] = {}  # holder -> lock
        self.writers: dict[Any, Brief] = {}  # closure path -> first writer
        self.writes = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        value = op.value
        holder = value.get("holder")
        if op.f == "lock_acquire":
            lock = value.get("lock")
            current = self.holders.get(lock)
            if current is not None and dict(current[5]).get("holder") != holder:
                self.out.violation(
                    f"{holder!r} acquired lock {lock!r} at operation {op.index} while "
                    f"{dict(current[5]).get('holder')!r} held it (since operation {current[0]}): two "
                    "reporters hold the closure lock", current, op)
            self.holders[lock] = brief(op, "lock", "holder")
            self.held_by[holder] = lock
        elif op.f == "lock_release":
            lock = value.get("lock")
            current = self.holders.get(lock)
            if current is not None and dict(current[5]).get("holder") == holder:
                del self.holders[lock]
            self.held_by.pop(holder, None)
        else:
            self.writes += 1
            path = value.get("path")
            lock = self.held_by.get(holder)
            owner = self.holders.get(lock) if lock is not None else None
            if owner is None or dict(owner[5]).get("holder") != holder:
                self.out.violation(
                    f"{holder!r} wrote closure file {path!r} at operation {op.index} without holding the "
                    "reporter lock: closure writes need lock discipline", owner, op)
            first = self.writers.get(path)
            if first is not None and dict(first[5]).get("holder") != holder:
                self.out.violation(
                    f"closure file {path!r} was written by {dict(first[5]).get('holder')!r} (operation "
                    f"{first[0]}) and again by {holder!r} (operation {op.index}): exactly one reporter may "
                    "close a run", first, op)
            elif first is None:
                self.writers[path] = brief(op, "holder", "path")

    def finish(self) -> Verdict:
        writers = {dict(memo[5]).get("holder") for memo in self.writers.values()}
        return self.out.verdict(
            f"{self.writes} closure writes by {len(writers)} writer(s), each under the lock",
            closure_writes=self.writes, closure_writers=len(writers))
