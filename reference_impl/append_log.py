"""Append-only logs: receipts, audit records, case timelines and label assertions.

Each entry's digest is remembered at append time, so ``verify()`` detects any in-place change, even one
a mutant let through. Rewrites are refused unless the owner was built with ``allow_rewrite`` (a mutant)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reference_impl.canonical import digest_of
from reference_impl.errors import AppendOnlyViolation


@dataclass(frozen=True, slots=True)
class AppendOnlyStatus:
    verified: bool
    rewrites_accepted: int
    rewrites_refused: int

    def to_json(self) -> dict[str, Any]:
        return {"verified": self.verified, "rewrites_accepted": self.rewrites_accepted,
                "rewrites_refused": self.rewrites_refused}


class AppendOnlyLog:
    def __init__(self, name: str, *, allow_rewrite: bool = False) -> None:
        self.name = name
        self._allow_rewrite = allow_rewrite
        self._entries: list[dict[str, Any]] = []
        self._digests: list[str] = []
        self._keys: dict[str, int] = {}
        self._rewrites_accepted = 0
        self._rewrites_refused = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, record: Mapping[str, Any], idempotency_key: str | None = None) -> int:
        """Append and return the new seq (1-based, strictly increasing)."""
        with self._lock:
            seq = len(self._entries) + 1
            entry = {**record, "seq": seq}
            self._entries.append(entry)
            self._digests.append(digest_of(entry))
            if idempotency_key is not None:
                self._keys.setdefault(idempotency_key, seq)
            return seq

    def seq_for(self, idempotency_key: str) -> int | None:
        with self._lock:
            return self._keys.get(idempotency_key)

    def rewrite(self, seq: int, record: Mapping[str, Any]) -> None:
        """An in-place update: refused (AppendOnlyViolation) unless the log was built to allow it."""
        with self._lock:
            if not 1 <= seq <= len(self._entries):
                raise AppendOnlyViolation(f"{self.name}: no entry with seq {seq} (have 1..{len(self._entries)})")
            if not self._allow_rewrite:
                self._rewrites_refused += 1
                raise AppendOnlyViolation(f"{self.name}: entry seq {seq} is append-only truth and may not be "
                                          "rewritten; append a correcting entry instead")
            self._entries[seq - 1] = {**record, "seq": seq}
            self._rewrites_accepted += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries]

    def status(self) -> AppendOnlyStatus:
        with self._lock:
            intact = all(digest_of(e) == d for e, d in zip(self._entries, self._digests, strict=True))
            ordered = all(e["seq"] == i + 1 for i, e in enumerate(self._entries))
            return AppendOnlyStatus(intact and ordered and self._rewrites_accepted == 0,
                                    self._rewrites_accepted, self._rewrites_refused)
