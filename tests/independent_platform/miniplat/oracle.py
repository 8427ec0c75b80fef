"""The oracle job: a seeded world written raw (unsorted) to the oracle bucket, stream-sorted per output into
JSON-lines ``stream_view`` shards with a manifest and a sort receipt, then checked fail-closed."""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import random
from typing import Any

from miniplat import store
from miniplat.config import Config
from miniplat.util import canonical, sha256_hex

SORT_KEY = "ts_utc"
RAW_PARTS = 2
EPOCH = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)


def _ts(seconds: float) -> str:
    return (EPOCH + _dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical(r) + b"\n" for r in rows)


def parse_jsonl(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]


def world(seed: int, traffic_rows: int, context_rows: int) -> dict[str, list[dict[str, Any]]]:
    """The same seed and sizes always give the same rows (in a shuffled, raw order)."""
    rng = random.Random(seed)
    traffic, context = [], []
    for i in range(traffic_rows):
        flow_id = f"flow-{rng.getrandbits(40):010x}"
        traffic.append({"row_id": f"t{i:06d}", "flow_id": flow_id, "ts_utc": _ts(i * 1.5 + rng.random()),
                        "amount_minor": rng.randint(100, 250_000), "merchant_id": f"m{rng.randint(1, 30):03d}",
                        "card_id": f"c{rng.randint(1, 80):04d}",
                        # a device is not always known: the field is then null
                        "device_id": None if i % 9 == 4 else f"d{rng.randint(1, 50):03d}"})
        if i < context_rows:
            context.append({"row_id": f"c{i:06d}", "flow_id": flow_id, "ts_utc": _ts(i * 1.5 - 0.25),
                            "channel": rng.choice(["web", "pos", "app"])})
    outputs = {"traffic_fraud": traffic, "context_arrival_events": context}
    for rows in outputs.values():
        rng.shuffle(rows)
    return outputs


def ordered(rows: list[dict[str, Any]]) -> bool:
    keys = [(str(r.get(SORT_KEY)), str(r.get("row_id"))) for r in rows]
    return all(a <= b for a, b in itertools.pairwise(keys))


class Oracle:
    def __init__(self, cfg: Config, s3: Any) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.bucket = cfg.bucket("oracle")
        self.shard_rows = int(cfg.scenario.get("shard_rows", 25))
        self.outputs = list(cfg.scenario.get("outputs", ["traffic_fraud", "context_arrival_events"]))

    def inputs_prefix(self, output_id: str) -> str:
        return self.cfg.prefix("oracle_inputs", output_id=output_id)

    def view_prefix(self, output_id: str) -> str:
        return self.cfg.prefix("stream_view", output_id=output_id)

    def manifest_key(self, output_id: str) -> str:
        return self.cfg.prefix("manifest", output_id=output_id)

    def receipt_key(self, output_id: str) -> str:
        return self.cfg.prefix("sort_receipt", output_id=output_id)

    def checker_key(self) -> str:
        return self.cfg.prefix("checker")

    # ------------------------------------------------------------------ P3.A seed
    def seed(self) -> dict[str, dict[str, int]]:
        rows = world(int(self.cfg.scenario["seed"]), int(self.cfg.scenario["traffic_rows"]),
                     int(self.cfg.scenario["context_rows"]))
        if self.cfg.defects.on("foreign_run_record"):
            # the defect's other half: a stale row exported for another run is left in the oracle's inputs
            stale = dict(rows["context_arrival_events"][0], row_id="c999999",
                         platform_run_id=f"stale-{self.cfg.platform_run_id[:24]}")
            rows["context_arrival_events"].append(stale)
        snapshot = {}
        for output_id in self.outputs:
            data = rows[output_id]
            size, objects = 0, 0
            for part in range(RAW_PARTS):
                body = _jsonl(data[part::RAW_PARTS])
                store.put_once(self.s3, self.bucket, f"{self.inputs_prefix(output_id)}part-{part:04d}.jsonl", body,
                               "application/x-ndjson")
                size += len(body)
                objects += 1
            snapshot[output_id] = {"objects": objects, "bytes": size, "rows": len(data)}
        return snapshot

    def read_inputs(self, output_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key in store.list_keys(self.s3, self.bucket, self.inputs_prefix(output_id)):
            rows.extend(parse_jsonl(store.get_bytes(self.s3, self.bucket, key) or b""))
        return rows

    # ------------------------------------------------------------------ P3.B stream sort
    def stream_sort(self, output_id: str) -> dict[str, Any]:
        rows = self.read_inputs(output_id)
        input_fingerprint = sha256_hex(b"".join(sorted(canonical(r) for r in rows)))
        view = sorted(rows, key=lambda r: (str(r.get(SORT_KEY)), str(r.get("row_id"))))
        shards, out_bytes = [], b""
        for number, start in enumerate(range(0, len(view), self.shard_rows)):
            chunk = view[start:start + self.shard_rows]
            if self.cfg.defects.on("stream_sort_drops_rows"):
                chunk = chunk[:-1]  # the defect: an off-by-one in the shard writer loses each shard's last row
            body = _jsonl(chunk)
            key = f"{self.view_prefix(output_id)}part-{number:04d}.jsonl"
            store.put_once(self.s3, self.bucket, key, body, "application/x-ndjson")
            shards.append(key)
            out_bytes += body
        output_fingerprint = sha256_hex(out_bytes)
        manifest = {"output_id": output_id, "platform_run_id": self.cfg.platform_run_id, "sort_key": SORT_KEY,
                    "shards": shards, "rows": len(view), "output_fingerprint": output_fingerprint}
        store.put_once(self.s3, self.bucket, self.manifest_key(output_id), manifest)
        result = {"status": "PASS" if ordered(view) else "FAIL", "sort_key": SORT_KEY, "rows_in": len(rows),
                  "rows_out": len(view), "shards": len(shards), "manifest_key": self.manifest_key(output_id),
                  "receipt_key": self.receipt_key(output_id), "input_fingerprint": input_fingerprint,
                  "output_fingerprint": output_fingerprint, "ordered": ordered(view)}
        store.put_once(self.s3, self.bucket, self.receipt_key(output_id),
                       {"output_id": output_id, "platform_run_id": self.cfg.platform_run_id, **result})
        return result

    # ------------------------------------------------------------------ P3.C checker
    def check(self) -> dict[str, Any]:
        outputs = {}
        for output_id in self.outputs:
            manifest = store.get_json(self.s3, self.bucket, self.manifest_key(output_id))
            shards = manifest.get("shards", []) if isinstance(manifest, dict) else []
            rows: list[dict[str, Any]] = []
            for key in shards:
                rows.extend(parse_jsonl(store.get_bytes(self.s3, self.bucket, key) or b""))
            result = {"input_present": bool(store.list_keys(self.s3, self.bucket, self.inputs_prefix(output_id))),
                      "stream_view_present": bool(shards) and all(store.exists(self.s3, self.bucket, k)
                                                                  for k in shards),
                      "manifest_present": manifest is not None,
                      "receipt_present": store.exists(self.s3, self.bucket, self.receipt_key(output_id)),
                      "ordered": ordered(rows)}
            result["status"] = "PASS" if all(result.values()) else "FAIL"
            outputs[output_id] = result
        status = "PASS" if outputs and all(r["status"] == "PASS" for r in outputs.values()) else "FAIL"
        store.put_once(self.s3, self.bucket, self.checker_key(),
                       {"platform_run_id": self.cfg.platform_run_id, "status": status, "outputs": outputs})
        return {"status": status, "outputs": outputs}
