"""The ingestion gate: an HTTP service that authenticates, run-scopes, dedupes and publishes envelopes.

Each answer that carries a receipt writes one receipt object (write-once). The dedupe identity is
``(platform_run_id, event_class, event_id)``; its table lives in memory and is rebuilt from the event-class
topics when the gate starts, so a restarted gate never publishes a tuple twice. Nothing is kept on local disk.
"""

from __future__ import annotations

import hmac
import json
import os
import signal
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from miniplat import kafkaio, store
from miniplat.config import Config, api_key_from_env
from miniplat.defects import FOREIGN_OPEN_CLASS
from miniplat.util import canonical, log, payload_hash, sha256_hex, utc_now

COMPONENT = "gate"
HARD_BODY_CAP = 1 << 20  # bodies above this are not even read: 413 and the connection is closed


@dataclass
class Admission:
    payload_hash: str
    partition: int | None
    offset: int | None


class Answer(Exception):
    """An error answer (4xx/5xx) with its body."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class Gate:
    def __init__(self, cfg: Config, api_key: str) -> None:
        self.cfg = cfg
        self.run_id = cfg.platform_run_id
        self.api_key = api_key
        self.defects = cfg.defects
        self.max_bytes = int(cfg.gate.get("max_envelope_bytes", 65536))
        self.publish_timeout_s = float(cfg.gate.get("publish_timeout_s", 5.0))
        self.topics = cfg.event_classes
        self.s3 = cfg.s3()
        self.producer = kafkaio.producer(cfg, self.publish_timeout_s)
        self.receipts_bucket = cfg.bucket("evidence")
        self.receipts_prefix = cfg.prefix("receipts")
        self.quarantine_bucket = cfg.bucket("quarantine")
        self.quarantine_prefix = cfg.prefix("quarantine")
        self.admission_lock = threading.Lock()
        self.seq_lock = threading.Lock()
        self.stats_lock = threading.Lock()
        self.admitted: dict[tuple[str, str, str], Admission] = {}
        self.stats: Counter[str] = Counter()
        self.next_seq = 1
        self.storage_smoke: dict[str, Any] = {}

    # ------------------------------------------------------------------ start-up
    def recover(self) -> None:
        """Rebuild the dedupe table from this run's records, and the next receipt seq from the receipts."""
        for event_class, topic in sorted(self.topics.items()):
            for record in kafkaio.scan(self.cfg, topic):
                value = record.value
                if not isinstance(value, dict) or value.get("platform_run_id") != self.run_id:
                    continue
                hashed = record.headers.get("payload_hash")
                key = (self.run_id, str(value.get("event_class", event_class)), str(value.get("event_id")))
                self.admitted.setdefault(key, Admission(
                    hashed.decode() if hashed else payload_hash(value.get("payload")), record.partition,
                    record.offset))
        seqs = [int(k.rsplit("/", 1)[-1].split(".")[0]) for k in
                store.list_keys(self.s3, self.receipts_bucket, self.receipts_prefix)
                if k.endswith(".json") and k.rsplit("/", 1)[-1].split(".")[0].isdigit()]
        self.next_seq = max(seqs, default=0) + 1
        log(COMPONENT, f"recovered {len(self.admitted)} admissions of {self.run_id}; next receipt seq "
                       f"{self.next_seq}")

    def smoke_storage(self) -> None:
        """Prove the gate can write to its quarantine bucket (outside the run's quarantine prefix)."""
        key = f"_smoke/{self.run_id}/gate-{os.getpid()}-{sha256_hex(utc_now())[:8]}.json"
        try:
            store.put_once(self.s3, self.quarantine_bucket, key, {"smoke": True, "at_utc": utc_now()})
            self.storage_smoke = {"bucket": self.quarantine_bucket, "key": key, "ok": True}
        except Exception as error:
            self.storage_smoke = {"bucket": self.quarantine_bucket, "key": key, "ok": False,
                                  "error": type(error).__name__}

    # ------------------------------------------------------------------ the ingest decision
    def ingest(self, key: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            return self._ingest(key, body)
        except Answer as answer:
            return answer.status, {"error": answer.error}

    def _ingest(self, key: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        if not key:
            if not self.defects.on("auth_open"):
                raise Answer(401, "missing API key")
        elif not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise Answer(403, "wrong API key")
        if len(body) > self.max_bytes:
            raise Answer(413, f"envelope of {len(body)} bytes over the cap of {self.max_bytes}")
        try:
            envelope = json.loads(body)
        except ValueError:
            return self.quarantine(None, body, "unreadable", "the body is not JSON")
        if not isinstance(envelope, dict):
            return self.quarantine(None, body, "unreadable", "the envelope is not a JSON object")
        run_id, event_class = envelope.get("platform_run_id"), envelope.get("event_class")
        if run_id != self.run_id and not self.defects.on("scope_open") and not (
                self.defects.on("foreign_run_record") and event_class == FOREIGN_OPEN_CLASS):
            raise Answer(409, f"platform_run_id {run_id!r} is not this gate's run")
        problems = [name for name, ok in (
            ("event_class", event_class in self.topics),
            ("event_id", isinstance(envelope.get("event_id"), str) and bool(envelope.get("event_id"))),
            ("ts_utc", isinstance(envelope.get("ts_utc"), str)),
            ("payload", isinstance(envelope.get("payload"), dict))) if not ok]
        if problems:
            return self.quarantine(envelope, body, "invalid_envelope", f"invalid fields: {problems}")
        return self.admit(envelope)

    def admit(self, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        tuple_key = (str(envelope["platform_run_id"]), str(envelope["event_class"]), str(envelope["event_id"]))
        hashed = payload_hash(envelope["payload"])
        if self.defects.on("double_publish"):
            # The bug: look up, publish, and only then record, without holding the admission lock.
            existing = self.admitted.get(tuple_key)
            if existing is None:
                admission = self.publish(envelope, hashed)
                with self.admission_lock:
                    self.admitted[tuple_key] = admission
                return self.answer("ADMIT", envelope, hashed, admission)
        else:
            with self.admission_lock:
                existing = self.admitted.get(tuple_key)
                if existing is None:
                    admission = self.publish(envelope, hashed)
                    self.admitted[tuple_key] = admission
                    return self.answer("ADMIT", envelope, hashed, admission)
        if existing.payload_hash == hashed or self.defects.on("anomaly_as_duplicate"):
            return self.answer("DUPLICATE", envelope, hashed, None)
        return self.quarantine(envelope, canonical(envelope), "payload_mismatch",
                               f"same tuple admitted with payload hash {existing.payload_hash}, got {hashed}",
                               outcome="ANOMALY")

    def publish(self, envelope: dict[str, Any], hashed: str) -> Admission:
        topic = self.topics[envelope["event_class"]]
        payload = envelope["payload"]
        key = payload.get("flow_id") if isinstance(payload.get("flow_id"), str) else envelope["event_id"]
        try:
            partition, offset = kafkaio.produce_sync(self.producer, topic, str(key).encode(), canonical(envelope),
                                                     {"payload_hash": hashed.encode()}, self.publish_timeout_s)
        except kafkaio.PublishFailed as error:
            raise Answer(503, f"bus unavailable: {error}") from None
        except kafkaio.PublishAmbiguous:
            # The broker's answer was lost: the tuple is held (a resend is a DUPLICATE), the answer is 202.
            return Admission(hashed, None, None)
        return Admission(hashed, partition, offset)

    def answer(self, outcome: str, envelope: dict[str, Any], hashed: str,
               admission: Admission | None) -> tuple[int, dict[str, Any]]:
        if outcome == "ADMIT" and admission is not None and admission.offset is None:
            outcome = "PUBLISH_AMBIGUOUS"
        extra: dict[str, Any] = {}
        if outcome == "ADMIT" and admission is not None:
            extra = {"partition": admission.partition, "offset": admission.offset}
        seq = self.receipt(outcome, envelope.get("platform_run_id"), envelope.get("event_class"),
                           envelope.get("event_id"), hashed, None, extra)
        return (202 if outcome == "PUBLISH_AMBIGUOUS" else 200), {"outcome": outcome, "receipt_seq": seq, **extra}

    def quarantine(self, envelope: dict[str, Any] | None, body: bytes, reason: str, detail: str,
                   outcome: str = "QUARANTINE") -> tuple[int, dict[str, Any]]:
        seq = self.allocate_seq()
        payload_key = f"{self.quarantine_prefix}{seq:012d}.json"
        received: Any = envelope if envelope is not None else body.decode("utf-8", "replace")
        document: dict[str, Any] = {"reason": reason, "detail": detail, "envelope": received,
                                    "quarantined_at_utc": utc_now(), "platform_run_id": self.run_id,
                                    "receipt_seq": seq, "outcome": outcome}
        if self.defects.on("quarantine_without_payload"):
            document.pop("envelope")
        try:
            store.put_once(self.s3, self.quarantine_bucket, payload_key, document)
        except Exception as error:
            raise Answer(503, f"quarantine store unavailable: {type(error).__name__}") from None
        is_object = isinstance(envelope, dict)
        payload = envelope.get("payload") if is_object else None
        hashed = payload_hash(payload) if is_object and "payload" in envelope else sha256_hex(body)
        self.receipt(outcome, envelope.get("platform_run_id") if is_object else None,
                     envelope.get("event_class") if is_object else None,
                     envelope.get("event_id") if is_object else None, hashed, payload_key, {}, seq=seq)
        return 200, {"outcome": outcome, "receipt_seq": seq}

    # ------------------------------------------------------------------ receipts and stats
    def allocate_seq(self) -> int:
        with self.seq_lock:
            seq = self.next_seq
            self.next_seq += 1
            return seq

    def receipt(self, outcome: str, run_id: Any, event_class: Any, event_id: Any, hashed: str,
                payload_key: str | None, extra: dict[str, Any], seq: int | None = None) -> int:
        seq = seq if seq is not None else self.allocate_seq()
        document: dict[str, Any] = {
            # a receipt is the gate's record, so it names the gate's run (the envelope's claim is kept apart)
            "receipt_seq": seq, "platform_run_id": self.run_id,
            "claimed_platform_run_id": run_id if isinstance(run_id, str) else None,
            "event_class": event_class if isinstance(event_class, str) else None,
            "event_id": event_id if isinstance(event_id, str) else None, "outcome": outcome,
            "payload_hash": hashed, "at_utc": utc_now(), **extra}
        if payload_key is not None:
            document["payload_key"] = payload_key
        for _ in range(5):
            key = f"{self.receipts_prefix}{seq:012d}.json"
            try:
                store.put_once(self.s3, self.receipts_bucket, key, document)
                break
            except store.AlreadyExists:  # another writer took this seq: take the next one
                seq = self.allocate_seq()
                document["receipt_seq"] = seq
            except Exception as error:
                raise Answer(503, f"receipt store unavailable: {type(error).__name__}") from None
        else:
            raise Answer(503, "no free receipt seq")
        with self.stats_lock:
            self.stats["attempts"] += 1
            if outcome != "DUPLICATE" or not self.defects.on("receipts_unbalanced"):
                # (the defect: DUPLICATE answers take a short path that never reaches the counter)
                self.stats[outcome] += 1
        return seq

    def stats_json(self) -> dict[str, Any]:
        with self.stats_lock:
            return {"platform_run_id": self.run_id, "counts": dict(self.stats), "admitted": len(self.admitted)}


def make_handler(gate: Gate) -> type[BaseHTTPRequestHandler]:
    cfg = gate.cfg.gate
    ingest_path, health_path = cfg["ingest_path"], cfg["health_path"]
    stats_path = cfg.get("stats_path", "/v1/ops/stats")
    auth_header = cfg["auth_header"]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "miniplat-gate"

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == health_path:
                self._send(200, {"status": "ok", "platform_run_id": gate.run_id,
                                 "storage_smoke": gate.storage_smoke})
            elif path == stats_path:
                key = self.headers.get(auth_header)
                if not key or not hmac.compare_digest(key.encode(), gate.api_key.encode()):
                    self._send(401 if not key else 403, {"error": "key required"})
                else:
                    self._send(200, gate.stats_json())
            else:
                self._send(404, {"error": f"no route {path}"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > HARD_BODY_CAP:
                self.close_connection = True
                self._send(413 if length > 0 else 400, {"error": "body too large or length unreadable"})
                return
            body = self.rfile.read(length) if length else b""
            if path != ingest_path:
                self._send(404, {"error": f"no route {path}"})
                return
            try:
                status, answer = gate.ingest(self.headers.get(auth_header), body)
            except Exception as error:  # a dependency failed in a way not foreseen: nothing is claimed
                log(COMPONENT, f"ingest failed: {type(error).__name__}: {error}")
                status, answer = 503, {"error": f"internal dependency failure: {type(error).__name__}"}
            self._send(status, answer)

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are not logged (they would only repeat the receipts)

    return Handler


def serve(cfg: Config) -> int:
    api_key = api_key_from_env()
    if not api_key:
        log(COMPONENT, "no API key in MINIPLAT_API_KEY: refusing to start")
        return 2
    gate = Gate(cfg, api_key)
    gate.recover()
    gate.smoke_storage()
    server = ThreadingHTTPServer((str(cfg.gate["host"]), int(cfg.gate["port"])), make_handler(gate))
    server.daemon_threads = True
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()
    log(COMPONENT, f"listening on {cfg.gate_base_url} for run {gate.run_id}")
    while not stop.wait(0.5):
        pass
    log(COMPONENT, "stopping")
    server.shutdown()
    server.server_close()
    gate.producer.flush(5)
    return 0
