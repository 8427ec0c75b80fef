"""An ``IngestClient`` over HTTP: what a producer (WSP, a drill, the benchmark) uses to reach the gate
service. Every request has a timeout; a timeout after the request left is an unknown outcome (status 0)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from reference_impl.ig import IngestResponse

UNKNOWN_OUTCOME = 0  # no HTTP status: the request may or may not have been processed


class HttpIngestClient:
    def __init__(self, base_url: str, *, ingest_path: str = "/v1/ingest", timeout_s: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"the gate's base URL must be http://host:port, given: {base_url!r}")
        self.base_url = base_url
        self.host, self.port = parsed.hostname, parsed.port
        self.ingest_path = ingest_path
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """One request on a kept-alive connection; retried once on a stale connection, never after a timeout."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                               **dict(headers or {})})
                response = conn.getresponse()
                raw = response.read()
            except TimeoutError:
                self.close()
                raise
            except (ConnectionError, http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, raw.decode(errors="replace")
        raise AssertionError("unreachable")

    def send(self, headers: Mapping[str, str], envelope: Mapping[str, Any]) -> IngestResponse:
        body = json.dumps(dict(envelope) if isinstance(envelope, Mapping) else envelope).encode()
        try:
            status, answer = self.request("POST", self.ingest_path, body, headers)
        except TimeoutError:
            return IngestResponse(UNKNOWN_OUTCOME, error=f"no answer from {self.base_url} within "
                                                         f"{self.timeout_s}s (outcome unknown)")
        except OSError as error:
            return IngestResponse(503, error=f"gate at {self.base_url} unreachable: {error}")
        if not isinstance(answer, dict):
            return IngestResponse(status, error=str(answer))
        return IngestResponse(status, answer.get("outcome"), answer.get("receipt_seq"), answer.get("error"),
                              answer.get("partition"), answer.get("offset"))

    def health(self, path: str = "/v1/ops/health") -> tuple[int, Any]:
        return self.request("GET", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
