"""The harness's HTTP client of an ingestion gate: it sends envelopes with (or, for a drill, without) the key
and records each send in the History as an ``ingest`` operation: ``invoke``, then ``ok`` (the gate answered
with an outcome), ``fail`` (it certainly did not admit: a 4xx/5xx refusal, or the request never left), or
``info`` (unknown: the request left and the answer did not come back readable in time).

One keep-alive ``http.client`` connection per thread: ``requests``/``urllib3`` would add a pool and retries
we must not have (a silent retry would hide a send from the history), and cost about a third of the rate.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pytest_spine.drive.envelope import canonical_bytes, identity, payload_hash
from pytest_spine.errors import ConfigError

MAX_ANSWER_BYTES = 1 << 20
IDLE_REOPEN_S = 2.0
OUTCOMES = frozenset({"ADMIT", "DUPLICATE", "QUARANTINE", "ANOMALY", "PUBLISH_AMBIGUOUS"})
Kind = Literal["ok", "fail", "info"]


class Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


class _Omitted:
    """The default key: the client's own. ``key=None`` sends no key header at all (a drill)."""


OWN_KEY = _Omitted()


@dataclass(frozen=True, slots=True)
class GateAnswer:
    kind: Kind
    status_code: int | None
    outcome: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    latency_s: float = 0.0

    @property
    def receipt_seq(self) -> Any:
        return self.body.get("receipt_seq")


class GateClient:
    def __init__(self, base_url: str, header_name: str, key: str | None, *, ingest_path: str = "/v1/ingest",
                 health_path: str = "/v1/ops/health", timeout_s: float = 5.0, recorder: Recorder | None = None,
                 process: str = "harness-driver") -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"IG_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080, given: "
                              f"{base_url!r}")
        self.base_url = base_url
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._base_path = parsed.path.rstrip("/")
        self.header_name = header_name
        self._key = key
        self.ingest_path = ingest_path
        self.health_path = health_path
        self.timeout_s = timeout_s
        self.recorder = recorder
        self.process = process
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ connections
    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout_s)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # ------------------------------------------------------------------ requests
    def _request(self, method: str, path: str, body: bytes | None,
                 headers: Mapping[str, str]) -> tuple[Kind, int | None, bytes, str | None]:
        """One request, never retried: a retry the history does not show would hide a send. A keep-alive
        connection idle for longer than servers usually keep one is reopened first instead."""
        if time.monotonic() - getattr(self._local, "used_at", 0.0) > IDLE_REOPEN_S:
            self._drop_connection()
        conn = self._connection()
        sent = False
        try:
            conn.request(method, self._base_path + path, body=body, headers=headers)  # never changed by it
            sent = True
            response = conn.getresponse()
            data = response.read(MAX_ANSWER_BYTES + 1)
            if len(data) > MAX_ANSWER_BYTES:
                self._drop_connection()
                return "info", response.status, b"", f"answer over {MAX_ANSWER_BYTES} bytes"
            if response.getheader("connection", "").lower() == "close":
                self._drop_connection()
            return "ok", response.status, data, None
        except TimeoutError:
            self._drop_connection()
            if sent:
                return "info", None, b"", f"no answer within {self.timeout_s} s"
            return "fail", None, b"", f"could not send within {self.timeout_s} s"
        except (OSError, http.client.HTTPException) as error:
            self._drop_connection()
            # Refused before anything left: certainly not admitted. After the request left: unknown.
            return ("info" if sent else "fail"), None, b"", f"{type(error).__name__}: {error}"
        finally:
            self._local.used_at = time.monotonic()

    def health(self) -> GateAnswer:
        started = time.perf_counter()
        kind, status, data, error = self._request("GET", self.health_path, None, {})
        body = _json_object(data)
        ok = kind == "ok" and status == 200
        return GateAnswer("ok" if ok else "fail", status, None, body or {}, error if not ok and error else
                          (None if ok else f"health answered {status}"), time.perf_counter() - started)

    def send(self, document: Mapping[str, Any] | bytes, *, key: str | _Omitted | None = OWN_KEY,
             process: str | None = None, drill: str | None = None) -> GateAnswer:
        """POST one envelope (a mapping, or raw bytes for a malformed one) and record it."""
        who = process or self.process
        raw = document if isinstance(document, bytes) else canonical_bytes(document)
        ident = identity(document) if not isinstance(document, bytes) else None
        value: dict[str, Any] = {"bytes": len(raw)}
        if ident is not None:
            value.update(platform_run_id=ident[0], event_class=ident[1], event_id=ident[2])
        if isinstance(document, Mapping) and "payload" in document:
            value["payload_hash"] = payload_hash(document["payload"])
        if drill:
            value["drill"] = drill
        headers = {"Content-Type": "application/json"}
        presented = self._key if isinstance(key, _Omitted) else key
        if presented is not None:
            headers[self.header_name] = presented
        value["key"] = "own" if isinstance(key, _Omitted) else ("none" if key is None else "other")
        self._record(who, "invoke", value)
        started = time.perf_counter()
        kind, status, data, error = self._request("POST", self.ingest_path, raw, headers)
        latency = time.perf_counter() - started
        answer = _classify(kind, status, data, error, latency)
        done = {**value, "status_code": answer.status_code, "latency_ms": round(latency * 1000, 3)}
        if answer.outcome is not None:
            done.update(outcome=answer.outcome, receipt_seq=answer.body.get("receipt_seq"),
                        partition=answer.body.get("partition"), offset=answer.body.get("offset"))
        if answer.error is not None:
            done["error"] = answer.error
        self._record(who, answer.kind, done)
        return answer

    def _record(self, process: str, type: str, value: Mapping[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.record(process, type, "ingest", **value)


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        loaded = json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _classify(kind: Kind, status: int | None, data: bytes, error: str | None, latency: float) -> GateAnswer:
    if kind != "ok" or status is None:
        return GateAnswer(kind, status, error=error, latency_s=latency)
    body = _json_object(data)
    if 200 <= status < 300:
        outcome = body.get("outcome") if body else None
        if outcome in OUTCOMES:
            return GateAnswer("ok", status, str(outcome), body or {}, latency_s=latency)
        # A success status without a readable outcome: the event may or may not have been admitted.
        return GateAnswer("info", status, None, body or {}, f"answer {status} without a contract outcome: "
                          f"{data[:200]!r}", latency)
    return GateAnswer("fail", status, None, body or {}, str((body or {}).get("error") or f"status {status}"),
                      latency)
