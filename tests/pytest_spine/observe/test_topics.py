"""The read loop's value decoding: JSON values become their objects, anything else a named error, never an
exception out of the read."""

from __future__ import annotations

import pytest

from pytest_spine.observe.topics import MAX_VALUE_BYTES, _decode


@pytest.mark.parametrize(("raw", "value", "error"), [
    (b'{"a": 1}', {"a": 1}, None),
    (b"[1, 2]", [1, 2], None),
    (b"{", None, "not JSON: JSONDecodeError"),
    (b'{"a":"\xff"}', None, "not JSON: UnicodeDecodeError"),
    (None, None, "no value"),
    (b"1" * (MAX_VALUE_BYTES + 1), None, f"value of {MAX_VALUE_BYTES + 1} bytes over the {MAX_VALUE_BYTES}-byte cap"),
])
def test_decode(raw: bytes | None, value: object, error: str | None) -> None:
    assert _decode(raw) == (value, error)
