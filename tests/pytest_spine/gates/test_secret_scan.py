from __future__ import annotations

import base64
import gzip
import json
import urllib.parse
from pathlib import Path

import pytest

from pytest_spine.gates.secret_scan import canary_forms, scan

CANARY = "spine-canary-5f1d0c2e9a7b4c3d"


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"xyz"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_base64_is_found_at_every_alignment(tmp_path: Path, prefix: bytes, encode: object) -> None:
    blob = encode(prefix + CANARY.encode() + b"-suffix")  # type: ignore[operator]
    (tmp_path / "f.txt").write_bytes(b"data=" + blob)
    assert len(scan([tmp_path], [CANARY]).leaks) == 1


@pytest.mark.parametrize("form", [
    CANARY.encode(), CANARY.encode().hex().encode(), urllib.parse.quote(CANARY).encode(),
    json.dumps(CANARY, ensure_ascii=True).encode(),
    "".join(f"\\u{ord(c):04x}" for c in CANARY).encode(),
])
def test_plain_hex_percent_and_escaped_forms_are_found(tmp_path: Path, form: bytes) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "log.txt").write_bytes(b"before " + form + b" after")
    report = scan([tmp_path], ["other-canary-000000", CANARY])
    assert [(Path(leak.path).name, leak.canary) for leak in report.leaks] == [("log.txt", 1)]
    assert CANARY not in repr(report)  # a leak report never repeats the secret


def test_gzip_files_are_searched_decompressed(tmp_path: Path) -> None:
    (tmp_path / "history.jsonl.gz").write_bytes(gzip.compress(json.dumps({"k": CANARY}).encode()))
    [leak] = scan([tmp_path], [CANARY]).leaks
    assert leak.form == "gunzip:raw"


def test_clean_tree_counts_what_it_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"ok": true}')
    (tmp_path / "b.log").write_text("nothing here")
    report = scan([tmp_path, tmp_path / "missing"], [CANARY])
    assert (report.files_scanned, report.canaries, report.leaks, report.clean) == (2, 1, (), True)


def test_a_broken_gzip_is_reported_unreadable(tmp_path: Path) -> None:
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    report = scan([tmp_path], [CANARY])
    assert not report.clean and "does not decompress" in report.unreadable[0]


def test_every_form_is_long_enough_to_be_specific() -> None:
    assert all(len(form) >= 12 for form in canary_forms(CANARY).values())
