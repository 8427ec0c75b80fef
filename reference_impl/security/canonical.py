"""The canonical wire encoding of signed control messages, and a parser that rejects everything else.

Encoding (version 1), documented in ``docs/security.md``:

* a message is one JSON object, UTF-8, keys sorted by code point, no whitespace between tokens
  (``separators=(",", ":")``), non-ASCII characters written as themselves (no ``\\u`` escapes), integers only
  (no floats, no NaN/Infinity), no duplicate keys, nesting at most ``max_depth`` deep;
* required fields: ``v`` (= 1), ``author`` (non-empty string), ``nonce`` (integer 0 .. 2**64-1),
  ``ts_ms`` (integer epoch milliseconds), ``kind`` (string), ``payload`` (object), ``sig`` (lowercase hex of the
  64-byte Ed25519 signature);
* the signed bytes are ``b"spine-sec-v1\\n" + canonical(message without "sig")``: a domain prefix so a
  signature over anything else never verifies here.

A received message is accepted as canonical only if re-encoding the parsed object gives back exactly the
received bytes; that closes every ambiguity a verifier and a signer could disagree on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOMAIN = b"spine-sec-v1\n"
SIG_HEX_LEN = 128  # 64 bytes
REQUIRED = ("author", "kind", "nonce", "payload", "sig", "ts_ms", "v")
MAX_U64 = 2**64 - 1


class Rejected(Exception):
    """A message cannot be admitted; ``reason`` is the counted rejection reason, ``detail`` the diagnostic."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True, slots=True)
class Envelope:
    author: str
    nonce: int
    ts_ms: int
    kind: str
    payload: Mapping[str, Any]
    sig: str | None
    signed_bytes: bytes


def encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def signed_bytes(document: Mapping[str, Any]) -> bytes:
    return DOMAIN + encode({k: v for k, v in document.items() if k != "sig"})


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise Rejected("non_canonical", f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_float(text: str) -> Any:
    raise Rejected("non_canonical", f"floating-point number {text[:40]!r}; the encoding allows integers only")


def _no_constant(text: str) -> Any:
    raise Rejected("non_canonical", f"{text} is not JSON")


def _depth(value: Any, limit: int) -> int:
    # Iterative, so a deep document cannot exhaust the interpreter stack while being measured.
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return deepest


def parse(data: bytes, max_depth: int = 32) -> Envelope:
    """Decode one wire message or raise ``Rejected`` with a counted reason; never anything else."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as bad:
        raise Rejected("invalid_utf8", f"byte {bad.start} ({data[bad.start:bad.start + 1]!r}) is not UTF-8") \
            from None
    # The bracket count bounds nesting before the parser recurses: a 64 KiB "[[[[..." never reaches it.
    if text.count("[") + text.count("{") > max_depth and _bracket_depth(text) > max_depth:
        raise Rejected("too_deep", f"nesting deeper than {max_depth}")
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_no_float,
                              parse_constant=_no_constant)
    except Rejected:
        raise
    except RecursionError:
        raise Rejected("too_deep", f"nesting deeper than {max_depth}") from None
    except (json.JSONDecodeError, ValueError) as bad:
        raise Rejected("malformed", f"not JSON: {str(bad)[:120]}") from None
    if not isinstance(document, dict):
        raise Rejected("malformed", f"a message is a JSON object, given: {type(document).__name__}")
    if _depth(document, max_depth) > max_depth:
        raise Rejected("too_deep", f"nesting deeper than {max_depth}")
    try:
        again = encode(document)
    except (UnicodeEncodeError, ValueError) as bad:
        raise Rejected("invalid_utf8", f"lone surrogate or unencodable text: {str(bad)[:120]}") from None
    if again != data:
        raise Rejected("non_canonical", "the bytes differ from the canonical encoding (key order, whitespace "
                                        "or escapes); sign and send canonical(message)")
    return _envelope(document)


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _envelope(document: dict[str, Any]) -> Envelope:
    # Unsigned is not a parse error: the gate rejects it under its own counted reason (SEC-UNSIGNED-REJECTED).
    unsigned = document.get("sig") in (None, "")
    missing = [name for name in REQUIRED if name not in document and not (name == "sig" and unsigned)]
    if missing:
        raise Rejected("missing_field", f"required field(s) {', '.join(missing)} absent")
    extra = sorted(set(document) - set(REQUIRED))
    if extra:
        raise Rejected("unknown_field", f"field(s) {', '.join(extra)} are not part of version 1")
    if document["v"] != 1 or isinstance(document["v"], bool):
        raise Rejected("bad_version", f"v must be 1, given: {document['v']!r}")
    author, kind, payload = document["author"], document["kind"], document["payload"]
    if not isinstance(author, str) or not author or len(author) > 256:
        raise Rejected("bad_field", f"author must be a non-empty string of at most 256 characters, given: "
                                    f"{str(author)[:40]!r}")
    if not isinstance(kind, str) or not kind:
        raise Rejected("bad_field", f"kind must be a non-empty string, given: {str(kind)[:40]!r}")
    if not isinstance(payload, dict):
        raise Rejected("bad_field", f"payload must be an object, given: {type(payload).__name__}")
    nonce = document["nonce"]
    if not isinstance(nonce, int) or isinstance(nonce, bool):
        raise Rejected("bad_nonce", f"nonce must be an integer, given: {str(nonce)[:40]!r}")
    if nonce < 0 or nonce > MAX_U64:
        raise Rejected("bad_nonce", f"nonce must be an unsigned 64-bit integer, given: {str(nonce)[:40]}")
    ts_ms = document["ts_ms"]
    if not isinstance(ts_ms, int) or isinstance(ts_ms, bool) or not 0 <= ts_ms <= MAX_U64:
        raise Rejected("bad_field", f"ts_ms must be a non-negative integer, given: {str(ts_ms)[:40]!r}")
    if unsigned:
        return Envelope(author, nonce, ts_ms, kind, payload, None, signed_bytes(document))
    sig = document["sig"]
    if not isinstance(sig, str):
        raise Rejected("bad_signature_encoding", f"sig must be a hex string, given: {type(sig).__name__}")
    if len(sig) < SIG_HEX_LEN:
        raise Rejected("truncated_signature", f"sig has {len(sig)} hex digits, an Ed25519 signature has "
                                              f"{SIG_HEX_LEN}")
    if len(sig) > SIG_HEX_LEN or any(c not in "0123456789abcdef" for c in sig):
        raise Rejected("bad_signature_encoding", f"sig must be {SIG_HEX_LEN} lowercase hex digits")
    return Envelope(author, nonce, ts_ms, kind, payload, sig, signed_bytes(document))
