"""The world stream producer: finds READY for the run on the control topic, enumerates the stream_view
shards, and streams every row as an envelope through the gate over HTTP with the key.

Besides the rows it sends what a real producer sends: a few events twice at once (a retried request racing
its original), a few plain replays (at-least-once), one envelope it cannot form correctly, and one replay
whose payload changed upstream. Retries 429/503 and lost answers; stops at a non-retryable answer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from miniplat import kafkaio, store
from miniplat.config import Config
from miniplat.httpc import Client
from miniplat.oracle import SORT_KEY, parse_jsonl
from miniplat.util import log

COMPONENT = "wsp"
RETRYABLE = (429, 503)
MAX_ATTEMPTS = 5


class Wsp:
    def __init__(self, cfg: Config, s3: Any, api_key: str, scenario_run_id: str) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.api_key = api_key
        self.scenario_run_id = scenario_run_id
        knobs = cfg.scenario
        self.workers = int(knobs.get("wsp_workers", 4))
        self.batch = int(knobs.get("wsp_batch", 20))
        self.pairs = int(knobs.get("concurrent_pairs", 4))
        self.replays = int(knobs.get("replays", 2))
        self.malformed = int(knobs.get("malformed", 1))
        self.payload_changes = int(knobs.get("payload_changes", 1))
        self.client = Client(cfg.gate_base_url, float(cfg.gate.get("request_timeout_s", 5.0)))
        self.headers = {str(cfg.gate["auth_header"]): api_key}
        self.path = str(cfg.gate["ingest_path"])
        self.lock = threading.Lock()
        self.totals = Counter({"attempted": 0, "succeeded": 0, "retries": 0, "nonretryable": 0, "failed": 0})
        self.outcomes: Counter[str] = Counter()
        self.per_output: Counter[str] = Counter()
        self.stopped: str | None = None

    # ------------------------------------------------------------------ READY and stream_view
    def find_ready(self, timeout_s: float = 20.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in kafkaio.scan(self.cfg, self.cfg.control_topic)
                     if isinstance(r.value, dict) and r.value.get("message_type") == "READY"
                     and r.value.get("platform_run_id") == self.cfg.platform_run_id]
            if found:
                last = max(found, key=lambda r: (r.partition, r.offset))
                return {"topic": last.topic, "partition": last.partition, "offset": last.offset,
                        "message": last.value}
            time.sleep(0.3)
        return None

    def enumerate(self, ready: dict[str, Any]) -> dict[str, list[str]]:
        pointers = ready["message"].get("pointers", {})
        bucket = self.cfg.bucket("oracle")
        return {output_id: [k for k in store.list_keys(self.s3, bucket,
                                                       self.cfg.prefix("stream_view", output_id=output_id))
                            if k.endswith(".jsonl")]
                for output_id in sorted(pointers)}

    def plan(self, shards: dict[str, list[str]]) -> list[tuple[str, dict[str, Any]]]:
        bucket = self.cfg.bucket("oracle")
        planned = []
        for output_id, keys in shards.items():
            for key in keys:
                for row in parse_jsonl(store.get_bytes(self.s3, bucket, key) or b""):
                    planned.append((output_id, self.envelope(output_id, row)))
        planned.sort(key=lambda item: (str(item[1]["ts_utc"]), item[1]["event_id"]))
        return planned

    def envelope(self, output_id: str, row: dict[str, Any]) -> dict[str, Any]:
        run_id = self.cfg.platform_run_id
        if self.cfg.defects.on("foreign_run_record"):
            run_id = row.get("platform_run_id", run_id)  # the defect: a row's own run id is trusted
        payload = {k: v for k, v in row.items() if k != "platform_run_id"}
        return {"platform_run_id": run_id, "scenario_run_id": self.scenario_run_id, "event_class": output_id,
                "event_id": f"{output_id}.{row['row_id']}", "ts_utc": row.get(SORT_KEY), "payload": payload}

    # ------------------------------------------------------------------ sending
    def send(self, envelope: Any) -> str | None:
        """One envelope through the gate with retries: the outcome, or None when it was not accepted."""
        with self.lock:
            self.totals["attempted"] += 1
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                with self.lock:
                    self.totals["retries"] += 1
                time.sleep(0.1 * 2 ** attempt)
            try:
                status, body = self.client.post_json(self.path, envelope, self.headers)
            except OSError:
                continue  # no answer: the gate dedupes a resend
            except Exception:
                continue
            if 200 <= status < 300:
                outcome = str((body or {}).get("outcome"))
                with self.lock:
                    self.totals["succeeded"] += 1
                    self.outcomes[outcome] += 1
                return outcome
            if status in RETRYABLE:
                continue
            with self.lock:
                self.totals["nonretryable"] += 1
                self.stopped = f"non-retryable answer {status}: {body}"
            log(COMPONENT, f"stopping: {self.stopped}")
            return None
        with self.lock:
            self.totals["failed"] += 1
        return None

    def stream(self, planned: list[tuple[str, dict[str, Any]]],
               before_last_batch: Callable[[], None] | None = None) -> None:
        held = planned[-self.pairs:] if self.pairs else []
        main = planned[:len(planned) - len(held)]
        batches = [main[i:i + self.batch] for i in range(0, len(main), self.batch)]
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="wsp") as pool:
            for number, batch in enumerate(batches):
                if self.stopped:
                    break
                if number == len(batches) - 1 and before_last_batch is not None:
                    before_last_batch()
                for (output_id, _), outcome in zip(batch, pool.map(lambda item: self.send(item[1]), batch),
                                                   strict=True):
                    if outcome is not None:
                        self.per_output[output_id] += 1
            # The same event twice at once: a client retry racing its own original.
            for output_id, envelope in held:
                if self.stopped:
                    break
                barrier = threading.Barrier(2, timeout=10)

                def racing(env: dict[str, Any] = envelope, gate: threading.Barrier = barrier) -> str | None:
                    gate.wait()
                    return self.send(env)

                answers = list(pool.map(lambda _: racing(), range(2)))
                if any(a is not None for a in answers):
                    self.per_output[output_id] += 1
        sent = [env for _, env in main[:max(self.replays, self.payload_changes)]]
        for envelope in sent[:self.replays]:
            if not self.stopped:
                self.send(envelope)
        for number in range(self.malformed):
            if not self.stopped:
                self.send({"platform_run_id": self.cfg.platform_run_id, "scenario_run_id": self.scenario_run_id,
                           "event_class": "traffic_fraud", "event_id": f"wsp.malformed.{number}",
                           "ts_utc": "2026-01-01T00:00:00.000000Z", "payload": "not-an-object"})
        for envelope in sent[:self.payload_changes]:
            if not self.stopped:
                changed = dict(envelope, payload={**envelope["payload"], "amended_upstream": True})
                self.send(changed)
        self.client.close()
