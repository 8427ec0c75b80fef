"""A configurable detector of raw PII and tokens in event payloads (seed 004 G1: "no raw PII and no raw
tokens in emitted payloads").

Detectors are regular expressions (with an optional Luhn check for card numbers). Canaries are samples
that each detector must catch: ``self_test`` proves the detector can fail before it is trusted to pass,
and the canary values themselves are flagged wherever they appear (a harness plants them in inputs; they
must never come back out in telemetry). Findings never quote the secret: only a masked preview.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_spine.errors import SpineError

DEFAULT_DETECTORS: tuple[tuple[str, str, str], ...] = (
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "none"),
    ("jwt", r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", "none"),
    ("bearer_token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*", "none"),
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "none"),
    ("api_token", r"\b(?:sk_live|sk_test|ghp|gho|xox[abp]|glpat)[_-][A-Za-z0-9_-]{16,}\b", "none"),
    ("private_key", r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----", "none"),
    ("card_number", r"\b(?:\d[ -]?){13,19}\b", "luhn"),
    ("us_ssn", r"\b\d{3}-\d{2}-\d{4}\b", "none"),
)
DEFAULT_CANARIES: tuple[tuple[str, str], ...] = (
    ("email", "spine.canary.user@example.org"),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzcGluZS1jYW5hcnkifQ.c3BpbmVjYW5hcnlzaWduYXR1cmU"),
    ("bearer_token", "Bearer spinecanarytoken0123456789abcdef"),
    ("aws_access_key", "AKIASPINECANARY00001"),
    ("api_token", "sk_live_spinecanary0123456789ab"),
    ("private_key", "-----BEGIN PRIVATE KEY-----"),
    ("card_number", "4111 1111 1111 1111"),
    ("us_ssn", "078-05-1120"),
)


# No default detector matches fewer characters than this (an e-mail needs a@b.cc); shorter strings skip
# the scan. Custom detectors with shorter matches still meet their canaries in self_test.
_SHORTEST_MATCH = 6


class DetectorError(SpineError):
    """The PII detector is misconfigured: a canary it cannot catch means it could never fail."""


@dataclass(frozen=True, slots=True)
class PiiFinding:
    detector: str
    path: str  # JSON path inside the event, e.g. payload/user/email
    preview: str  # masked: never the raw value

    def to_json(self) -> dict[str, str]:
        return {"detector": self.detector, "path": self.path, "preview": self.preview}


_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")


def _combine(regexes: Sequence[str]) -> re.Pattern[str] | None:
    """The detectors as one alternation of named groups (one pass per string instead of one per detector),
    or None when they cannot be combined faithfully (back-references would renumber)."""
    parts = []
    for i, regex in enumerate(regexes):
        if _BACKREFERENCE.search(regex):
            return None
        flags = _LEADING_FLAGS.match(regex)
        if flags:  # a global flag must become a scoped one inside an alternation
            regex = f"(?{flags.group(1)}:{regex[flags.end():]})"
        parts.append(f"(?P<d{i}>{regex})")
    try:
        return re.compile("|".join(parts))
    except re.error:
        return None


def _luhn(digits: str) -> bool:
    numbers = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(numbers)):
        if i % 2 == 1:
            n = n * 2 - 9 if n * 2 > 9 else n * 2
        total += n
    return total % 10 == 0


def mask(value: str) -> str:
    """Enough to find the value again in the source, never enough to use it."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:2]}{'*' * min(len(value) - 4, 12)}{value[-2:]}"


class PiiDetector:
    def __init__(
        self,
        detectors: Sequence[tuple[str, str, str]] = DEFAULT_DETECTORS,
        canaries: Sequence[tuple[str, str]] = DEFAULT_CANARIES,
        allow_keys: Sequence[str] = (),
    ) -> None:
        self._detectors = [(name, re.compile(regex), check) for name, regex, check in detectors]
        self._combined = _combine([regex for _, regex, _ in detectors])
        self._canaries = list(canaries)
        self._allow = frozenset(k.lower() for k in allow_keys)
        names = {name for name, _, _ in self._detectors}
        for detector, _sample in self._canaries:
            if detector not in names:
                raise DetectorError(f"canary names detector {detector!r}, which is not configured "
                                    f"(configured: {sorted(names)}); fix the canary or add the detector")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> PiiDetector:
        """From a taxonomy's ``pii`` section; an absent section means the defaults."""
        config = config or {}
        detectors = [(d["id"], d["regex"], d.get("check", "none")) for d in config.get("detectors", ())] \
            or list(DEFAULT_DETECTORS)
        canaries = [(c["detector"], c["sample"]) for c in config.get("canaries", ())] or list(DEFAULT_CANARIES)
        return cls(detectors, canaries, config.get("allow_keys", ()))

    @property
    def canary_values(self) -> tuple[str, ...]:
        return tuple(sample for _, sample in self._canaries)

    def self_test(self) -> None:
        """Every canary must be caught by its detector; otherwise the check could never fail."""
        for detector, sample in self._canaries:
            caught = {f.detector for f in self.scan_text(sample, "canary")}
            if detector not in caught:
                raise DetectorError(f"the PII detector {detector!r} does not catch its canary {mask(sample)!r}: "
                                    "its pattern is broken, so TEL-NO-PII could never fail; fix the regex")

    def scan_text(self, text: str, path: str) -> list[PiiFinding]:
        found: list[PiiFinding] = []
        if len(text) < _SHORTEST_MATCH:
            return found
        if self._combined is None:
            found.extend(self._scan_each(text, path, skip=-1))
            return self._with_canaries(found, text, path)
        for match in self._combined.finditer(text):
            index = int(str(match.lastgroup)[1:])
            name, _regex, check = self._detectors[index]
            if check == "luhn" and not _luhn(match.group(0)):
                # A digit run that fails Luhn may still hide another detector's match (an SSN, say).
                found.extend(self._scan_each(match.group(0), path, skip=index))
                continue
            found.append(PiiFinding(name, path, mask(match.group(0))))
        return self._with_canaries(found, text, path)

    def _with_canaries(self, found: list[PiiFinding], text: str, path: str) -> list[PiiFinding]:
        for detector, sample in self._canaries:
            if sample in text and not any(f.detector == detector for f in found):
                found.append(PiiFinding(f"canary:{detector}", path, mask(sample)))
        return found

    def _scan_each(self, text: str, path: str, skip: int) -> list[PiiFinding]:
        found = []
        for i, (name, regex, check) in enumerate(self._detectors):
            if i == skip:
                continue
            for match in regex.finditer(text):
                if check != "luhn" or _luhn(match.group(0)):
                    found.append(PiiFinding(name, path, mask(match.group(0))))
        return found

    def scan(self, value: Any, path: str = "payload") -> list[PiiFinding]:
        """Walk a JSON value; keys on the allow list are skipped (e.g. a hashed e-mail field)."""
        strings: list[str] = []
        self._strings(value, strings)
        # Almost every payload is clean: one pass over all its strings (NUL-joined, which no detector spans)
        # decides that; only a hit pays for the walk that names the place.
        blob = "\x00".join(strings)
        hit = (self._combined.search(blob) is not None) if self._combined is not None else True
        if not hit and not any(sample in blob for sample in self.canary_values):
            return []
        return list(self._walk(value, path))

    def _strings(self, value: Any, out: list[str]) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                if str(key).lower() not in self._allow:
                    out.append(str(key))
                    self._strings(inner, out)
        elif isinstance(value, list | tuple):
            for inner in value:
                self._strings(inner, out)

    def _walk(self, value: Any, path: str) -> Iterator[PiiFinding]:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if str(key).lower() in self._allow:
                    continue
                yield from self.scan_text(str(key), f"{path}/{key}(key)")
                yield from self._walk(inner, f"{path}/{key}")
        elif isinstance(value, list | tuple):
            for i, inner in enumerate(value):
                yield from self._walk(inner, f"{path}/{i}")
        elif isinstance(value, str):
            yield from self.scan_text(value, path)
