"""Small helpers shared by every miniplat process: canonical JSON, digests, UTC stamps, logging."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import sys
from typing import Any


def canonical(value: Any) -> bytes:
    """The contract's canonical JSON: sorted keys, no blanks, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def payload_hash(payload: Any) -> str:
    return sha256_hex(canonical(payload))


def utc_now() -> str:
    """RFC 3339 with microseconds and a Z suffix."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(component: str, message: str) -> None:
    print(f"{utc_now()} [{component}] {message}", file=sys.stderr, flush=True)
