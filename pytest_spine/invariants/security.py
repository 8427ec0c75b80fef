"""Security invariants over a recorded History (the ``control_admit`` and ``event`` operations the security layer
records, see ``reference_impl/security/gate.py`` and ``docs/security.md``).

Every function reads operations only; none trusts a counter the system under test reports about itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_spine.history import Operation

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
