"""SEC-NO-SECRETS-IN-EVIDENCE: plant canary secrets, then search every written file for them.

A canary is looked for in every form a careless writer could give it: raw, hex, base64 and base64url (at each
of the three byte alignments, so it is found inside a longer encoded blob), percent-encoded and JSON
``\\u``-escaped; gzip files are searched both as stored and decompressed. A leak names the file, the canary's
index and the form, never the secret itself. A file that cannot be read is reported too: absence of a secret
cannot be shown in a file nobody read.
"""

from __future__ import annotations

import base64
import gzip
import os
import urllib.parse
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Leak:
    path: str
    canary: int   # index into the planted canaries; the value itself is never reported
    form: str


@dataclass(frozen=True, slots=True)
class ScanReport:
    files_scanned: int
    bytes_scanned: int
    canaries: int
    leaks: tuple[Leak, ...]
    unreadable: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.leaks and not self.unreadable


def canary_forms(secret: str) -> dict[str, bytes]:
    raw = secret.encode("utf-8")
    forms = {
        "raw": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "percent": urllib.parse.quote(secret, safe="").encode(),
        "json_escaped": "".join(f"\\u{ord(c):04x}" for c in secret).encode(),
    }
    for name, encoder in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for shift in range(3):
            encoded = encoder(b"\0" * shift + raw)
            # Drop the characters that mix in the neighbouring bytes: what is left appears whatever surrounds it.
            head = (shift * 4 + 2) // 3
            core = encoded[head: len(encoded) - 4].rstrip(b"=")
            if len(core) >= 12:
                forms[f"{name}@{shift}"] = core
    return {name: form for name, form in forms.items() if form}


def _files(roots: Iterable[Path]) -> Iterable[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            for folder, _dirs, names in os.walk(root):
                for name in sorted(names):
                    yield Path(folder) / name


def scan(roots: Iterable[Path], canaries: Sequence[str]) -> ScanReport:
    """Search every file under ``roots`` (evidence dirs, log files, reports) for every canary form."""
    planted = [canary_forms(c) for c in canaries if c]
    leaks: list[Leak] = []
    unreadable: list[str] = []
    files = total = 0
    for path in _files(roots):
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                unreadable.append(f"{path}: {size} bytes is over the scan limit of {MAX_FILE_BYTES}")
                continue
            data = path.read_bytes()
        except OSError as bad:
            unreadable.append(f"{path}: {bad.strerror or bad}")
            continue
        files += 1
        total += len(data)
        views = [("", data)]
        if data[:2] == b"\x1f\x8b":
            try:
                views.append(("gunzip:", gzip.decompress(data)))
            except (OSError, EOFError, zlib.error) as bad:
                unreadable.append(f"{path}: a gzip file that does not decompress ({bad})")
        for index, forms in enumerate(planted):
            for prefix, view in views:
                for form_name, form in forms.items():
                    if form in view:
                        leaks.append(Leak(str(path), index, prefix + form_name))
                        break
    return ScanReport(files, total, len(planted), tuple(leaks), tuple(unreadable))
