"""Laws that tie the history to the evidence bundle (seed 003 §6.5, §7.3 item 4, §7.5): replay anchors
cover what was published and agree with the offset snapshot, no resource name outside the handles
registry, and the bundle holds every required file, each written once.

These laws need more than the history. When the context does not carry what they need (an offline
``spine check`` without ``--bundle``), they say NOT_APPLICABLE and why; when it does and a file is
missing, that is a FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, brief
from pytest_spine.invariants.registry import CheckContext, invariant
from pytest_spine.invariants.tally import Tally
from pytest_spine.verdicts import Status, Verdict

ANCHORS = "replay_anchors.json"
SNAPSHOT = "ingest/kafka_offsets_snapshot.json"

Range = tuple[int, int]  # [start, end): end is the next offset, as Kafka's high watermark


def offset_ranges(document: Mapping[str, Any]) -> dict[tuple[str, int], Range]:
    """(topic, partition) -> [start, end) from an anchors or offsets document.

    Accepts a list of ``{topic, partition, start_offset, end_offset}`` under ``anchors``,
    ``offset_ranges`` or ``partitions``, or ``topics: {topic: {partition: {start, end}}}``, or
    ``topics: {topic: [{partition, start_offset, end_offset}]}`` (the reference platform's snapshot).
    """
    ranges: dict[tuple[str, int], Range] = {}
    for name in ("anchors", "offset_ranges", "partitions"):
        rows = document.get(name)
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, Mapping) and "topic" in row and "partition" in row:
                    start = row.get("start_offset", row.get("start"))
                    end = row.get("end_offset", row.get("end"))
                    if isinstance(start, int) and isinstance(end, int):
                        ranges[(str(row["topic"]), int(row["partition"]))] = (start, end)
    topics = document.get("topics")
    if isinstance(topics, Mapping):
        for topic, partitions in topics.items():
            if isinstance(partitions, list):  # {topic: [{partition, start_offset, end_offset}]}
                partitions = {row.get("partition"): row for row in partitions if isinstance(row, Mapping)}
            if not isinstance(partitions, Mapping):
                continue
            for partition, bounds in partitions.items():
                if isinstance(bounds, Mapping):
                    start = bounds.get("start_offset", bounds.get("start"))
                    end = bounds.get("end_offset", bounds.get("end"))
                    if isinstance(start, int) and isinstance(end, int):
                        ranges[(str(topic), int(partition))] = (start, end)
    return ranges


@invariant("INV-REPLAY-ANCHORS", reads=("publish",))
class ReplayAnchors:
    """Replay anchors cover every published offset and agree with the P7 offsets snapshot."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-REPLAY-ANCHORS")
        self.ctx = ctx
        self.published: dict[tuple[str, int], tuple[int, int, Brief, Brief]] = {}

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        offset = op.value.get("offset")
        if not isinstance(offset, int):
            return
        where = (str(op.value.get("topic")), int(op.value.get("partition", 0)))
        seen = self.published.get(where)
        if seen is None:
            memo = brief(op, "topic", "partition", "offset", "event_id")
            self.published[where] = (offset, offset, memo, memo)
        elif offset < seen[0]:
            self.published[where] = (offset, seen[1], brief(op, "topic", "partition", "offset"), seen[3])
        elif offset > seen[1]:
            self.published[where] = (seen[0], offset, seen[2], brief(op, "topic", "partition", "offset"))

    def finish(self) -> Verdict:
        if self.ctx.evidence is None:
            return Verdict("INV-REPLAY-ANCHORS", "invariant", Status.NOT_APPLICABLE,
                           "no evidence bundle was given to compare the anchors with the history "
                           "(spine check --bundle DIR)")
        anchors_doc = self.ctx.evidence.get(ANCHORS)
        if anchors_doc is None:
            self.out.violation(f"{ANCHORS} is missing from the bundle: the run cannot support replay")
            return self.out.verdict("")
        anchors = offset_ranges(anchors_doc)
        rows = anchors_doc.get("anchors")
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, Mapping) and not (row.get("captured_at_utc") or row.get("captured_at")):
                    self.out.violation(f"{ANCHORS}: anchor {dict(row)} has no capture timestamp")
                    break
        for where, (low, high, first, last) in sorted(self.published.items()):
            anchor = anchors.get(where)
            if anchor is None:
                self.out.violation(f"{ANCHORS} has no anchor for {where[0]}[{where[1]}] although offsets "
                                   f"{low}..{high} were published there", first, last)
            elif not (anchor[0] <= low and high < anchor[1]):
                self.out.violation(
                    f"{ANCHORS} anchors {where[0]}[{where[1]}] at [{anchor[0]}, {anchor[1]}) but offsets "
                    f"{low}..{high} were published: the anchors do not cover the run", first, last)
        snapshot_doc = self.ctx.evidence.get(SNAPSHOT)
        if snapshot_doc is not None:
            for where, (start, end) in sorted(offset_ranges(snapshot_doc).items()):
                anchor = anchors.get(where)
                if end > start and (anchor is None or anchor[0] > start or anchor[1] < end):
                    self.out.violation(
                        f"{SNAPSHOT} records {where[0]}[{where[1]}] at [{start}, {end}) but {ANCHORS} has "
                        f"{'no anchor' if anchor is None else list(anchor)} there: anchors and the offsets "
                        "snapshot disagree")
                    break
        return self.out.verdict(
            f"{len(anchors)} replay anchors cover all {len(self.published)} published partitions",
            anchors=len(anchors), published_partitions=len(self.published))


@invariant("INV-HANDLES", reads=("handle_use",))
class Handles:
    """Every topic, bucket and prefix a component uses is named in the handles registry."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-HANDLES")
        self.known = ctx.handles
        # A full registry (pytest_spine.handles.HandlesRegistry) resolves patterns and kinds; a bare set
        # of names is the simple form.
        self.registry = ctx.options.get("handles_registry")
        self.used: set[str] = set()

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        name = str(op.value.get("name"))
        self.used.add(name)
        if self.registry is not None:
            from pytest_spine.handles import resolves

            unknown = not resolves(str(op.value.get("kind", "any")), name, self.registry)
        else:
            unknown = self.known is not None and name not in self.known
        if unknown:
            self.out.violation(
                f"{op.process!r} used {op.value.get('kind', 'resource')} {name!r} at operation {op.index}, "
                "which the handles registry does not define: add it to the registry or use a registered "
                "handle", op)

    def finish(self) -> Verdict:
        if self.known is None and self.registry is None:
            return Verdict("INV-HANDLES", "invariant", Status.NOT_APPLICABLE,
                           "no handles registry was given to check the names against (spine check --handles)")
        if not self.used:
            self.out.violation("no handle_use operations were recorded, so nothing shows the target used "
                               "registered names: record every topic, bucket and prefix look-up")
        return self.out.verdict(f"{len(self.used)} resource names used, all in the handles registry",
                                handles_used=len(self.used))


@invariant("INV-EVIDENCE-COMPLETE", reads=("evidence_write",))
class EvidenceComplete:
    """The bundle holds every required file, and each file was written once."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-EVIDENCE-COMPLETE")
        self.ctx = ctx
        self.written: dict[str, Brief] = {}

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type != "ok":
            return
        path = str(op.value.get("path"))
        first = self.written.get(path)
        if first is not None:
            self.out.violation(f"evidence file {path!r} was written twice (operations {first[0]} and "
                               f"{op.index}): evidence is write-once", first, op)
        else:
            self.written[path] = brief(op, "path", "sha256")

    def finish(self) -> Verdict:
        required = self.ctx.required_evidence
        if required is None:
            return Verdict("INV-EVIDENCE-COMPLETE", "invariant", Status.NOT_APPLICABLE,
                           "no required evidence set was given (spine check --bundle DIR checks a whole run)")
        present = set(self.written)
        if self.ctx.evidence is not None:
            present.update(self.ctx.evidence.list())
        missing = [path for path in required if path not in present]
        if missing:
            self.out.violation(
                f"{len(missing)} required evidence files are missing: {', '.join(missing[:8])}"
                + (" ..." if len(missing) > 8 else ""))
        return self.out.verdict(f"all {len(required)} required evidence files are present",
                                required=len(required), missing=len(missing))
