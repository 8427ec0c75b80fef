"""Observation-grounded forms of the scenario laws, for a platform the harness did not write (a black box).

The history checkers (``@invariant``) read the platform's own operations (``receipt_append``, ``publish``,
``scope_check``). A black box records none of them into the harness's history, so those checkers would pass on
silence there. On a black box each scenario invariant is judged instead by the law registered here under the same
id, over two things the harness holds itself:

- its ``ingest`` operations: what it sent (tuple, payload hash, key, size, drill) and what the gate answered
  (status, outcome, receipt_seq, partition, offset), paired per process (``Send``);
- its observation of the substrate after the sends (``Sight``): the run's records on the gate's topics (each
  tuple's offsets and recomputed payload hash), the run's receipt objects, and the records of every other run id
  it sent for.

An id without an observed form is NOT_APPLICABLE, naming what it would need. No observation is UNKNOWN, never
PASS; so is a law its traffic never exercised. Anomaly classes carry Jepsen's names where they mean the same
thing (``duplicate``: one write applied twice; ``lost write``: an acknowledged write that is not there). Every
verdict declares ``basis="observed"``.

Register another law with ``@observed_law("INV-...")`` on a function ``(sends, sight) -> Verdict``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.history import Operation
from pytest_spine.observe.substrate import Dedupe, Observations, TopicView
from pytest_spine.verdicts import Status, Verdict

BASIS = "observed"
# The size cap of the ingest contract (docs/security.md: 64 KiB, before parsing): over it, 413.
ENVELOPE_CAP_BYTES = 64 * 1024
POSSIBLY_ADMITTED = frozenset({"ADMIT", "PUBLISH_AMBIGUOUS"})
EXAMPLES = 6

# What an id without an observed form would need (the default names the operations its checker reads).
NEEDS: Mapping[str, str] = {
    "INV-APPEND-ONLY": "the object store's write history (a second write to one key, or an object's versions), "
                       "which a bucket listing does not show; a black box's receipts are judged by "
                       "INV-RECEIPTS-RECONCILE and P7-receipts_match_objects",
    "INV-COMMIT-AFTER-WRITE": "the lanes' commits and output writes in order, which only the lane itself sees; "
                              "after a run P8-lane_commits_match_outputs judges commits against outputs",
    "INV-EXPLICIT-DEGRADE": "the decision lane's degrade decisions with their reasons, which the lane output "
                            "contract does not carry",
    "SEC-LINEAGE-UUIDV7": "the lineage ids of signed control messages, which the gate's ingest contract does not "
                          "carry",
    "SEC-UNSIGNED-REJECTED": "a signed control endpoint; the ingest gate's authentication is one API key, whose "
                             "keyless sends INV-IG-ONLY-PUBLISHER judges",
    "SEC-SIG-TAMPER": "a signed control endpoint; the ingest gate's wrong-key sends are judged by "
                      "INV-IG-ONLY-PUBLISHER",
    "SEC-RATE-LIMIT": "a declared rate limit (the reference's per-node token bucket); the ingest contract names "
                      "429 but no limit the harness could hold a platform to",
}


@dataclass(frozen=True, slots=True)
class Send:
    """One ``ingest`` of the harness: its invocation and what came back (``kind`` info also for one in flight)."""

    invoke_index: int
    index: int  # of the completion (of the invocation while in flight)
    process: str
    kind: str  # ok | fail | info
    ident: Dedupe | None
    payload_hash: str | None
    key: str  # own | none | other
    drill: str | None
    status_code: int | None
    outcome: str | None
    receipt_seq: Any
    partition: Any
    offset: Any
    size: int

    @property
    def own_run(self) -> bool:
        return self.ident is not None

    def row(self) -> dict[str, Any]:
        """The send as a counterexample row (the shape of a history operation)."""
        value: dict[str, Any] = {"key": self.key, "status_code": self.status_code, "bytes": self.size}
        if self.ident is not None:
            value.update(platform_run_id=self.ident[0], event_class=self.ident[1], event_id=self.ident[2])
        for name in ("payload_hash", "drill", "outcome", "receipt_seq", "partition", "offset"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        return {"index": self.index, "process": self.process, "type": self.kind, "f": "ingest", "value": value}


def sends_from(ops: Iterable[Operation]) -> list[Send]:
    """Pair the history's ``ingest`` operations per process (each process has one send in flight at a time)."""
    pending: dict[str, Operation] = {}
    sends: list[Send] = []
    for op in ops:
        if op.f != "ingest":
            continue
        if op.type == "invoke":
            pending[op.process] = op
            continue
        invoke = pending.pop(op.process, None)
        sends.append(_send(invoke, op))
    sends.extend(_send(op, None) for op in pending.values())
    sends.sort(key=lambda s: s.invoke_index)
    return sends


def _send(invoke: Operation | None, done: Operation | None) -> Send:
    value: dict[str, Any] = dict(invoke.value) if invoke is not None else {}
    if done is not None:
        value.update(done.value)
    parts = (value.get("platform_run_id"), value.get("event_class"), value.get("event_id"))
    ident = (str(parts[0]), str(parts[1]), str(parts[2])) if all(isinstance(p, str) and p for p in parts) else None
    first = invoke or done
    assert first is not None
    return Send(first.index, (done or first).index, first.process, done.type if done is not None else "info",
                ident, value.get("payload_hash"), str(value.get("key", "own")), value.get("drill"),
                value.get("status_code"), value.get("outcome") if done is not None and done.type == "ok" else None,
                value.get("receipt_seq"), value.get("partition"), value.get("offset"), int(value.get("bytes", 0)))


@dataclass(frozen=True, slots=True)
class Sight:
    """What the harness observed of the scenario's run, for the laws."""

    platform_run_id: str
    observations: Observations | None
    problem: str | None = None  # why there is no observation
    event_class_topics: Mapping[str, str] = field(default_factory=dict)  # event_class -> the gate's topic
    foreign: Mapping[str, Observations] = field(default_factory=dict)  # another run id sent for -> its records
    health: tuple[bool, ...] = ()  # the gate's health checks the harness made, in order

    def gate_views(self) -> list[TopicView]:
        assert self.observations is not None
        names = set(self.event_class_topics.values())
        return [view for name, view in sorted(self.observations.topics.items()) if name in names]

    def records(self, ident: Dedupe) -> list[dict[str, Any]]:
        """Where the tuple lies on the gate's topics."""
        return [{"f": "topic_record", "topic": view.name, "partition": p, "offset": o}
                for view in self.gate_views() for p, o in view.tuple_offsets.get(ident, [])]

    def tuples(self) -> Counter[Dedupe]:
        found: Counter[Dedupe] = Counter()
        for view in self.gate_views():
            found.update(view.tuples)
        return found

    def first_hash(self, ident: Dedupe) -> str | None:
        return next((v.tuple_hashes[ident] for v in self.gate_views() if ident in v.tuple_hashes), None)


class Findings:
    """Violations by anomaly class; the first one's rows are the counterexample."""

    def __init__(self, check_id: str, kind: str) -> None:
        self.check_id = check_id
        self.kind = kind
        self.by_class: Counter[str] = Counter()
        self.first = ""
        self.rows: tuple[Mapping[str, Any], ...] = ()

    def violation(self, anomaly: str, reason: str, *rows: Mapping[str, Any]) -> None:
        self.by_class[anomaly] += 1
        if not self.first:
            self.first = f"{anomaly}: {reason}"
            self.rows = tuple(rows[:EXAMPLES])

    def verdict(self, ok: str, **figures: Any) -> Verdict:
        figures = {**figures, "anomalies": dict(sorted(self.by_class.items()))}
        total = sum(self.by_class.values())
        if total:
            more = f" ({total - 1} more: {', '.join(f'{k} x{v}' for k, v in sorted(self.by_class.items()))})" \
                if total > 1 else ""
            return Verdict(self.check_id, self.kind, Status.FAIL, self.first + more, counterexample=self.rows,
                           figures=figures, basis=BASIS)
        return Verdict(self.check_id, self.kind, Status.PASS, ok, figures=figures, basis=BASIS)

    def unknown(self, reason: str, **figures: Any) -> Verdict:
        return Verdict(self.check_id, self.kind, Status.UNKNOWN, reason, figures=figures, basis=BASIS)


Law = Callable[[Sequence[Send], Sight, Findings], Verdict]


@dataclass(frozen=True, slots=True)
class ObservedLaw:
    check_id: str
    kind: str
    law: Law


_LAWS: dict[str, ObservedLaw] = {}


def observed_law(check_id: str, *, kind: str = "invariant") -> Callable[[Law], Law]:
    """Register the observed form of ``check_id`` (an id that also has a history checker)."""
    def register(fn: Law) -> Law:
        if check_id in _LAWS:
            raise ValueError(f"observed_law({check_id!r}) on {fn.__qualname__}: already registered by "
                             f"{_LAWS[check_id].law.__module__}")
        _LAWS[check_id] = ObservedLaw(check_id, kind, fn)
        return fn
    return register


def observed_laws() -> Mapping[str, ObservedLaw]:
    return dict(_LAWS)


def judge(check_ids: Iterable[str], ops: Iterable[Operation], sight: Sight) -> list[Verdict]:
    """Each id by its observed law, in order; NOT_APPLICABLE where it has none; UNKNOWN without an observation."""
    sends = sends_from(ops)
    verdicts: list[Verdict] = []
    for check_id in check_ids:
        entry = _LAWS.get(check_id)
        if entry is None:
            verdicts.append(Verdict(check_id, _kind(check_id), Status.NOT_APPLICABLE,
                                    f"no observed form on a black box: it would need {_needs(check_id)}",
                                    basis=BASIS))
            continue
        findings = Findings(check_id, entry.kind)
        if sight.observations is None:
            verdicts.append(findings.unknown(f"nothing was observed of run {sight.platform_run_id}: "
                                             f"{sight.problem or 'no observation was made'}"))
            continue
        if not sight.gate_views():
            verdicts.append(findings.unknown("none of the gate's topics "
                                             f"({', '.join(sorted(set(sight.event_class_topics.values())))}) "
                                             "was read: the law cannot be judged"))
            continue
        try:
            verdict = entry.law(sends, sight, findings)
        except Exception as error:  # a law that crashes is UNKNOWN, never a PASS
            verdict = findings.unknown(f"the observed law crashed: {type(error).__name__}: {error}")
        verdicts.append(dataclasses.replace(verdict, basis=BASIS))
    return verdicts


def _kind(check_id: str) -> str:
    from pytest_spine.errors import SpineError
    from pytest_spine.invariants.registry import get

    try:
        return get(check_id).kind
    except SpineError:
        return "invariant"


def _needs(check_id: str) -> str:
    if check_id in NEEDS:
        return NEEDS[check_id]
    from pytest_spine.errors import SpineError
    from pytest_spine.invariants.registry import get

    try:
        reads = get(check_id).reads
    except SpineError:
        reads = None
    what = ", ".join(sorted(reads)) if reads else "internal"
    return (f"the platform's own {what} operations, which a black box never records into the harness's history")


def _answered(sends: Sequence[Send], run_id: str) -> list[Send]:
    return [s for s in sends if s.ident is not None and s.ident[0] == run_id and s.kind == "ok"]


def _expected_topic(sight: Sight, ident: Dedupe) -> str | None:
    return sight.event_class_topics.get(ident[1])


# -- the laws ----------------------------------------------------------------------------------------------------
@observed_law("INV-DEDUPE-IDENTITY")
def dedupe_identity(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """Every tuple at most once on the gate's topics; every ADMIT answer's tuple on its event class's topic; no
    DUPLICATE for a tuple no earlier send carried; no tuple answered ADMIT twice."""
    run_id = sight.platform_run_id
    answered = _answered(sends, run_id)
    if not answered:
        return out.unknown(f"no send of run {run_id} was answered: the dedupe identity was not exercised")
    on_topics = sight.tuples()
    for ident, count in sorted(on_topics.items()):
        if count > 1:
            out.violation("duplicate", f"tuple {ident} is on the gate's topics {count} times: one admission was "
                                       "published more than once", *sight.records(ident))
    admits: dict[Dedupe, list[Send]] = {}
    invokes: dict[Dedupe, list[int]] = {}
    for send in sends:
        if send.ident is not None:
            invokes.setdefault(send.ident, []).append(send.invoke_index)
    for send in answered:
        assert send.ident is not None
        if send.outcome == "ADMIT":
            admits.setdefault(send.ident, []).append(send)
            where = sight.records(send.ident)
            expected = _expected_topic(sight, send.ident)
            if not where:
                out.violation("lost write", f"tuple {send.ident} was answered ADMIT (operation {send.index}) but is "
                                            "on none of the gate's topics", send.row())
            elif expected is not None and not any(r["topic"] == expected for r in where):
                out.violation("misrouted", f"tuple {send.ident} was admitted (operation {send.index}) to "
                                           f"{sorted({r['topic'] for r in where})}, not to {expected}, the topic "
                                           f"of event class {send.ident[1]!r}", send.row(), *where)
        elif send.outcome == "DUPLICATE" and not any(i < send.index and i != send.invoke_index
                                                     for i in invokes[send.ident]):
            out.violation("phantom duplicate", f"tuple {send.ident} was answered DUPLICATE (operation "
                                               f"{send.index}) though no earlier send carried it: the gate's dedupe "
                                               "identity is coarser than (platform_run_id, event_class, event_id)",
                          send.row())
    for ident, sent in sorted(admits.items()):
        if len(sent) > 1:
            out.violation("double admit", f"tuple {ident} was answered ADMIT {len(sent)} times (operations "
                                          f"{', '.join(str(s.index) for s in sent)})", *(s.row() for s in sent))
    return out.verdict(f"{len(answered)} answered sends of {len(invokes)} tuples: {sum(on_topics.values())} records "
                       f"of the run on the gate's topics, each tuple at most once, every ADMIT on its topic",
                       answered=len(answered), admits=sum(len(v) for v in admits.values()),
                       tuples_on_topics=len(on_topics))


@observed_law("INV-PAYLOAD-ANOMALY")
def payload_anomaly(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """A changed payload under an admitted tuple is answered ANOMALY (or QUARANTINE), an identical one never is,
    and the topic keeps only the original's payload hash."""
    run_id = sight.platform_run_id
    answered = _answered(sends, run_id)
    if not answered:
        return out.unknown(f"no send of run {run_id} was answered: no payload was admitted to compare against")
    by_tuple: dict[Dedupe, list[Send]] = {}
    for send in sends:
        if send.ident is not None and send.ident[0] == run_id and send.key == "own":
            by_tuple.setdefault(send.ident, []).append(send)
    changed = flagged = unknown = 0
    for ident, group in sorted(by_tuple.items()):
        original = next((s for s in group if s.outcome in POSSIBLY_ADMITTED), None)
        if original is None:
            unknown += any(s.kind == "info" for s in group)
            continue
        for send in group:
            if send is original or send.kind != "ok":
                continue
            if send.payload_hash != original.payload_hash:
                changed += 1
                flagged += send.outcome in ("ANOMALY", "QUARANTINE")
                if send.outcome in ("ADMIT", "DUPLICATE"):
                    out.violation("overwrite" if send.outcome == "ADMIT" else "masked anomaly",
                                  f"tuple {ident} came back with another payload (operation {send.index}) after "
                                  f"it was admitted (operation {original.index}) and was answered {send.outcome}: "
                                  "a changed payload under one tuple must be an ANOMALY", original.row(), send.row())
            elif send.outcome == "ANOMALY":
                out.violation("false anomaly", f"tuple {ident} was answered ANOMALY (operation {send.index}) for "
                                               "the payload it was admitted with", original.row(), send.row())
        on_topic = sight.first_hash(ident)
        if on_topic is not None and on_topic != original.payload_hash:
            out.violation("overwrite", f"tuple {ident} lies on the gate's topic with payload hash {on_topic}, not "
                                       f"the admitted {original.payload_hash} (operation {original.index})",
                          original.row(), *sight.records(ident))
    return out.verdict(f"{changed} sends changed an admitted tuple's payload, {flagged} answered ANOMALY or "
                       "QUARANTINE; every admitted tuple keeps its original payload on the topic",
                       changed_payloads=changed, flagged=flagged, tuples=len(by_tuple), unknown_tuples=unknown)


@observed_law("INV-RECEIPTS-RECONCILE")
def receipts_reconcile(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """The run's receipt objects are the answers that carried a receipt_seq, one each, by outcome; only a send of
    unknown outcome may have a receipt the harness was not told of."""
    assert sight.observations is not None
    receipts = sight.observations.receipts
    answered = [s for s in sends if s.kind == "ok" and s.receipt_seq is not None]
    unknown = sum(1 for s in sends if s.kind == "info")
    if not answered and not receipts:
        return out.unknown("no answer carried a receipt_seq and no receipt object exists: nothing to reconcile")
    by_seq: dict[Any, Mapping[str, Any]] = {}
    for receipt in receipts:
        seq = receipt.get("receipt_seq")
        if seq in by_seq:
            out.violation("duplicate", f"receipt_seq {seq} names two receipt objects", dict(by_seq[seq]),
                          dict(receipt))
        by_seq[seq] = receipt
    for problem in sight.observations.receipt_problems[:EXAMPLES]:
        out.violation("unreadable receipt", problem)
    matched: set[Any] = set()
    for send in answered:
        held_receipt = by_seq.get(send.receipt_seq)
        if held_receipt is None:
            out.violation("lost write", f"the answer {send.outcome} (operation {send.index}) carried receipt_seq "
                                        f"{send.receipt_seq}, and no receipt object has it", send.row())
            continue
        matched.add(send.receipt_seq)
        receipt = held_receipt
        if receipt.get("outcome") != send.outcome:
            out.violation("receipt disagrees", f"receipt {send.receipt_seq} says {receipt.get('outcome')}, the gate "
                                               f"answered {send.outcome} (operation {send.index})", send.row(),
                          dict(receipt))
        elif send.ident is not None and receipt.get("event_id") != send.ident[2]:
            out.violation("receipt disagrees", f"receipt {send.receipt_seq} names event "
                                               f"{receipt.get('event_id')!r}, the answer was for {send.ident[2]!r}",
                          send.row(), dict(receipt))
    extra = [r for seq, r in sorted(by_seq.items(), key=lambda kv: str(kv[0])) if seq not in matched]
    if len(extra) > unknown:
        out.violation("unexpected receipt", f"{len(extra)} receipt objects answer no send of the harness (and "
                                            f"{unknown} sends are of unknown outcome)", *(dict(r) for r in extra))
    answers = Counter(str(s.outcome) for s in answered)
    held = Counter(str(r.get("outcome")) for r in receipts)
    return out.verdict(f"{len(receipts)} receipt objects reconcile with {len(answered)} answers by outcome "
                       f"({dict(sorted(answers.items()))}; {unknown} sends of unknown outcome)",
                       answers=dict(sorted(answers.items())), receipts=dict(sorted(held.items())),
                       unknown_sends=unknown)


@observed_law("INV-RUN-SCOPE")
def run_scope(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """Every send naming another run is refused (409), and no record of that run appears on the gate's topics."""
    run_id = sight.platform_run_id
    foreign = [s for s in sends if s.ident is not None and s.ident[0] != run_id]
    if not foreign:
        return out.unknown(f"no send named a run other than {run_id}: the gate's run scope was not exercised")
    refused = Counter(s.status_code for s in foreign if s.kind == "fail")
    # An ADMIT is the clearest counterexample: it leads (a raced copy answered DUPLICATE is the same leak).
    for send in sorted(foreign, key=lambda s: (s.outcome != "ADMIT", s.index)):
        if send.kind == "ok":
            out.violation("scope leak", f"a send of run {send.ident and send.ident[0]!r} was answered "
                                        f"{send.outcome} (operation {send.index}) by the gate of run {run_id}: it "
                                        "must fail closed (409)", send.row())
    runs = sorted({s.ident[0] for s in foreign if s.ident is not None})
    for other in runs:
        seen = sight.foreign.get(other)
        if seen is None:
            return out.unknown(f"the gate's topics were not read for run {other}: whether its sends were published "
                               "is not known")
        names = set(sight.event_class_topics.values())
        records = sum(view.run_records() for name, view in seen.topics.items() if name in names)
        if records:
            rows = [{"f": "topic_record", "topic": view.name, "partition": p, "offset": o}
                    for view in seen.topics.values() for p, offs in view.run_offsets.items() for o in offs]
            out.violation("foreign write", f"{records} records of run {other} are on the gate's topics after the "
                                           f"harness sent for it to the gate of run {run_id}", *rows)
    return out.verdict(f"{len(foreign)} sends naming {len(runs)} other run(s) refused "
                       f"({', '.join(f'{k}: {v}' for k, v in sorted(refused.items(), key=str))}); none of their "
                       "records on the gate's topics", foreign_sends=len(foreign),
                       refused={str(k): v for k, v in sorted(refused.items(), key=str)})


@observed_law("INV-IG-ONLY-PUBLISHER")
def ig_only_publisher(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """Every record of the run on the gate's topics is a tuple the gate admitted to a send carrying its key; a send
    without the key, or with a wrong one, is refused (401/403) and puts nothing on the bus."""
    run_id = sight.platform_run_id
    if not any(s.ident is not None and s.ident[0] == run_id for s in sends):
        return out.unknown(f"the harness sent nothing for run {run_id}: no record could be matched to a send")
    authorized: set[Dedupe] = set()
    by_tuple: dict[Dedupe, list[Send]] = {}
    for send in sends:
        if send.ident is None or send.ident[0] != run_id:
            continue
        by_tuple.setdefault(send.ident, []).append(send)
        if send.key == "own" and (send.outcome in POSSIBLY_ADMITTED or send.kind == "info"):
            authorized.add(send.ident)
    keyless = [s for s in sends if s.key != "own"]
    for send in sorted(keyless, key=lambda s: (s.outcome != "ADMIT", s.index)):
        if send.kind == "ok":
            what = "without a key" if send.key == "none" else "with a wrong key"
            out.violation("open writer boundary", f"a send {what} was answered {send.outcome} (operation "
                                                  f"{send.index}): it must be refused (401/403)", send.row())
    on_topics = sight.tuples()
    for ident in sorted(set(on_topics) - authorized):
        sent = by_tuple.get(ident, [])
        if not sent:
            why = "no send of the harness carried it: something other than the gate's admit path wrote it"
        else:
            why = (f"the gate answered its sends {sorted({s.outcome or f'status {s.status_code}' for s in sent})}"
                   f"{' (some without the key)' if any(s.key != 'own' for s in sent) else ''}, never ADMIT with "
                   "the key")
        out.violation("unauthorized write", f"tuple {ident} is on the gate's topics, but {why}",
                      *(s.row() for s in sent), *sight.records(ident))
    return out.verdict(f"{sum(on_topics.values())} records of the run on the gate's topics, each admitted to a send "
                       f"with the gate's key; {len(keyless)} sends without it or with a wrong one refused",
                       records=sum(on_topics.values()), keyless_sends=len(keyless),
                       refused=dict(sorted(Counter(str(s.status_code) for s in keyless).items())))


@observed_law("INV-NO-PUBLISH-AMBIGUITY")
def no_publish_ambiguity(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """A send of unknown outcome (``info``, or PUBLISH_AMBIGUOUS) leaves its tuple at most once on the topics; an
    ADMIT's partition and offset hold that tuple's record."""
    run_id = sight.platform_run_id
    mine = [s for s in sends if s.ident is not None and s.ident[0] == run_id]
    if not mine:
        return out.unknown(f"the harness sent nothing for run {run_id}")
    ambiguous = [s for s in mine if s.kind == "info" or s.outcome == "PUBLISH_AMBIGUOUS"]
    on_topics = sight.tuples()
    for ident in sorted({s.ident for s in ambiguous if s.ident is not None}):
        if on_topics.get(ident, 0) > 1:
            out.violation("duplicate", f"tuple {ident}, sent with an unknown outcome, is on the gate's topics "
                                       f"{on_topics[ident]} times: the ambiguity was resolved by publishing again",
                          *(s.row() for s in ambiguous if s.ident == ident), *sight.records(ident))
    checked = 0
    for send in mine:
        if send.outcome != "ADMIT" or not isinstance(send.partition, int) or not isinstance(send.offset, int):
            continue
        assert send.ident is not None
        checked += 1
        expected = _expected_topic(sight, send.ident)
        where = [r for r in sight.records(send.ident) if expected is None or r["topic"] == expected]
        if not any(r["partition"] == send.partition and r["offset"] == send.offset for r in where):
            out.violation("lost write", f"the ADMIT of {send.ident} (operation {send.index}) names partition "
                                        f"{send.partition} offset {send.offset}, which does not hold its record: the "
                                        "answer was not backed by that acknowledged publish", send.row(), *where)
    return out.verdict(f"{len(ambiguous)} sends of unknown outcome, none published twice; {checked} ADMIT answers "
                       "hold their record at the offset they name", ambiguous=len(ambiguous), admits_checked=checked)


@observed_law("SEC-PAYLOAD-CAP", kind="security")
def payload_cap(sends: Sequence[Send], sight: Sight, out: Findings) -> Verdict:
    """Over the 64 KiB cap an envelope is refused (413); a malformed one is refused or quarantined, never admitted;
    none reaches the bus; the gate keeps answering (no unknown outcome, no 5xx) and stays healthy."""
    fuzz = [s for s in sends if isinstance(s.drill, str) and s.drill.startswith("fuzz:")]
    if not fuzz:
        return out.unknown("no fuzzed envelope was sent: the size cap was not exercised")
    oversize = [s for s in fuzz if s.size > ENVELOPE_CAP_BYTES]
    on_topics = sight.tuples()
    for send in fuzz:
        bad = send.drill != "fuzz:control"
        if send.kind == "info" or (send.status_code is not None and send.status_code >= 500):
            out.violation("crash", f"the gate gave no usable answer to a {send.drill} envelope (operation "
                                   f"{send.index}: status {send.status_code})", send.row())
        elif send in oversize and not (send.kind == "fail" and send.status_code is not None
                                       and 400 <= send.status_code < 500):
            out.violation("cap not enforced", f"an envelope of {send.size} bytes, over the {ENVELOPE_CAP_BYTES}-byte "
                                              f"cap, was answered {send.outcome or send.status_code} (operation "
                                              f"{send.index}); it must be refused (413)", send.row())
        elif bad and send.outcome == "ADMIT":
            out.violation("malformed admitted", f"a {send.drill} envelope was answered ADMIT (operation "
                                                f"{send.index})", send.row())
        elif not bad and send.outcome != "ADMIT":
            out.violation("valid refused", f"a valid control envelope sent during the fuzz was answered "
                                           f"{send.outcome or send.status_code} (operation {send.index})", send.row())
        if bad and send.ident is not None and on_topics.get(send.ident):
            out.violation("malformed on the bus", f"the {send.drill} envelope {send.ident} is on the gate's topics",
                          send.row(), *sight.records(send.ident))
    if sight.health and not sight.health[-1]:
        out.violation("crash", "the gate's health check failed after the fuzz")
    return out.verdict(f"{len(fuzz)} fuzzed envelopes: {len(oversize)} over the cap refused, no malformed one "
                       "admitted or on the bus, every one answered", fuzzed=len(fuzz), oversize=len(oversize),
                       statuses=dict(sorted(Counter(str(s.status_code) for s in fuzz).items())))
