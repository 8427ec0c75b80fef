"""The ingress boundary: an API key in ``X-IG-Api-Key``; none is 401, a wrong one 403 (SEC-AUTH-BOUNDARY)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

HEADER = "x-ig-api-key"


class IngressAuth:
    def __init__(self, api_keys: Iterable[str], *, open_boundary: bool = False, leak_keys: bool = False) -> None:
        self._keys = tuple(k.encode() for k in api_keys if k)
        self._open = open_boundary  # True only for the mutant auth_boundary_open
        self._leak = leak_keys      # True only for the mutant secret_in_evidence

    def authenticate(self, headers: Mapping[str, str]) -> tuple[int, str]:
        """(HTTP status, reason): 200 ok, 401 no key, 403 wrong key."""
        given = next((v for k, v in headers.items() if k.lower() == HEADER), None)
        if self._open:
            return 200, "ok"
        if not given:
            return 401, f"missing {HEADER} header"
        # compare_digest over every key: the time taken does not reveal how much of a key matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(key, given.encode())
        return (200, "ok") if matched else (403, f"{HEADER} does not match any accepted key")

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"header_name": HEADER, "accepted_key_count": len(self._keys)}
        if self._leak:
            facts["debug_dump"] = [k.decode() for k in self._keys]
        return facts
