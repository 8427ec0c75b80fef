from __future__ import annotations

import json

import pytest

from reference_impl.security.canonical import DOMAIN, MAX_U64, Rejected, encode, parse, signed_bytes


def message(**over: object) -> dict[str, object]:
    base: dict[str, object] = {"v": 1, "author": "a", "nonce": 1, "ts_ms": 5, "kind": "k", "payload": {},
                               "sig": "ab" * 64}
    base.update(over)
    return base


def reason(data: bytes) -> str:
    with pytest.raises(Rejected) as caught:
        parse(data)
    return caught.value.reason


def test_canonical_message_parses_and_signed_bytes_exclude_the_signature() -> None:
    envelope = parse(encode(message()))
    assert (envelope.author, envelope.nonce, envelope.ts_ms, envelope.sig) == ("a", 1, 5, "ab" * 64)
    assert envelope.signed_bytes == DOMAIN + b'{"author":"a","kind":"k","nonce":1,"payload":{},"ts_ms":5,"v":1}'
    assert signed_bytes(message()) == envelope.signed_bytes


@pytest.mark.parametrize(("data", "expected"), [
    (b"\xff\xfe", "invalid_utf8"),
    (b"not json", "malformed"),
    (b"[1]", "malformed"),
    (json.dumps(message()).encode(), "non_canonical"),                      # spaces after separators
    (encode(message())[:-1] + b',"author":"b"}', "non_canonical"),          # duplicate key
    (encode(message(payload={"x": 1})).replace(b'"x":1', b'"x":1.5'), "non_canonical"),
    (encode(message(payload={"x": "\u00e9"})).replace("\u00e9".encode(), b"\\u00e9"), "non_canonical"),
    (encode(message(payload={"x": "\\ud800"})).replace(b"\\\\ud800", b"\\ud800"), "invalid_utf8"),
    (encode(message(nonce=-1)), "bad_nonce"),
    (encode(message(nonce=MAX_U64 + 1)), "bad_nonce"),
    (encode(message(nonce=True)), "bad_nonce"),
    (encode(message(nonce="1")), "bad_nonce"),
    (encode(message(sig="ab" * 10)), "truncated_signature"),
    (encode(message(sig="AB" * 64)), "bad_signature_encoding"),
    (encode(message(sig="ab" * 65)), "bad_signature_encoding"),
    (encode(message(v=2)), "bad_version"),
    (encode(message(extra=1)), "unknown_field"),
    (encode({k: v for k, v in message().items() if k != "author"}), "missing_field"),
    (encode(message(payload=[])), "bad_field"),
    (b"[" * 40 + b"]" * 40, "too_deep"),
    (encode(message(payload={"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})),
     "too_deep"),
])
def test_every_bad_encoding_is_rejected_with_its_counted_reason(data: bytes, expected: str) -> None:
    assert reason(data) == expected


def test_unsigned_message_parses_without_a_signature_for_the_gate_to_reject() -> None:
    assert parse(encode({k: v for k, v in message().items() if k != "sig"})).sig is None
    assert parse(encode(message(sig=""))).sig is None


def test_a_64_kib_bracket_bomb_is_refused_before_the_parser_recurses() -> None:
    assert reason(b"[" * 65_536) == "too_deep"
