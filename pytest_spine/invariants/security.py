"""Security invariants over a recorded History (the ``control_admit`` and ``event`` operations the security layer
records, see ``reference_impl/security/gate.py`` and ``docs/security.md``).

Every function reads operations only; none trusts a counter the system under test reports about itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_spine.history import Operation
from pytest_spine.invariants.registry import CheckContext, counterexample, invariant
from pytest_spine.verdicts import Status, Verdict

SIG_FAILURE_REASONS = frozenset({"unsigned", "bad_signature", "truncated_signature", "bad_signature_encoding",
                                 "bad_key_length", "unknown_author"})
REPLAY_REASONS = frozenset({"skew", "replay", "nonce_duplicate", "nonce_stale"})


def decisions(ops: Iterable[Operation]) -> list[Operation]:
    """Completed ``control_admit`` operations: ``ok`` = admitted, ``fail`` = rejected."""
    return [op for op in ops if op.f == "control_admit" and op.type in ("ok", "fail")]


def events(ops: Iterable[Operation], name: str | None = None) -> list[Operation]:
    return [op for op in ops if op.f == "event" and (name is None or op.value.get("name") == name)]


def is_uuid7(text: object) -> bool:
    """A canonical (lowercase, hyphenated) RFC 9562 UUID of version 7 and the RFC variant."""
    if not isinstance(text, str) or len(text) != 36:
        return False
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return False
    return str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def unsigned_admitted(ops: Iterable[Operation]) -> list[Operation]:
    """Admitted control messages that carried no signature (SEC-UNSIGNED-REJECTED wants none)."""
    return [op for op in decisions(ops) if op.type == "ok" and op.value.get("signed") is not True]


def lineage_violations(ops: Iterable[Operation]) -> list[Operation]:
    """Emitted events and decisions without a valid UUIDv7 ``lineage_id`` (SEC-LINEAGE-UUIDV7)."""
    bad = []
    for op in ops:
        if op.f == "event":
            payload = op.value.get("payload")
            inner = payload.get("lineage_id") if isinstance(payload, dict) else None
            if not (is_uuid7(op.value.get("lineage_id")) and inner == op.value.get("lineage_id")):
                bad.append(op)
        elif op.f == "control_admit" and op.type in ("ok", "fail") and not is_uuid7(op.value.get("lineage_id")):
            bad.append(op)
    return bad


def lineage_order_violations(ids: Sequence[str]) -> list[tuple[int, str, str]]:
    """Positions where an id minted later does not sort after the one before (monotonic within a ms)."""
    return [(i, ids[i - 1], ids[i]) for i in range(1, len(ids)) if not ids[i] > ids[i - 1]]


@dataclass(frozen=True, slots=True)
class ReplayTally:
    attempts: int
    rejected: int
    admitted: tuple[Operation, ...]  # replays that got through: the counterexamples

    @property
    def ratio(self) -> float | None:
        return None if self.attempts == 0 else self.rejected / self.attempts


def replay_tally(ops: Iterable[Operation]) -> ReplayTally:
    """Replays are attempts whose (author, nonce) was admitted earlier in the history; count how many were refused.

    Only attempts that got as far as the replay defences count (not those dropped by the bucket, the cap or a
    signature failure, which say nothing about replay protection).
    """
    admitted_keys: set[tuple[str, int]] = set()
    attempts = rejected = 0
    through: list[Operation] = []
    for op in decisions(ops):
        author, nonce = op.value.get("author"), op.value.get("nonce")
        if author is None or nonce is None:
            continue
        key = (str(author), int(nonce))
        if key in admitted_keys:
            reason = op.value.get("reason")
            if op.type == "ok":
                attempts += 1
                through.append(op)
            elif reason in REPLAY_REASONS:
                attempts += 1
                rejected += 1
        elif op.type == "ok":
            admitted_keys.add(key)
    return ReplayTally(attempts, rejected, tuple(through))


def event_count_mismatch(ops: Sequence[Operation], reasons: frozenset[str], event_name: str) -> tuple[int, int]:
    """(rejections with one of ``reasons``, events named ``event_name``): a drop without its event is silent."""
    dropped = sum(1 for op in decisions(ops) if op.type == "fail" and op.value.get("reason") in reasons)
    return dropped, len(events(ops, event_name))


def quarantine_changes(ops: Iterable[Operation], node: str) -> list[Operation]:
    return [op for op in events(ops, "security.quarantine") if op.value.get("payload", {}).get("node") == node]


def first_sig_failure(ops: Iterable[Operation], node: str) -> Operation | None:
    for op in decisions(ops):
        if op.type == "fail" and op.value.get("node") == node and op.value.get("reason") in SIG_FAILURE_REASONS:
            return op
    return None


# -- registered history checkers (kind "security"): what can be judged from a history alone -------------------
# Scenarios list these ids; ``spine check`` runs them offline. The drill-based SEC-* gates
# (pytest_spine/gates/security.py) add what a history cannot show (exact bucket counts, memory bound, scans).

_READS = ("control_admit", "event")
QUARANTINE_REACTION_MAX_S = 60.0


def _verdict(check_id: str, ok: bool, reason: str, *bad: Operation) -> Verdict:
    return Verdict(check_id, "security", Status.PASS if ok else Status.FAIL, reason,
                   counterexample=counterexample(*bad))


def _no_decisions(check_id: str) -> Verdict:
    return Verdict(check_id, "security", Status.NOT_APPLICABLE,
                   "the history holds no control_admit decisions of a security layer")


@invariant("SEC-UNSIGNED-REJECTED", kind="security", reads=_READS, title="No unsigned control message admitted")
def check_unsigned(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    if not decisions(ops):
        return _no_decisions("SEC-UNSIGNED-REJECTED")
    leaked = unsigned_admitted(ops)
    return _verdict("SEC-UNSIGNED-REJECTED", not leaked,
                    f"{len(leaked)} unsigned control message(s) admitted" if leaked else "0 unsigned admitted",
                    *leaked)


@invariant("SEC-SIG-TAMPER", kind="security", reads=_READS, title="Every signature failure is counted by an event")
def check_sig_events(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    if not decisions(ops):
        return _no_decisions("SEC-SIG-TAMPER")
    dropped, emitted = event_count_mismatch(ops, SIG_FAILURE_REASONS, "security.sig_fail")
    return _verdict("SEC-SIG-TAMPER", dropped == emitted,
                    f"{dropped} signature failures, {emitted} security.sig_fail events")


@invariant("SEC-REPLAY-REJECT", kind="security", reads=_READS, title=">= 99.9 % of replays rejected")
def check_replays(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    tally = replay_tally(ops)
    if tally.ratio is None:
        return Verdict("SEC-REPLAY-REJECT", "security", Status.NOT_APPLICABLE,
                       "no replay was attempted in this history (no admitted (author, nonce) came again)")
    dropped, emitted = event_count_mismatch(ops, REPLAY_REASONS, "security.replay_drop")
    ok = tally.ratio >= 0.999 and dropped == emitted
    return _verdict("SEC-REPLAY-REJECT", ok, f"{tally.rejected}/{tally.attempts} replays rejected "
                    f"({tally.ratio:.4%}); {dropped} replay drops, {emitted} replay_drop events", *tally.admitted)


@invariant("SEC-NONCE-HWM", kind="security", reads=_READS, title="No (author, nonce) admitted twice")
def check_nonce_reuse(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    made = decisions(ops)
    if not made:
        return _no_decisions("SEC-NONCE-HWM")
    seen: dict[tuple[str, int], Operation] = {}
    twice: list[Operation] = []
    for op in made:
        author, nonce = op.value.get("author"), op.value.get("nonce")
        if op.type != "ok" or author is None or nonce is None or op.value.get("reason") == "insecure_mode":
            continue
        key = (str(author), int(nonce))
        if key in seen:
            twice.extend((seen[key], op))
        seen.setdefault(key, op)
    return _verdict("SEC-NONCE-HWM", not twice, f"{len(twice) // 2} nonce(s) admitted twice" if twice
                    else f"{len(seen)} admitted nonces, none twice", *twice)


@invariant("SEC-RATE-LIMIT", kind="security", reads=_READS, title="Every rate drop emits flow.rate.drop")
def check_rate_events(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    if not decisions(ops):
        return _no_decisions("SEC-RATE-LIMIT")
    dropped, emitted = event_count_mismatch(ops, frozenset({"rate_limited"}), "flow.rate.drop")
    return _verdict("SEC-RATE-LIMIT", dropped == emitted, f"{dropped} rate drops, {emitted} flow.rate.drop events")


@invariant("SEC-PAYLOAD-CAP", kind="security", reads=_READS, title="Every rejection has a reason and a diagnostic")
def check_diagnostics(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    made = decisions(ops)
    if not made:
        return _no_decisions("SEC-PAYLOAD-CAP")
    bad = [op for op in made if op.type == "fail" and (op.value.get("reason") in (None, "", "internal_error")
                                                       or not op.value.get("detail"))]
    return _verdict("SEC-PAYLOAD-CAP", not bad, f"{len(bad)} rejection(s) crashed or lack a diagnostic" if bad
                    else f"{len(made)} decisions, every rejection with a reason and a diagnostic", *bad)


@invariant("SEC-QUARANTINE-REACTION", kind="security", reads=_READS,
           title="More than 3 sig failures/s on a node lead to a quarantine within 60 s")
def check_quarantine(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    threshold = int(ctx.options.get("quarantine_threshold", 3))
    window = float(ctx.options.get("quarantine_window_s", 1.0))
    failures: dict[str, list[Operation]] = {}
    for op in decisions(ops):
        if op.type == "fail" and op.value.get("reason") in SIG_FAILURE_REASONS:
            failures.setdefault(str(op.value.get("node")), []).append(op)
    late: list[Operation] = []
    patterns = 0
    for node, fails in failures.items():
        start = next((fails[i] for i in range(len(fails) - threshold)
                      if fails[i + threshold].time - fails[i].time < window), None)
        if start is None:
            continue
        patterns += 1
        entered = [op for op in quarantine_changes(ops, node)
                   if op.value["payload"].get("state") == "quarantined" and op.time >= start.time]
        if not entered or entered[0].time - start.time >= QUARANTINE_REACTION_MAX_S:
            late.append(start)
    if patterns == 0:
        return Verdict("SEC-QUARANTINE-REACTION", "security", Status.NOT_APPLICABLE,
                       f"no node had more than {threshold} signature failures within {window} s")
    return _verdict("SEC-QUARANTINE-REACTION", not late, f"{len(late)} of {patterns} malicious pattern(s) not "
                    f"quarantined within {QUARANTINE_REACTION_MAX_S:.0f} s" if late
                    else f"{patterns} malicious pattern(s), each quarantined within "
                         f"{QUARANTINE_REACTION_MAX_S:.0f} s", *late)


@invariant("SEC-INSECURE-FLAG", kind="security", reads=_READS, title="Insecure admissions follow the loud event")
def check_insecure_loud(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = list(ops)
    insecure = [op for op in decisions(ops) if op.value.get("reason") == "insecure_mode"]
    if not insecure:
        return Verdict("SEC-INSECURE-FLAG", "security", Status.NOT_APPLICABLE,
                       "no admission in insecure mode in this history")
    announced = events(ops, "security.insecure_mode")
    silent = [op for op in insecure if not any(e.index < op.index for e in announced)]
    return _verdict("SEC-INSECURE-FLAG", not silent, f"{len(silent)} insecure admission(s) before any "
                    "security.insecure_mode event" if silent else
                    f"{len(insecure)} insecure admissions, announced by {len(announced)} event(s)", *silent[:1])


@invariant("SEC-LINEAGE-UUIDV7", kind="security", reads=_READS, title="Every security event carries UUIDv7 lineage")
def check_lineage(ops: Iterable[Operation], ctx: CheckContext) -> Verdict:
    ops = [op for op in ops if op.f == "control_admit" or op.process == "security"]
    if not ops:
        return _no_decisions("SEC-LINEAGE-UUIDV7")
    bad = lineage_violations(ops)
    return _verdict("SEC-LINEAGE-UUIDV7", not bad, f"{len(bad)} operation(s) without a valid UUIDv7 lineage id"
                    if bad else f"{len(ops)} security operations, all with UUIDv7 lineage", *bad)
