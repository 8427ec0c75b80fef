"""The harness as the run's traffic source (registry ``platform.traffic_source: harness``): it finds READY for
the run on the control topic, enumerates the run's stream_view objects, and streams every row through the gate
as the contract maps it (``event_class`` = the output id, ``event_id`` = ``<output_id>.<row_id>``, the payload =
the row), recording every send; it then writes the WSP evidence (P6) itself, from what it sent and was answered.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.errors import EnvironmentFault

RETRIES = 3  # per event, on an answer that says "try again" (503, 429) or none at all


@dataclass(slots=True)
class StreamTotals:
    attempted: int = 0
    succeeded: int = 0
    retries: int = 0
    nonretryable: int = 0
    failed: int = 0
    per_output: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, int]:
        return {"attempted": self.attempted, "succeeded": self.succeeded, "retries": self.retries,
                "nonretryable": self.nonretryable, "failed": self.failed}


def find_ready(records: Iterable[Any], platform_run_id: str) -> Mapping[str, Any] | None:
    """The last READY of the run on the control topic, with where it is."""
    found: Mapping[str, Any] | None = None
    for record in records:
        value = record.value
        if isinstance(value, Mapping) and value.get("message_type") == "READY" and \
                value.get("platform_run_id") == platform_run_id:
            found = {**value, "topic": record.topic, "partition": record.partition, "offset": record.offset}
    return found


def stream_view_rows(buckets: Any, bucket: str, prefixes: Mapping[str, str],
                     max_events: int) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    """output id -> [(object key, row)] in key order, at most ``max_events`` rows in all."""
    from pytest_spine.observe.buckets import strict_json

    rows: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    total = 0
    for output_id, prefix in sorted(prefixes.items()):
        rows[output_id] = []
        for item in buckets.list(bucket, prefix):
            if not item.key.endswith(".jsonl"):
                continue
            for n, line in enumerate((buckets.get(bucket, item.key) or b"").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = strict_json(line)
                except ValueError as error:
                    raise EnvironmentFault(f"s3://{bucket}/{item.key} line {n} is not a JSON row: {error}") from None
                if not isinstance(row, Mapping) or not isinstance(row.get("row_id"), str):
                    raise EnvironmentFault(f"s3://{bucket}/{item.key} line {n} has no string row_id; the contract "
                                           "maps a stream_view row to an envelope by it")
                total += 1
                if total > max_events:
                    raise EnvironmentFault(f"the run's stream_view holds more than {max_events} rows; raise "
                                           "platform.traffic.max_events in the registry to stream them all")
                rows[output_id].append((item.key, row))
    return rows


def envelope_of(output_id: str, row: Mapping[str, Any], platform_run_id: str,
                scenario_run_id: str | None) -> dict[str, Any]:
    payload = {k: v for k, v in row.items() if k != "platform_run_id"}
    document = {"platform_run_id": platform_run_id, "event_class": output_id,
                "event_id": f"{output_id}.{row['row_id']}", "ts_utc": str(row.get("ts_utc", "")),
                "payload": payload}
    if scenario_run_id:
        document["scenario_run_id"] = scenario_run_id
    return document


def stream(gate: Any, planned: Sequence[tuple[str, Mapping[str, Any]]], *, connections: int = 2) -> StreamTotals:
    """Send every envelope, ``connections`` at a time; retry what the gate asks to be retried."""
    totals = StreamTotals()
    lock = threading.Lock()
    cursor = iter(list(planned))

    def worker() -> None:
        while True:
            with lock:
                item = next(cursor, None)
            if item is None:
                return
            output_id, document = item
            outcome, retries, nonretryable = _send(gate, document)
            with lock:
                totals.attempted += 1
                totals.retries += retries
                totals.per_output[output_id] += 1
                if outcome is not None:
                    totals.succeeded += 1
                    totals.outcomes[outcome] += 1
                elif nonretryable:
                    totals.nonretryable += 1
                else:
                    totals.failed += 1

    threads = [threading.Thread(target=worker, name=f"harness-wsp-{n}", daemon=True) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals


def _send(gate: Any, document: Mapping[str, Any]) -> tuple[str | None, int, bool]:
    retries = 0
    for attempt in range(RETRIES + 1):
        answer = gate.send(document, process="harness-wsp")
        if answer.kind == "ok":
            return answer.outcome, retries, False
        retryable = answer.kind == "info" or answer.status_code in (None, 429, 503)
        if not retryable:
            return None, retries, True
        if attempt < RETRIES:
            retries += 1
    return None, retries, False
