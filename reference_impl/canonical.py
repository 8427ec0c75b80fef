"""Canonical encodings and digests: every fingerprint, id and payload hash of the platform is computed
here, so the same bytes always give the same digest in every component."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every digest is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def digest_of(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))


def derive_id(*parts: object, length: int = 32) -> str:
    """A deterministic id from its parts (joined by '|'), so a retry or rerun gets the same id."""
    return sha256_hex("|".join(str(p) for p in parts))[:length]


def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 UTC with microseconds and a Z (the form evidence files use)."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
