"""Laws of the streaming path (seed 003 §7.1 items 4-7): stream view first, READY before streaming,
commit after the durable write, explicit degrade on missing context."""

from __future__ import annotations

from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, brief
from pytest_spine.invariants.registry import CheckContext, invariant
from pytest_spine.invariants.tally import Tally
from pytest_spine.verdicts import Verdict


@invariant("INV-STREAM-VIEW-FIRST", reads=("stream_read",))
class StreamViewFirst:
    """WSP reads the ordered, receipted ``stream_view`` outputs, never raw oracle outputs."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-STREAM-VIEW-FIRST")
        self.reads = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        self.reads += 1
        source = op.value.get("source")
        if source != "stream_view":
            self.out.violation(
                f"WSP read output {op.value.get('output_id')!r} from {source!r} at operation {op.index}: "
                "streaming must read the stream_view artifacts (P3), not raw oracle outputs", op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.reads} stream reads, all from stream_view", stream_reads=self.reads)


@invariant("INV-READY-BEFORE-STREAM", reads=("ready_publish", "stream_start"))
class ReadyBeforeStream:
    """WSP starts streaming a run only after SR published READY for it (P5 before P6)."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-READY-BEFORE-STREAM")
        self.ready: dict[Any, Brief] = {}
        self.starts = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        run = op.value.get("platform_run_id")
        if op.f == "ready_publish":
            self.ready.setdefault(run, brief(op, "platform_run_id", "topic", "partition", "offset"))
            return
        self.starts += 1
        if run not in self.ready:
            self.out.violation(
                f"WSP started streaming run {run!r} at operation {op.index} with no READY published for it "
                "before: streaming must wait for the SR READY gate", op)
        elif op.value.get("ready_offset") is None:
            self.out.violation(
                f"WSP started streaming run {run!r} at operation {op.index} without naming the READY offset "
                "it waited for (ready_offset is null)", self.ready[run], op)

    def finish(self) -> Verdict:
        return self.out.verdict(f"{self.starts} stream starts, each after READY", stream_starts=self.starts)


@invariant("INV-COMMIT-AFTER-WRITE", reads=("consume", "state_write", "offset_commit"))
class CommitAfterWrite:
    """A consumer commits offset N only after the durable writes of every record below N.

    Per (group, topic, partition), every offset from the previous commit up to N must have an ``ok``
    ``state_write`` before the commit: a record committed before it was consumed, or consumed and not
    yet written, is "ack before write". A seek back (redelivery) only re-checks what it re-commits.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-COMMIT-AFTER-WRITE")
        # (group, topic, partition) -> committed base, offsets durably written at or above it, and the
        # consumes not yet written (for the counterexample)
        self.base: dict[tuple[Any, Any, Any], int] = {}
        self.durable: dict[tuple[Any, Any, Any], set[int]] = {}
        self.consumed: dict[tuple[Any, Any, Any], dict[int, Brief]] = {}
        self.commits = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        value = op.value
        where = (value.get("group"), value.get("topic"), value.get("partition"))
        offset = value.get("offset")
        if not isinstance(offset, int):
            return
        if op.f == "consume":
            self.consumed.setdefault(where, {})[offset] = brief(op, "group", "topic", "partition", "offset",
                                                               "event_id")
            if where not in self.base or offset < self.base[where]:
                self.base[where] = min(offset, self.base.get(where, offset))
            return
        if op.f == "state_write":
            self.durable.setdefault(where, set()).add(offset)
            self.consumed.get(where, {}).pop(offset, None)
            if where not in self.base:
                self.base[where] = offset
            return
        self.commits += 1
        base = self.base.get(where, offset - 1)
        durable = self.durable.get(where, set())
        missing = next((at for at in range(base, offset) if at not in durable), None)
        if missing is not None:
            consume = self.consumed.get(where, {}).get(missing)
            state = "consumed but not yet written" if consume is not None else "not even consumed yet"
            self.out.violation(
                f"group {where[0]!r} committed {where[1]}[{where[2]}] offset {offset} at operation {op.index} "
                f"while the record at offset {missing} was {state}: ack before write", consume, op)
        if offset > base:
            self.base[where] = offset
            self.durable[where] = {at for at in durable if at >= offset}
            pending = self.consumed.get(where)
            if pending:
                self.consumed[where] = {at: memo for at, memo in pending.items() if at >= offset}

    def finish(self) -> Verdict:
        unwritten = sum(len(p) for p in self.consumed.values())
        return self.out.verdict(
            f"{self.commits} offset commits, none ahead of its durable writes",
            offset_commits=self.commits, consumed_not_yet_written=unwritten)


@invariant("INV-EXPLICIT-DEGRADE", reads=("join", "degrade", "decision"))
class ExplicitDegrade:
    """Missing or late context leads to an explicit degrade with a reason, never a silent default."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-EXPLICIT-DEGRADE")
        self.missing: dict[Any, Brief] = {}
        self.degraded: set[Any] = set()
        self.degrades = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        event_id = op.value.get("event_id")
        if op.f == "join":
            if op.value.get("context") != "present":
                self.missing.setdefault(event_id, brief(op, "event_id", "context", "missing"))
        elif op.f == "degrade":
            self.degrades += 1
            if not op.value.get("reason"):
                self.out.violation(
                    f"the degrade of event {event_id!r} at operation {op.index} records no reason: an "
                    "explicit degrade says why", op)
            self.degraded.add(event_id)
        else:
            join = self.missing.get(event_id)
            flagged = bool(op.value.get("degraded"))
            if join is not None and (event_id not in self.degraded or not flagged):
                self.out.violation(
                    f"decision {op.value.get('decision_id')!r} on event {event_id!r} (operation {op.index}) "
                    f"was made with context missing (operation {join[0]}) but "
                    + ("no degrade was recorded" if event_id not in self.degraded else "is not marked degraded")
                    + ": missing context must degrade explicitly, never default silently", join, op)
            elif join is None and flagged and event_id not in self.degraded:
                self.out.violation(
                    f"decision {op.value.get('decision_id')!r} on event {event_id!r} (operation {op.index}) is "
                    "marked degraded with no degrade record giving the reason", op)
            self.missing.pop(event_id, None)
            self.degraded.discard(event_id)

    def finish(self) -> Verdict:
        for event_id, join in self.missing.items():
            if event_id not in self.degraded:
                self.out.violation(
                    f"event {event_id!r} joined with missing context (operation {join[0]}) and was never "
                    "degraded explicitly", join)
                break
        return self.out.verdict(f"{self.degrades} explicit degrades, each with a reason",
                                degrades=self.degrades)
