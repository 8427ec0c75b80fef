"""A small JSON-over-HTTP client with a timeout on every call and one keep-alive connection per thread."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit


class Client:
    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout_s = timeout_s
        self.local = threading.local()
        self.lock = threading.Lock()
        self.connections: list[http.client.HTTPConnection] = []

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self.local.conn = conn
            with self.lock:
                self.connections.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, decoded JSON body or None); raises OSError/HTTPException when no answer came."""
        conn = self._conn()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            conn.request(method, path, body=body, headers=all_headers)
            answer = conn.getresponse()
            data = answer.read()
            if answer.getheader("Connection", "").lower() == "close":
                self._drop()
        except (OSError, http.client.HTTPException):
            self._drop()
            raise
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = None
        return answer.status, decoded

    def post_json(self, path: str, document: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.request("POST", path, json.dumps(document).encode(), headers)

    def close(self) -> None:
        with self.lock:
            for conn in self.connections:
                conn.close()
            self.connections.clear()
