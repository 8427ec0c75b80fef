"""The harness's HTTP client of a gate: each send is an ``ingest`` invoke then ok / fail / info, decided by what
came back, against a small in-test server that answers well, refuses, answers garbage or too slowly."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_spine.drive.envelope import envelope, payload_hash
from pytest_spine.drive.gate_client import GateClient
from pytest_spine.errors import ConfigError
from pytest_spine.history import History

KEY = "the-key"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, b'{"status": "ok", "platform_run_id": "run-1"}')

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Key") is None:
            self._answer(401, b'{"error": "no key"}')
            return
        if self.headers.get("X-Key") != KEY:
            self._answer(403, b'{"error": "wrong key"}')
            return
        document = json.loads(raw)
        mode = document["payload"].get("mode")
        if mode == "garbage":
            self._answer(200, b"<html>not json</html>")
        elif mode == "slow":
            time.sleep(1.5)
            self._answer(200, b'{"outcome": "ADMIT", "receipt_seq": 9}')
        elif mode == "unavailable":
            self._answer(503, b'{"error": "broker down"}')
        else:
            self._answer(200, json.dumps({"outcome": "ADMIT", "receipt_seq": 1, "partition": 0,
                                          "offset": 7}).encode())


@pytest.fixture
def gate_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _env(mode: str = "ok") -> dict[str, Any]:
    return envelope("run-1", "traffic_fraud", f"e-{mode}", {"flow_id": "f", "mode": mode}, "2026-01-01T00:00:00Z")


def test_each_send_is_an_invoke_and_its_completion(gate_url: str) -> None:
    history = History()
    client = GateClient(gate_url, "X-Key", KEY, timeout_s=0.5, recorder=history)
    try:
        assert client.health().kind == "ok"
        admitted = client.send(_env())
        no_key = client.send(_env("nokey"), key=None, drill="unauthenticated_ingest")
        wrong = client.send(_env("wrong"), key="nope")
        garbage = client.send(_env("garbage"))
        slow = client.send(_env("slow"))
        down = client.send(_env("unavailable"))
        after_slow = client.send(_env("again"))  # the connection the slow answer broke is replaced
    finally:
        client.close()
    assert (admitted.kind, admitted.outcome, admitted.receipt_seq) == ("ok", "ADMIT", 1)
    assert (no_key.kind, no_key.status_code) == ("fail", 401)
    assert (wrong.kind, wrong.status_code) == ("fail", 403)
    assert garbage.kind == "info" and "without a contract outcome" in str(garbage.error)  # may have been admitted
    assert slow.kind == "info" and "no answer within 0.5 s" in str(slow.error)  # the request left: unknown
    assert (down.kind, down.status_code, down.error) == ("fail", 503, "broker down")
    assert after_slow.kind == "ok"
    ops = [op for op in history.operations() if op.f == "ingest"]
    assert [op.type for op in ops] == ["invoke", "ok", "invoke", "fail", "invoke", "fail", "invoke", "info",
                                       "invoke", "info", "invoke", "fail", "invoke", "ok"]
    first = ops[0].value
    assert first["event_id"] == "e-ok" and first["payload_hash"] == payload_hash({"flow_id": "f", "mode": "ok"})
    assert ops[1].value["outcome"] == "ADMIT" and ops[1].value["offset"] == 7
    assert ops[2].value["key"] == "none" and ops[2].value["drill"] == "unauthenticated_ingest"
    assert all(KEY not in json.dumps(op.value) for op in ops)  # the key is never recorded


def test_an_unreachable_gate_fails_without_a_hang() -> None:
    history = History()
    client = GateClient("http://127.0.0.1:1", "X-Key", KEY, timeout_s=0.5, recorder=history)
    answer = client.send(_env())
    assert answer.kind == "fail" and "ConnectionRefused" in str(answer.error)  # nothing left: not admitted
    assert client.health().kind == "fail"


def test_a_bad_base_url_names_the_handle() -> None:
    with pytest.raises(ConfigError, match=r"IG_BASE_URL must be an http\(s\) URL .* given: 'ftp://x'"):
        GateClient("ftp://x", "X-Key", KEY)
