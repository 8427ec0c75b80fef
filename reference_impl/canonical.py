"""Canonical encodings and digests: every fingerprint, id and payload hash of the platform is computed
here, so the same bytes always give the same digest in every component."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from typing import Any

# One encoder for every call: json.dumps with options builds a new encoder each time (a hot path in IG).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every digest is taken over."""
    return _CANONICAL.encode(value)


def sha256_hex(data: str | bytes) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def digest_of(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return sha256_hex(canonical_json(value))


def derive_id(*parts: object, length: int = 32) -> str:
    """A deterministic id from its parts (joined by '|'), so a retry or rerun gets the same id."""
    return sha256_hex("|".join(str(p) for p in parts))[:length]


@functools.lru_cache(maxsize=1024)
def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 UTC with microseconds and a Z (the form evidence files use). Cached: an injected clock
    repeats instants and formatting dominates a gate's receipt when it does."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
