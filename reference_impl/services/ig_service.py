"""The ingestion gate as an HTTP service process: ``python -m reference_impl.services.ig_service --config
FILE``. It wraps ``reference_impl.ig.IngestGate`` (the same code as in-process) over the real adapters
(KafkaBus, S3ObjectStore).

Settings come from a JSON config file (nothing secret in it); the API key comes only from the environment
(``IG_API_KEY``) so it never shows in ``ps`` or in a file. The run scope is the environment variable named
by the registry (``REQUIRED_PLATFORM_RUN_ID``): without it, or with another run's id, the service refuses to
start (fail closed, exit 3). Operations the gate records go to a JSON-lines history file the harness reads.

Endpoints: ``GET <health path>`` (200 with the run id when ready), ``POST <ingest path>`` (the envelope;
the answer carries outcome, receipt_seq, partition, offset; 413 over ``max_envelope_bytes``), ``GET
/v1/ops/stats`` (counts by outcome).

Receipts are durable: one write-once object per receipt, ``s3://{S3_EVIDENCE_BUCKET}/
{S3_RECEIPTS_PREFIX_PATTERN}{receipt_seq:012d}.json`` (``ReceiptObjects``), written before the answer; a gate
started again for the same run resumes the sequence from them. The ``crash`` knob (``worker.arm_crash``)
makes it SIGKILL itself at a named fault point, once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reference_impl.append_log import AppendOnlyLog
from reference_impl.canonical import canonical_json
from reference_impl.errors import PlatformError, ScopeMismatch
from reference_impl.faultpoints import FaultPoints
from reference_impl.handles import DEFAULT_HANDLES, HandlesRegistry
from reference_impl.ig import IngestGate
from reference_impl.ports import ObjectStore
from reference_impl.runtime import DictEvidence, PlatformConfig, Runtime

API_KEY_ENV = "IG_API_KEY"
EXIT_SCOPE = 3
EXIT_CONFIG = 2
MAX_BODY = 1 << 20
FORGETFUL_RESTART = "restart_forgets_admissions"
SERVICE_MUTANTS = frozenset({FORGETFUL_RESTART})  # the service's own, beside the platform's MUTANTS


class JsonlRecorder:
    """Appends each operation as one JSON line, flushed, so a SIGKILL loses at most the line being written."""

    def __init__(self, path: Path, clock: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._clock = clock
        self._lock = threading.Lock()

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        line = canonical_json({"time": self._clock.now(), "process": process, "type": type, "f": f,
                               "value": value})
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


class WallClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))  # backoffs wait for real: a restarted peer needs the time


class ReceiptObjects(AppendOnlyLog):
    """The gate's receipt log made durable: each receipt is one write-once object
    ``<prefix><receipt_seq:012d>.json`` in ``bucket`` (the platform contract's receipt object), put before the
    entry is appended, so an answer never names a receipt the store does not hold and a store that refuses the
    put leaves no gap in the sequence (the request fails with 503). ``load`` resumes the sequence of a run
    from its objects (a gate started again after a crash), so no receipt is ever overwritten."""

    def __init__(self, store: ObjectStore, bucket: str, prefix: str, platform_run_id: str, *,
                 allow_rewrite: bool = False) -> None:
        super().__init__("ig.receipts", allow_rewrite=allow_rewrite)
        self.store = store
        self.bucket = bucket
        self.prefix = prefix
        self.platform_run_id = platform_run_id
        self._append_lock = threading.Lock()

    def key(self, seq: int) -> str:
        return f"{self.prefix}{seq:012d}.json"

    def _object(self, seq: int, record: Mapping[str, Any]) -> bytes:
        # A receipt of an envelope that named no run is still a receipt of this gate's run.
        return canonical_json({**dict(record), "receipt_seq": seq,
                               "platform_run_id": record.get("platform_run_id") or self.platform_run_id}).encode()

    def load(self) -> int:
        """Read the run's receipts written by earlier processes into the log; returns how many."""
        found = sorted((json.loads(self.store.get(self.bucket, key)) for key in self.store.list(self.bucket,
                                                                                             self.prefix)
                        if key.endswith(".json")), key=lambda r: int(r.get("receipt_seq", 0)))
        for expected, receipt in enumerate(found, start=len(self) + 1):
            if int(receipt.get("receipt_seq", 0)) != expected:
                raise PlatformError(f"receipts under s3://{self.bucket}/{self.prefix} skip from {expected - 1} to "
                                    f"{receipt.get('receipt_seq')}: the log is not whole; refusing to resume it")
            super().append({k: v for k, v in receipt.items() if k != "receipt_seq"})
        return len(found)

    def append(self, record: Mapping[str, Any], idempotency_key: str | None = None) -> int:
        with self._append_lock:
            seq = len(self) + 1
            self.store.put(self.bucket, self.key(seq), self._object(seq, record), if_none_match=True)
            appended = super().append(record, idempotency_key)
            assert appended == seq, (appended, seq)  # one writer: the lock above
            return seq

    def rewrite(self, seq: int, record: Mapping[str, Any]) -> None:
        super().rewrite(seq, record)  # refused unless built to allow it (the mutable_receipts mutant)
        self.store.put(self.bucket, self.key(seq), self._object(seq, record))


def handles_from_config(config: Mapping[str, Any]) -> HandlesRegistry:
    """DEFAULT_HANDLES with the sections the harness's registry pins (buckets, topics, prefixes, groups)."""
    overrides: dict[str, Any] = {}
    if "buckets" in config:
        overrides["buckets"] = {**DEFAULT_HANDLES.buckets, **config["buckets"]}
    if "prefixes" in config:
        overrides["prefixes"] = {**DEFAULT_HANDLES.prefixes, **config["prefixes"]}
    if "consumer_groups" in config:
        overrides["consumer_groups"] = {**DEFAULT_HANDLES.consumer_groups, **config["consumer_groups"]}
    if "topics" in config:
        from reference_impl.handles import TopicHandle

        topics = dict(DEFAULT_HANDLES.topics)
        for key, spec in config["topics"].items():
            topics[key] = TopicHandle(key, spec["name"], int(spec["partitions"]))
        overrides["topics"] = topics
    if "event_class_topics" in config:  # routing of event classes to topic handles (e.g. the smoke's own topic)
        overrides["event_class_topics"] = {**DEFAULT_HANDLES.event_class_topics, **config["event_class_topics"]}
    if "knobs" in config:
        overrides["knobs"] = {**DEFAULT_HANDLES.knobs, **config["knobs"]}
    if "ig_auth_header_name" in config:
        overrides["ig_auth_header_name"] = config["ig_auth_header_name"]
    return dataclasses.replace(DEFAULT_HANDLES, **overrides)


def build_gate(config: Mapping[str, Any], api_key: str, required: str | None) -> tuple[IngestGate, Any]:
    from reference_impl.adapters.kafka_bus import KafkaBus
    from reference_impl.adapters.s3_store import S3ObjectStore

    clock = WallClock()
    faults = FaultPoints()
    bus = KafkaBus(config["kafka_bootstrap"], client_id="ig-service", timeout_s=float(config.get("timeout_s", 10)),
                   faults=faults)
    store = S3ObjectStore(endpoint_url=config.get("s3_endpoint_url"), region=config.get("s3_region", "us-east-1"),
                          timeout_s=float(config.get("timeout_s", 10)), faults=faults,
                          client_kwargs=config.get("s3_client_kwargs") or {})
    recorder = JsonlRecorder(Path(config["history_path"]), clock)
    platform = PlatformConfig(platform_run_id=config["platform_run_id"], required_platform_run_id=required,
                              env=str(config.get("env", "local_parity")),
                              mutations=frozenset(m for m in config.get("mutations", ()) if m not in SERVICE_MUTANTS),
                              api_key=api_key,
                              handles=handles_from_config(config))
    runtime = Runtime(platform, bus=bus, store=store, evidence=DictEvidence(), recorder=recorder, clock=clock,
                      faults=faults)
    receipts = None
    if required is not None:  # without its run the gate refuses to start (IngestGate raises ScopeMismatch)
        receipts = ReceiptObjects(store, runtime.bucket("S3_EVIDENCE_BUCKET", "ig"),
                                  runtime.prefix("S3_RECEIPTS_PREFIX_PATTERN", "ig", platform_run_id=required),
                                  required, allow_rewrite=runtime.mutated("mutable_receipts"))
    gate = IngestGate(runtime, required_platform_run_id=required, api_key=api_key, receipts=receipts,
                      task_id=str(config.get("task_id", "ig-1")))
    resumed = receipts.load() if receipts is not None else 0
    # The service's own mutant: a gate that forgets its admissions when it restarts (state only in memory).
    recovered = 0 if FORGETFUL_RESTART in config.get("mutations", ()) else recover_admissions(gate, bus)
    print(f"ig_service: recovered {recovered} admissions of run {required} from the bus; resumed {resumed} "
          "receipts", file=sys.stderr, flush=True)
    from reference_impl.services.worker import arm_crash

    arm_crash(runtime, config.get("crash"), "ig_service")
    return gate, bus


def recover_admissions(gate: IngestGate, bus: Any) -> int:
    """Rebuild the dedupe table from what this run already published (IG is the only publisher of its topics),
    so a gate restarted after a SIGKILL answers DUPLICATE instead of publishing an admitted event twice.
    The bus is the durable record here; the receipts log restarts empty (see the report)."""
    import uuid

    from reference_impl.ig import Admission

    handles = gate.rt.handles
    topics = sorted({handles.topic(key).name for key in set(handles.event_class_topics.values())})
    group = f"ig-recovery-{uuid.uuid4().hex[:12]}"  # a fresh group reads every partition from the start
    recovered = 0
    for topic in topics:
        while True:
            batch = bus.poll(group, topic, max_records=5000)
            if not batch:
                break
            for record in batch:
                value = record.value
                if value.get("platform_run_id") != gate.required or not isinstance(value.get("event_id"), str):
                    continue
                key = gate._dedupe_key(value)
                if gate.admission.get(key) is None:
                    gate.admission.put(key, Admission(str(record.headers.get("payload_hash", "")), "published", 0))
                    recovered += 1
    return recovered


def make_handler(gate: IngestGate, config: Mapping[str, Any]) -> type[BaseHTTPRequestHandler]:
    health_path = str(config.get("health_path", "/v1/ops/health"))
    ingest_path = str(config.get("ingest_path", "/v1/ingest"))
    max_body = int(config.get("max_envelope_bytes", MAX_BODY))
    lock = threading.Lock()  # the gate's dedupe and receipt log are one writer's state

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
        # (40 ms a request).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return  # request lines would carry nothing the history does not; keep the log for errors

        def _answer(self, status: int, document: Mapping[str, Any]) -> None:
            body = json.dumps(dict(document)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == health_path:
                self._answer(200, {"status": "ok", "platform_run_id": gate.required, "task_id": gate.task_id})
            elif self.path == "/v1/ops/stats":
                stats = gate.stats
                self._answer(200, {"attempts": stats.attempts, "published": stats.published,
                                   "by_outcome": dict(stats.by_outcome), "rejected": dict(stats.rejected),
                                   "receipts": len(gate.receipts), "local_files": gate.local_files})
            else:
                self._answer(404, {"error": f"no such path {self.path!r}"})

        def do_POST(self) -> None:
            if self.path != ingest_path:
                self._answer(404, {"error": f"no such path {self.path!r}; POST envelopes to {ingest_path}"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > max_body:
                self.close_connection = True  # the body is not read: the connection cannot carry another request
                self._answer(413, {"error": f"envelope of {length} bytes exceeds {max_body}"})
                return
            raw = self.rfile.read(length)
            envelope: Any
            try:
                envelope = json.loads(raw) if raw else None
            except ValueError:
                envelope = raw.decode(errors="replace")  # the gate quarantines what it cannot read
            headers = {k: v for k, v in self.headers.items()}
            with lock:
                try:
                    response = gate.send(headers, envelope)
                except Exception as error:  # an adapter failed: a 503 the sender may retry, logged here
                    print(f"ig_service: send failed: {type(error).__name__}: {error}", file=sys.stderr,
                          flush=True)
                    self._answer(503, {"error": f"{type(error).__name__}: {error}"})
                    return
            self._answer(response.status_code, {
                "outcome": response.outcome, "receipt_seq": response.receipt_seq, "error": response.error,
                "partition": response.partition, "offset": response.offset})

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ig_service", description="The ingestion gate as an HTTP service")
    parser.add_argument("--config", type=Path, required=True, help="JSON settings (no secrets)")
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
    except (OSError, ValueError) as error:
        print(f"ig_service: cannot read the config {args.config}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    missing = [k for k in ("platform_run_id", "kafka_bootstrap", "port", "history_path") if k not in config]
    if missing:
        print(f"ig_service: the config {args.config} lacks {missing}; add them", file=sys.stderr)
        return EXIT_CONFIG
    api_key = os.environ.get(API_KEY_ENV, "")
    if not api_key:
        print(f"ig_service: {API_KEY_ENV} is not set; the writer boundary needs a key (fail closed)",
              file=sys.stderr)
        return EXIT_CONFIG
    scope_env = str(config.get("required_platform_run_id_env_key", "REQUIRED_PLATFORM_RUN_ID"))
    required = os.environ.get(scope_env)
    from reference_impl.services.worker import ConfigError

    try:
        gate, bus = build_gate(config, api_key, required)
    except ScopeMismatch as error:
        print(f"ig_service: {error}", file=sys.stderr, flush=True)
        return EXIT_SCOPE
    except ConfigError as error:
        print(f"ig_service: {error}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    server = ThreadingHTTPServer((str(config.get("host", "127.0.0.1")), int(config["port"])),
                                 make_handler(gate, config))
    host, port = server.server_address[:2]
    print(f"ig_service: serving run {required} on {host!s}:{port}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        bus.close()
    return 0


if __name__ == "__main__":
    import signal

    # SIGTERM stops like Ctrl-C, so `finally` closes the producer (SIGKILL, for chaos, skips it on purpose).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
