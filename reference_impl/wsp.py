"""World Stream Producer (P6): waits for READY for its run, reads ONLY stream_view (through the READY's
manifest pointers), derives stable event ids and sends to IG with bounded, backed-off retries. A
non-retryable rejection stops the stream and fails closed."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.canonical import derive_id, digest_of
from reference_impl.errors import NonRetryableIngest, OracleNotReady, ReadyNotFound
from reference_impl.handles import CONTEXT_OUTPUTS, TRAFFIC_OUTPUT
from reference_impl.ig import IngestClient, IngestResponse
from reference_impl.ports import PublishTimeout
from reference_impl.runtime import Runtime

PROCESS = "wsp"


def event_id_for(output_id: str, row_id: str) -> str:
    """Stable across retries and reruns: derived from the row, never from time or attempt."""
    return derive_id(output_id, row_id)


@dataclass(slots=True)
class WspTotals:
    attempted: int = 0
    succeeded: int = 0
    retries: int = 0
    nonretryable: int = 0
    failed: int = 0
    intended: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, int]:
        return {"attempted": self.attempted, "succeeded": self.succeeded, "retries": self.retries,
                "nonretryable": self.nonretryable, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class ReadyPointer:
    topic: str
    partition: int
    offset: int
    scenario_run_id: str | None
    manifests: Mapping[str, str]


class WorldStreamProducer:
    def __init__(self, runtime: Runtime, client: IngestClient, *, api_key: str, process: str = PROCESS) -> None:
        self.rt = runtime
        self.client = client
        self.process = process
        self._headers = {runtime.handles.ig_auth_header_name: api_key}
        self.totals = WspTotals()
        self.per_output: Counter[str] = Counter()
        self.oracle_bucket = runtime.bucket("S3_ORACLE_BUCKET", process)
        self.source = "raw" if runtime.mutated("stream_raw_oracle") else "stream_view"
        knobs = runtime.handles.knobs
        self.max_attempts = int(knobs.get("WSP_RETRY_MAX_ATTEMPTS", 4))
        self.backoff_s = float(knobs.get("WSP_RETRY_BACKOFF_MS", 50)) / 1000.0
        self.stopped_on: NonRetryableIngest | None = None
        self.planned: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ READY
    def locate_ready(self) -> ReadyPointer | None:
        topic = self.rt.topic("FP_BUS_CONTROL_V1", self.process).name
        group = self.rt.group("WSP_READY_CONSUMER_GROUP_ID", self.process)
        found: ReadyPointer | None = None
        for partition, start in self.rt.bus.start_offsets(topic).items():
            self.rt.bus.seek(group, topic, partition, start)
        for rec in self.rt.bus.poll(group, topic, max_records=10_000):
            value = rec.value
            kind = value.get("message_type", value.get("type"))
            if kind == "READY" and value.get("platform_run_id") == self.rt.run_id:
                found = ReadyPointer(rec.topic, rec.partition, rec.offset, value.get("scenario_run_id"),
                                     dict(value.get("manifests") or {}))
        return found

    def start(self) -> ReadyPointer | None:
        # The stream_without_ready drift: never even look for READY, start at once.
        ready = None if self.rt.mutated("stream_without_ready") else self.locate_ready()
        ready_offset = None if ready is None else ready.offset
        if ready is None and not self.rt.mutated("stream_without_ready"):
            self.rt.record(self.process, "fail", "stream_start", platform_run_id=self.rt.run_id,
                           ready_offset=None)
            raise ReadyNotFound(self.rt.run_id, self.rt.handles.topic("FP_BUS_CONTROL_V1").name)
        self.rt.record(self.process, "ok", "stream_start", platform_run_id=self.rt.run_id, ready_offset=ready_offset)
        return ready

    # ------------------------------------------------------------------ reading
    def enumerate_outputs(self, ready: ReadyPointer | None) -> dict[str, list[str]]:
        """output_id -> the object keys to stream, from the READY's manifests (stream_view only)."""
        out: dict[str, list[str]] = {}
        for output_id in self.rt.handles.oracle_required_output_ids:
            if self.source == "raw":
                prefix = self.rt.prefix("S3_ORACLE_PREFIX_PATTERN", self.process, output_id=output_id)
                out[output_id] = self.rt.store.list(self.oracle_bucket, prefix)
                continue
            manifest_key = (ready.manifests.get(output_id) if ready is not None else None) or \
                self.rt.prefix("S3_STREAM_VIEW_MANIFEST_PATTERN", self.process, output_id=output_id)
            if not self.rt.store.exists(self.oracle_bucket, manifest_key):
                raise OracleNotReady(f"WSP: manifest {manifest_key!r} for output {output_id!r} is missing; "
                                     "rerun P3 for that output before streaming")
            manifest = json.loads(self.rt.store.get(self.oracle_bucket, manifest_key))
            out[output_id] = [s["key"] for s in manifest["shards"]]
        return out

    def read_rows(self, output_id: str, keys: list[str]) -> list[dict[str, Any]]:
        self.rt.record(self.process, "ok", "stream_read", platform_run_id=self.rt.run_id, output_id=output_id,
                       source=self.source)
        rows: list[dict[str, Any]] = []
        for key in keys:
            body = self.rt.store.get(self.oracle_bucket, key)
            rows.extend(json.loads(line) for line in body.decode().splitlines() if line.strip())
        return rows

    def envelope(self, output_id: str, row: Mapping[str, Any], scenario_run_id: str | None) -> dict[str, Any]:
        return {"platform_run_id": self.rt.run_id, "scenario_run_id": scenario_run_id,
                "event_class": self.rt.handles.output_event_classes[output_id],
                "event_id": event_id_for(output_id, str(row["row_id"])), "ts_utc": row["ts_utc"],
                "payload": dict(row)}

    def plan(self, ready: ReadyPointer | None, shards: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """Context first, then traffic; then a replayed slice (duplicates), one payload-changed event
        (an anomaly) and one malformed event (quarantine), chosen by the seed."""
        scenario_run_id = None if ready is None else ready.scenario_run_id
        envelopes: list[dict[str, Any]] = []
        traffic: list[dict[str, Any]] = []
        for output_id in (*CONTEXT_OUTPUTS, TRAFFIC_OUTPUT):
            rows = self.read_rows(output_id, shards.get(output_id, []))
            self.per_output[output_id] = len(rows)
            batch = [self.envelope(output_id, r, scenario_run_id) for r in rows]
            envelopes.extend(batch)
            if output_id == TRAFFIC_OUTPUT:
                traffic = batch
        if traffic:
            rng = random.Random(self.rt.config.seed * 7919 + 17)
            replay_from = rng.randrange(0, max(1, len(traffic) - self.rt.config.replayed_slice))
            envelopes.extend(dict(e) for e in traffic[replay_from:replay_from + self.rt.config.replayed_slice])
            changed = dict(traffic[rng.randrange(len(traffic))])
            changed["payload"] = {**changed["payload"], "amount_minor": changed["payload"]["amount_minor"] + 1}
            envelopes.append(changed)
            broken = dict(traffic[rng.randrange(len(traffic))])
            broken.pop("ts_utc")
            broken["event_id"] = derive_id("malformed", broken["event_id"])
            envelopes.append(broken)
        return envelopes

    # ------------------------------------------------------------------ sending
    def send_one(self, envelope: Mapping[str, Any]) -> IngestResponse | None:
        ident = {"platform_run_id": envelope.get("platform_run_id"), "event_class": envelope.get("event_class"),
                 "event_id": envelope.get("event_id"), "payload_hash": digest_of(envelope.get("payload"))}
        self.totals.attempted += 1
        for attempt in range(self.max_attempts):
            self.rt.record(self.process, "invoke", "ingest", **ident)
            try:
                self.rt.faults.hit("wsp.before_send", **ident)
                resp = self.client.send(self._headers, envelope)
            except (TimeoutError, ConnectionError, PublishTimeout) as lost:
                self.rt.record(self.process, "info", "ingest", **ident, error=str(lost))
                resp = None
            if resp is not None and 200 <= resp.status_code < 300:
                self.rt.record(self.process, "ok", "ingest", **ident, outcome=resp.outcome,
                               receipt_seq=resp.receipt_seq)
                self.totals.outcomes[str(resp.outcome)] += 1
                if resp.outcome == "PUBLISH_AMBIGUOUS":
                    # Neither published nor failed: send the same event again so IG can resolve it.
                    if attempt + 1 < self.max_attempts:
                        self.totals.retries += 1
                        self.rt.sleep(self.backoff_s * (2 ** attempt))
                    continue
                self.totals.succeeded += 1
                return resp
            if resp is not None and 400 <= resp.status_code < 500:
                self.rt.record(self.process, "fail", "ingest", **ident, status_code=resp.status_code,
                               error=resp.error)
                self.totals.nonretryable += 1
                self.totals.failed += 1
                error = NonRetryableIngest(str(envelope.get("event_id")), resp.status_code, str(resp.error))
                if self.rt.mutated("nonretryable_skipped"):
                    return resp  # the drift: skip it silently and carry on
                self.stopped_on = error
                raise error
            if resp is not None:
                self.rt.record(self.process, "fail", "ingest", **ident, status_code=resp.status_code,
                               error=resp.error)
            if attempt + 1 < self.max_attempts:
                self.totals.retries += 1
                self.rt.sleep(self.backoff_s * (2 ** attempt))
        self.totals.failed += 1
        return None

    def direct_publish(self, envelope: Mapping[str, Any]) -> None:
        """The wsp_direct_publish drift: context goes straight to the bus, bypassing IG."""
        topic = self.rt.topic_for_class(str(envelope["event_class"]), self.process).name
        key = str(envelope["payload"].get("flow_id") or envelope["event_id"])
        ident = {"topic": topic, "key": key, "platform_run_id": envelope["platform_run_id"],
                 "event_class": envelope["event_class"], "event_id": envelope["event_id"]}
        self.rt.record(self.process, "invoke", "publish", **ident)
        partition, offset = self.rt.bus.produce(topic, key, dict(envelope))
        self.rt.record(self.process, "ok", "publish", **ident, partition=partition, offset=offset)

    def stream(self, envelopes: list[dict[str, Any]]) -> None:
        self.totals.intended = len(envelopes)
        self.planned = envelopes
        bypass_done = False
        for envelope in envelopes:
            if (not bypass_done and self.rt.mutated("wsp_direct_publish")
                    and str(envelope.get("event_class", "")).startswith("context_")):
                bypass_done = True
                self.direct_publish(envelope)
                continue
            self.send_one(envelope)
