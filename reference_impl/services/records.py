"""What a run's phases and its reporter read back from the substrate: the run's records on a topic, the
partitions they span, the receipt objects, the consumers' own status files. Reads only: nothing here writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reference_impl.ports import BusRecord, ObjectStore

READERS = 8  # parallel object reads: each is one HTTP round trip


# One reader per process: it never commits, so no consumer's position moves; a scan seeks it to the start.
READER = f"reference-reader-{uuid.uuid4().hex[:12]}"


def scan(bus: Any, topic: str) -> list[BusRecord]:
    """Every record of ``topic`` up to its current end."""
    reader = READER
    for partition, start in bus.start_offsets(topic).items():
        bus.seek(reader, topic, partition, start)
    found: list[BusRecord] = []
    while True:
        batch = bus.poll(reader, topic, max_records=5000)
        if not batch:
            return found
        found.extend(batch)


def of_run(records: Iterable[BusRecord], platform_run_id: str) -> list[BusRecord]:
    return [r for r in records if r.value.get("platform_run_id") == platform_run_id]


def spans(records: Iterable[BusRecord]) -> list[dict[str, int]]:
    """Per partition holding records: the first record's offset and one past the last (what the records of a
    run occupy, as the offsets snapshot and the replay anchors state it)."""
    found: dict[int, list[int]] = {}
    for record in records:
        span = found.setdefault(record.partition, [record.offset, record.offset + 1])
        span[0], span[1] = min(span[0], record.offset), max(span[1], record.offset + 1)
    return [{"partition": p, "start_offset": first, "end_offset": end} for p, (first, end) in sorted(found.items())]


def get_json_many(store: ObjectStore, bucket: str, keys: list[str]) -> list[dict[str, Any]]:
    def read(key: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(store.get(bucket, key))
        return loaded

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(read, keys))


def receipts(store: ObjectStore, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """The receipt objects under ``prefix``, in receipt_seq order."""
    keys = [k for k in store.list(bucket, prefix) if k.endswith(".json")]
    return sorted(get_json_many(store, bucket, keys), key=lambda r: int(r.get("receipt_seq", 0)))


def statuses(status_dir: Path, service: str, platform_run_id: str) -> list[Mapping[str, Any]]:
    """The counters each process of ``service`` kept for the run (one file per process: a restarted consumer's
    predecessor keeps its figures)."""
    found: list[Mapping[str, Any]] = []
    for path in sorted(status_dir.glob(f"{service}-*.json")):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if document.get("platform_run_id") == platform_run_id:
            found.append(dict(document.get("stats", {})))
    return found
