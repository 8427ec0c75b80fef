"""Ingestion-gate laws (seed 003 §7.1 items 1-2, the pinned IG decisions), checked over ``ingest``,
``publish``, ``receipt_append`` and ``scope_check`` operations.

Unknown outcomes (``info`` completions, invocations that never completed) count as *possibly applied*:
a later DUPLICATE for such a key is legal, a later second ADMIT is not.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pytest_spine.history import Operation
from pytest_spine.invariants.pairing import Brief, Pairing, brief
from pytest_spine.invariants.registry import CheckContext, invariant
from pytest_spine.invariants.tally import Tally
from pytest_spine.verdicts import Verdict

OUTCOMES = ("ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS")
# Outcomes after which the key is (possibly) in the dedupe store.
_POSSIBLY_STORED = frozenset({"ADMIT", "ANOMALY", "PUBLISH_AMBIGUOUS", "QUARANTINE", "DUPLICATE", "?"})
_KEY_FIELDS = ("platform_run_id", "event_class", "event_id", "payload_hash", "outcome")

Key = tuple[Any, Any, Any]


def _key(value: Any) -> Key:
    return (value.get("platform_run_id"), value.get("event_class"), value.get("event_id"))


@invariant("INV-DEDUPE-IDENTITY", reads=("ingest",))
class DedupeIdentity:
    """The IG dedupe identity is exactly (platform_run_id, event_class, event_id).

    Too coarse an identity shows as a DUPLICATE for a tuple never seen before; too fine an identity (or no
    dedupe) shows as a second ADMIT of one tuple.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-DEDUPE-IDENTITY")
        self.pairing = Pairing()
        self.seen: dict[Key, Brief] = {}  # key -> the operation that (possibly) stored it
        self.admitted: dict[Key, Brief] = {}
        self.admits = 0
        self.duplicates = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        invoke, value = self.pairing.complete(op)
        if op.type == "invoke" or op.type == "fail":
            return
        key = _key(value)
        if op.type == "info":
            self.seen.setdefault(key, brief(op, *_KEY_FIELDS))
            return
        outcome = value.get("outcome")
        if outcome == "ADMIT":
            self.admits += 1
            first = self.admitted.get(key)
            if first is not None:
                self.out.violation(
                    f"event {key} was admitted twice (operations {first[0]} and {op.index}): the dedupe "
                    "identity is finer than (platform_run_id, event_class, event_id), or dedupe is off",
                    first, op)
            else:
                memo = self.admitted[key] = brief(op, *_KEY_FIELDS)
                self.seen.setdefault(key, memo)
                return
        elif outcome == "DUPLICATE":
            self.duplicates += 1
            if key not in self.seen:
                self.out.violation(
                    f"event {key} was answered DUPLICATE at operation {op.index} although no earlier attempt "
                    "carried that (platform_run_id, event_class, event_id): the dedupe identity is coarser "
                    "than the pinned tuple", invoke, op)
        if outcome in _POSSIBLY_STORED and key not in self.seen:
            self.seen[key] = brief(op, *_KEY_FIELDS)

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{self.admits} admits, {self.duplicates} duplicates over {len(self.seen)} dedupe tuples: "
            "no tuple admitted twice, no duplicate without an earlier attempt",
            admits=self.admits, duplicates=self.duplicates, keys=len(self.seen))


@invariant("INV-PAYLOAD-ANOMALY", reads=("ingest", "receipt_append"))
class PayloadAnomaly:
    """The same dedupe tuple with another payload hash is an ANOMALY (or QUARANTINE), never an overwrite."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-PAYLOAD-ANOMALY")
        self.pairing = Pairing()
        self.first_hash: dict[Key, tuple[Any, Brief]] = {}
        self.anomalies = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.f == "receipt_append":
            value: Any = op.value
            outcome = value.get("outcome")
        else:
            _, value = self.pairing.complete(op)
            if op.type in ("invoke", "fail"):
                return
            outcome = value.get("outcome") if op.type == "ok" else "?"
        key = _key(value)
        payload_hash = value.get("payload_hash")
        first = self.first_hash.get(key)
        if first is None:
            if outcome not in ("QUARANTINE", "ANOMALY"):
                self.first_hash[key] = (payload_hash, brief(op, *_KEY_FIELDS))
            return
        stored_hash, memo = first
        if outcome == "ANOMALY":
            self.anomalies += op.f == "ingest"
        if payload_hash != stored_hash and outcome in ("ADMIT", "DUPLICATE"):
            self.out.violation(
                f"event {key} came back with payload hash {payload_hash!r} (operation {op.index}) after "
                f"{stored_hash!r} (operation {memo[0]}) and was answered {outcome}: a changed payload under "
                "one dedupe tuple must be an ANOMALY, never an overwrite or a silent duplicate", memo, op)
        elif payload_hash == stored_hash and outcome == "ANOMALY" and op.f == "ingest":
            self.out.violation(
                f"event {key} was flagged ANOMALY at operation {op.index} although its payload hash "
                f"{payload_hash!r} equals the first one (operation {memo[0]}): an identical replay is a "
                "DUPLICATE", memo, op)

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{self.anomalies} payload changes flagged ANOMALY; no changed payload admitted or deduplicated",
            anomalies=self.anomalies)


@invariant("INV-RECEIPTS-RECONCILE", reads=("ingest", "receipt_append"))
class ReceiptsReconcile:
    """admit + duplicate + quarantine + anomaly (+ publish_ambiguous) receipts = ingest attempts answered.

    Each answered attempt (``ok``) has exactly one receipt of the same outcome; unknown outcomes (``info``)
    may or may not have one, so they widen the allowed range instead of breaking it.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-RECEIPTS-RECONCILE")
        self.pairing = Pairing()
        self.answered: Counter[str] = Counter()
        self.receipts: Counter[str] = Counter()
        self.unknown = 0
        self.ctx = ctx
        self.seqs_seen = 0
        self.last_answer: Operation | None = None
        self.last_receipt: Operation | None = None

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.f == "receipt_append":
            if op.type == "ok":
                self.receipts[str(op.value.get("outcome"))] += 1
                self.last_receipt = op
            return
        self.pairing.complete(op)
        if op.type == "ok":
            self.answered[str(op.value.get("outcome"))] += 1
            self.last_answer = op
        elif op.type == "info":
            self.unknown += 1

    def finish(self) -> Verdict:
        self.unknown += sum(1 for op in self.pairing.in_flight() if op.f == "ingest")
        attempts = sum(self.answered.values())
        receipts = sum(self.receipts.values())
        figures: dict[str, Any] = {f"receipts_{o.lower()}": self.receipts.get(o, 0) for o in OUTCOMES}
        figures.update(attempts_answered=attempts, attempts_unknown=self.unknown, receipts_total=receipts)
        for outcome in sorted(set(self.answered) | set(self.receipts)):
            have, want = self.receipts.get(outcome, 0), self.answered.get(outcome, 0)
            if have < want or have > want + self.unknown:
                self.out.violation(
                    f"{have} {outcome} receipts for {want} attempts answered {outcome} "
                    f"(and {self.unknown} attempts of unknown outcome): receipts do not reconcile with "
                    "the answers the gate gave", self.last_answer, self.last_receipt)
                break
        if not self.out.violations and not (attempts <= receipts <= attempts + self.unknown):
            self.out.violation(
                f"{receipts} receipts for {attempts} answered attempts (+{self.unknown} unknown): "
                "admit+duplicate+quarantine+anomaly must equal the attempts", self.last_answer)
        if not self.out.violations and self.ctx.evidence is not None:
            self._against_summary(receipts)
        return self.out.verdict(
            f"{receipts} receipts reconcile with {attempts} answered attempts "
            f"(+{self.unknown} of unknown outcome)", **figures)

    def _against_summary(self, receipts: int) -> None:
        assert self.ctx.evidence is not None
        summary = self.ctx.evidence.get("ingest/receipt_summary.json")
        if summary is None:
            return  # INV-EVIDENCE-COMPLETE reports missing files; this law is about the counts
        counts = summary.get("counts_by_outcome", summary.get("counts"))
        if not isinstance(counts, dict):
            return
        for outcome in OUTCOMES:
            if outcome in counts and int(counts[outcome]) != self.receipts.get(outcome, 0):
                self.out.violation(
                    f"ingest/receipt_summary.json says {outcome}={counts[outcome]} but the history holds "
                    f"{self.receipts.get(outcome, 0)} {outcome} receipts: the summary is not derived from "
                    "the receipts", self.last_receipt)
                return


@invariant("INV-NO-PUBLISH-AMBIGUITY", reads=("ingest", "publish"))
class NoPublishAmbiguity:
    """A publish whose outcome is unknown is surfaced as PUBLISH_AMBIGUOUS, never reported as ADMIT.

    An ADMIT also needs an acknowledged publish of that event: an admit without one is an ambiguity hidden
    from the answer.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-NO-PUBLISH-AMBIGUITY")
        self.pairing = Pairing()
        self.ambiguous: dict[Key, Brief] = {}
        self.published: set[Key] = set()
        self.recorded = 0
        self.unknown_publishes = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        _, value = self.pairing.complete(op)
        if op.type == "invoke":
            return
        key = _key(value)
        if op.f == "publish":
            # An acknowledgement carries the offset the broker gave; an "ok" without one is a guess.
            acknowledged = op.type == "ok" and isinstance(value.get("offset"), int)
            if acknowledged:
                self.published.add(key)
            elif op.type in ("info", "ok"):
                self.unknown_publishes += 1
                self.ambiguous[key] = brief(op, "topic", "platform_run_id", "event_class", "event_id")
            return
        if op.type != "ok":
            return
        outcome = value.get("outcome")
        if outcome == "PUBLISH_AMBIGUOUS":
            self.recorded += 1
            self.ambiguous.pop(key, None)
        elif outcome == "ADMIT":
            hidden = self.ambiguous.pop(key, None)
            if hidden is not None and key not in self.published:
                self.out.violation(
                    f"the publish of event {key} timed out with an unknown outcome (operation {hidden[0]}) "
                    f"but the gate answered ADMIT (operation {op.index}): the ambiguity must be recorded as "
                    "PUBLISH_AMBIGUOUS", hidden, op)
            elif key not in self.published:
                self.out.violation(
                    f"event {key} was answered ADMIT at operation {op.index} without an acknowledged "
                    "publish: admit must follow the broker's acknowledgement", op)
        self.published.discard(key)

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{self.unknown_publishes} publishes of unknown outcome, {self.recorded} recorded as "
            "PUBLISH_AMBIGUOUS; every ADMIT follows an acknowledged publish",
            publish_ambiguous=self.recorded, publish_unknown=self.unknown_publishes)


@invariant("INV-IG-ONLY-PUBLISHER", reads=("publish",))
class IgOnlyPublisher:
    """Only the ingestion gate publishes to the event bus."""

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-IG-ONLY-PUBLISHER")
        self.publishers: Counter[str] = Counter()

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.type == "fail":
            return
        self.publishers[op.process] += 1
        if op.process != "ig" and op.type != "invoke":
            self.out.violation(
                f"process {op.process!r} published to topic {op.value.get('topic')!r} (operation {op.index}):"
                " only the ingestion gate ('ig') may write to the bus", op)

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{sum(self.publishers.values())} publish operations, all by 'ig'",
            publishers=len(self.publishers))


@invariant("INV-RUN-SCOPE", reads=("scope_check", "ingest"))
class RunScope:
    """A component whose run scope does not match fails closed; events of a foreign run are not admitted.

    The foreign-run half needs the run's id (``ctx.platform_run_id``) and the run's pinned scope
    (``ctx.options['run_scope_enforced']``): workloads that ingest several run ids on purpose leave it off.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.out = Tally("INV-RUN-SCOPE")
        self.pairing = Pairing()
        self.run_id = ctx.platform_run_id if ctx.options.get("run_scope_enforced") else None
        self.checks = 0
        self.refused = 0

    def observe(self, op: Operation) -> None:
        self.out.ops += 1
        if op.f == "scope_check":
            self.checks += 1
            required, observed = op.value.get("required"), op.value.get("observed")
            if op.type == "ok" and required != observed:
                self.out.violation(
                    f"component {op.value.get('component')!r} accepted run scope {observed!r} while "
                    f"{required!r} was required (operation {op.index}): a mismatch must fail closed", op)
            elif op.type == "fail":
                self.refused += 1
            return
        _, value = self.pairing.complete(op)
        if self.run_id is None or op.type != "ok" or value.get("outcome") != "ADMIT":
            return
        if value.get("platform_run_id") != self.run_id:
            self.out.violation(
                f"event {_key(value)} of run {value.get('platform_run_id')!r} was admitted at operation "
                f"{op.index} into run {self.run_id!r}: the gate must fail closed on a run id mismatch", op)

    def finish(self) -> Verdict:
        return self.out.verdict(
            f"{self.checks} scope checks ({self.refused} refused); no mismatch accepted",
            scope_checks=self.checks, scope_refusals=self.refused)
