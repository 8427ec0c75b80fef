"""The ingest envelope of the contract (schemas/platform/ingest_envelope.schema.json) and its payload hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode("utf-8")


def payload_hash(payload: Any) -> str:
    """sha256 hex of the canonical JSON of the payload: the contract's definition, recomputed by the harness."""
    return hashlib.sha256(canonical_bytes(payload)).hexdigest()


def envelope(platform_run_id: str, event_class: str, event_id: str, payload: Mapping[str, Any],
             ts_utc: str) -> dict[str, Any]:
    return {"platform_run_id": platform_run_id, "event_class": event_class, "event_id": event_id,
            "ts_utc": ts_utc, "payload": dict(payload)}


def identity(document: Any) -> tuple[str, str, str] | None:
    """The dedupe tuple (platform_run_id, event_class, event_id) of an envelope or record value, if it has one."""
    if not isinstance(document, Mapping):
        return None
    parts = (document.get("platform_run_id"), document.get("event_class"), document.get("event_id"))
    if not all(isinstance(p, str) and p for p in parts):
        return None
    return (str(parts[0]), str(parts[1]), str(parts[2]))
