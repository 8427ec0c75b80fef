"""The oracle lane (P3): a deterministic seeded world written raw to the oracle bucket, stream-sort per
output_id into stream_view shards + manifest + receipt, a fail-closed checker, and per-output rerun."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from reference_impl.canonical import canonical_json, sha256_hex, utc_iso
from reference_impl.handles import CONTEXT_OUTPUTS, TRAFFIC_OUTPUT
from reference_impl.runtime import Runtime

PROCESS = "oracle"
SHARD_ROWS = 100
RAW_PARTS = 2
WORLD_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z: the world's timestamps never depend on the wall clock


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(canonical_json(r) + "\n" for r in rows).encode("utf-8")


def _rows(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class World:
    """Rows per output_id, in raw (generation-shuffled) order."""

    outputs: dict[str, list[dict[str, Any]]]
    missing_context: dict[str, list[str]]  # output_id -> flow ids deliberately without that context


def generate_world(seed: int, traffic_events: int) -> World:
    """The same seed and size always give the same world. Some flows lack some context (missing or late),
    so RTDL must degrade explicitly."""
    rng = random.Random(seed)
    n = max(4, traffic_events)
    traffic: list[dict[str, Any]] = []
    contexts: dict[str, list[dict[str, Any]]] = {o: [] for o in CONTEXT_OUTPUTS}
    missing: dict[str, list[str]] = {o: [] for o in CONTEXT_OUTPUTS}
    for i in range(n):
        flow_id = f"flow-{rng.getrandbits(48):012x}"
        ts = WORLD_EPOCH + i * 2.0 + rng.random()
        traffic.append({"row_id": f"t{i:06d}", "flow_id": flow_id, "ts_utc": utc_iso(ts),
                        "amount_minor": rng.randint(100, 500_000), "merchant_id": f"m{rng.randint(1, 40):03d}",
                        "card_id": f"c{rng.randint(1, 90):04d}"})
        for j, output_id in enumerate(CONTEXT_OUTPUTS):
            # Flow 1 always lacks its anchor and flow 2 its entities; the rest lack context at ~5 %.
            forced = (i == 1 and output_id == "flow_anchor_fraud") or (i == 2 and output_id == "arrival_entities")
            if forced or (output_id != "arrival_events" and rng.random() < 0.05):
                missing[output_id].append(flow_id)
                continue
            row: dict[str, Any] = {"row_id": f"{output_id[:2]}{i:06d}", "flow_id": flow_id,
                                   "ts_utc": utc_iso(ts - 1.0 - j * 0.1)}
            if output_id == "arrival_events":
                row["channel"] = rng.choice(["web", "pos", "app"])
            elif output_id == "arrival_entities":
                row["entity_id"] = f"e{rng.randint(1, 60):04d}"
                row["risk_tier"] = rng.choice(["low", "mid", "high"])
            else:
                row["anchor"] = f"a{rng.getrandbits(24):06x}"
            contexts[output_id].append(row)
    outputs = {TRAFFIC_OUTPUT: traffic, **contexts}
    for rows in outputs.values():
        rng.shuffle(rows)  # raw oracle outputs are unsorted: stream-sort exists to order them
    return World(outputs, missing)


@dataclass(frozen=True, slots=True)
class StreamSortResult:
    output_id: str
    status: str
    sort_key: str
    rows_in: int
    rows_out: int
    shards: int
    manifest_key: str
    receipt_key: str  # "" when no receipt was written
    input_fingerprint: str
    output_fingerprint: str
    ordered: bool

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "sort_key": self.sort_key, "rows_in": self.rows_in,
                "rows_out": self.rows_out, "shards": self.shards, "manifest_key": self.manifest_key,
                "receipt_key": self.receipt_key or None, "input_fingerprint": self.input_fingerprint,
                "output_fingerprint": self.output_fingerprint, "ordered": self.ordered}


def is_ordered(rows: list[dict[str, Any]], sort_key: str) -> bool:
    keys = [(str(r.get(sort_key)), str(r.get("row_id"))) for r in rows]
    return all(a <= b for a, b in itertools.pairwise(keys))


class Oracle:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.bucket = runtime.bucket("S3_ORACLE_BUCKET", PROCESS)
        self.outputs = runtime.handles.oracle_required_output_ids

    # ---- keys (all from handle patterns)
    def input_prefix(self, output_id: str) -> str:
        return self.rt.prefix("S3_ORACLE_PREFIX_PATTERN", PROCESS, output_id=output_id)

    def stream_view_prefix(self, output_id: str) -> str:
        return self.rt.prefix("S3_STREAM_VIEW_PREFIX_PATTERN", PROCESS, output_id=output_id)

    def manifest_key(self, output_id: str) -> str:
        return self.rt.prefix("S3_STREAM_VIEW_MANIFEST_PATTERN", PROCESS, output_id=output_id)

    def receipt_key(self, output_id: str) -> str:
        return self.rt.prefix("S3_STREAM_SORT_RECEIPT_PATTERN", PROCESS, output_id=output_id)

    def checker_key(self) -> str:
        return self.rt.prefix("ORACLE_CHECKER_RESULT_PATTERN", PROCESS)

    # ---- P3.A seed
    def seed(self) -> dict[str, dict[str, int]]:
        world = generate_world(self.rt.config.seed, self.rt.config.traffic_events)
        snapshot: dict[str, dict[str, int]] = {}
        for output_id, rows in world.outputs.items():
            prefix = self.input_prefix(output_id)
            size = 0
            step = max(1, -(-len(rows) // RAW_PARTS))
            parts = [rows[i:i + step] for i in range(0, len(rows), step)]
            for k, part in enumerate(parts):
                body = _jsonl(part)
                key = f"{prefix}part-{k:04d}.jsonl"
                if not self.rt.store.exists(self.bucket, key):  # resumable: copy only the missing deltas
                    self.rt.store.put(self.bucket, key, body, if_none_match=True)
                size += len(body)
            snapshot[output_id] = {"objects": len(parts), "bytes": size, "rows": len(rows)}
        self.rt.event(PROCESS, "oracle.seeded", "oracle", outputs=sorted(snapshot))
        return snapshot

    def read_raw(self, output_id: str) -> tuple[list[dict[str, Any]], str, int]:
        """Raw rows, the input fingerprint, and the number of input objects."""
        keys = self.rt.store.list(self.bucket, self.input_prefix(output_id))
        rows: list[dict[str, Any]] = []
        parts = []
        for key in keys:
            body = self.rt.store.get(self.bucket, key)
            parts.append(f"{key}:{sha256_hex(body)}")
            rows.extend(_rows(body))
        return rows, sha256_hex("\n".join(parts)), len(keys)

    # ---- P3.B stream-sort (per output)
    def stream_sort(self, output_id: str) -> StreamSortResult:
        started = self.rt.now_iso()
        sort_key = self.rt.handles.oracle_sort_key_by_output_id[output_id]
        rows, input_fp, files_in = self.read_raw(output_id)
        if not self.rt.mutated("unsorted_stream_view"):
            rows = sorted(rows, key=lambda r: (str(r.get(sort_key)), str(r.get("row_id"))))
        prefix = self.stream_view_prefix(output_id)
        shards = []
        for k, i in enumerate(range(0, len(rows), SHARD_ROWS)):
            body = _jsonl(rows[i:i + SHARD_ROWS])
            key = f"{prefix}part-{k:05d}.jsonl"
            self.rt.store.put(self.bucket, key, body, if_none_match=True)
            shards.append({"key": key, "rows": len(rows[i:i + SHARD_ROWS]), "sha256": sha256_hex(body)})
        output_fp = sha256_hex("\n".join(str(s["sha256"]) for s in shards))
        manifest_key = self.manifest_key(output_id)
        receipt_key = self.receipt_key(output_id)
        manifest = {"platform_run_id": self.rt.run_id, "output_id": output_id, "sort_key": sort_key,
                    "rows": len(rows), "shards": shards, "stream_view_prefix": prefix}
        self.rt.store.put(self.bucket, manifest_key, canonical_json(manifest).encode(), if_none_match=True)
        ordered = is_ordered(rows, sort_key)
        receipt = {"platform_run_id": self.rt.run_id, "output_id": output_id, "sort_key": sort_key,
                   "input_fingerprint": input_fp, "output_fingerprint": output_fp, "rows_in": len(rows),
                   "rows_out": len(rows), "files_in": files_in, "files_out": len(shards),
                   "started_at_utc": started, "ended_at_utc": self.rt.now_iso()}
        if self.rt.mutated("receipt_not_written") and output_id == "flow_anchor_fraud":
            receipt_key = ""  # the drift: no receipt, so nothing to point at
        else:
            self.rt.store.put(self.bucket, receipt_key, canonical_json(receipt).encode(), if_none_match=True)
        self.rt.event(PROCESS, "oracle.stream_sorted", "oracle", output_id=output_id, rows=len(rows))
        return StreamSortResult(output_id, "PASS" if ordered else "FAIL", sort_key, len(rows), len(rows),
                                len(shards), manifest_key, receipt_key, input_fp, output_fp, ordered)

    # ---- P3.C checker (fail closed)
    def check_output(self, output_id: str) -> dict[str, Any]:
        store, bucket = self.rt.store, self.bucket
        sort_key = self.rt.handles.oracle_sort_key_by_output_id[output_id]
        input_present = bool(store.list(bucket, self.input_prefix(output_id)))
        shard_keys = store.list(bucket, self.stream_view_prefix(output_id))
        manifest_present = store.exists(bucket, self.manifest_key(output_id))
        receipt_present = store.exists(bucket, self.receipt_key(output_id))
        ordered = False
        stream_view_present = bool(shard_keys)
        if manifest_present and stream_view_present:
            manifest = json.loads(store.get(bucket, self.manifest_key(output_id)))
            rows: list[dict[str, Any]] = []
            complete = True
            for shard in manifest["shards"]:
                if not store.exists(bucket, shard["key"]):
                    complete = False
                    break
                body = store.get(bucket, shard["key"])
                complete = complete and sha256_hex(body) == shard["sha256"]
                rows.extend(_rows(body))
            stream_view_present = complete
            ordered = complete and is_ordered(rows, sort_key) and len(rows) == manifest["rows"]
        ok = input_present and stream_view_present and manifest_present and receipt_present and ordered
        return {"status": "PASS" if ok else "FAIL", "input_present": input_present,
                "stream_view_present": stream_view_present, "manifest_present": manifest_present,
                "receipt_present": receipt_present, "ordered": ordered}

    def checker(self) -> dict[str, Any]:
        if self.rt.mutated("checker_always_pass"):
            # The rubber stamp: claims every output is fine without reading anything.
            outputs = {o: {"status": "PASS", "input_present": True, "stream_view_present": True,
                           "manifest_present": True, "receipt_present": True, "ordered": True}
                       for o in self.outputs}
        else:
            outputs = {o: self.check_output(o) for o in self.outputs}
        status = "PASS" if all(v["status"] == "PASS" for v in outputs.values()) else "FAIL"
        result = {"platform_run_id": self.rt.run_id, "status": status, "outputs": outputs,
                  "checked_at_utc": self.rt.now_iso()}
        key = self.checker_key()
        if self.rt.store.exists(self.bucket, key):
            self.rt.store.delete(self.bucket, key)  # a derived marker: each checker run replaces the last
        self.rt.store.put(self.bucket, key, canonical_json(result).encode(), if_none_match=True)
        return result

    # ---- per-output rerun
    def clear_output(self, output_id: str) -> None:
        for key in self.rt.store.list(self.bucket, self.stream_view_prefix(output_id)):
            self.rt.store.delete(self.bucket, key)
        for key in (self.manifest_key(output_id), self.receipt_key(output_id)):
            if self.rt.store.exists(self.bucket, key):
                self.rt.store.delete(self.bucket, key)

    def rerun_output(self, output_id: str) -> list[StreamSortResult]:
        """Delete only that output's stream_view prefix + manifest + receipt, and re-sort it."""
        if output_id not in self.outputs:
            raise KeyError(f"output_id {output_id!r} is not required; required: {list(self.outputs)}")
        targets = list(self.outputs) if self.rt.mutated("rerun_resorts_everything") else [output_id]
        for target in targets:
            self.clear_output(target)
        return [self.stream_sort(target) for target in targets]
