"""Secrets never land in evidence: known secret values are masked wherever they appear, and values under
secret-looking keys are masked whatever they are."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "[REDACTED]"
SECRET_KEY_PATTERN = re.compile(
    r"(?i)(password|passwd|secret|api[_-]?key|token|authorization|credential|private[_-]?key|x-ig-api-key)"
)
# Keys that look secret but hold non-secret facts the contract needs (names of handles, booleans).
_NOT_SECRET_SUFFIXES = ("_path", "_name", "_status", "_check", "_header", "_present")


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, *secrets: str) -> None:
        """Teach the redactor a value that must never be written (keys, passwords, canaries)."""
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 6)

    @property
    def secrets(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def document(self, value: Any, key: str = "") -> Any:
        if isinstance(value, Mapping):
            return {str(k): self.document(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.document(v, key) for v in value]
        if isinstance(value, str):
            if _is_secret_key(key) and value:
                return MASK
            return self.text(value)
        return value

    def bytes(self, data: bytes) -> bytes:
        for secret in self.secrets:
            encoded = secret.encode()
            if encoded in data:
                data = data.replace(encoded, MASK.encode())
        return data


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if lowered.endswith(_NOT_SECRET_SUFFIXES) or lowered.startswith(("ssm_", "has_")):
        return False
    return bool(SECRET_KEY_PATTERN.search(key))
