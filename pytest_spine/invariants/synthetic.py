"""A seeded generator of large, law-abiding histories that exercise every checker: the input of
``spine bench checkers`` and of the "all checkers pass on a clean history" tests.

Streamed (a generator), so a benchmark of 1,000,000 operations measures the checkers' memory, not the
history's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_spine.clock import seeded_random
from pytest_spine.history import Operation, OpType

RUN = "platform_20260101T000000Z_synthetic"
TOPIC = "fp.bus.traffic.fraud.v1"
HANDLES = frozenset({TOPIC, "fp-evidence", "ig-receipts"})


def synthetic_history(n_ops: int, seed: int = 0, *, duplicate_ratio: float = 0.3,
                      anomaly_ratio: float = 0.01, missing_context_ratio: float = 0.05,
                      ambiguous_ratio: float = 0.001, runs: int = 2) -> Iterator[Operation]:
    """Yield at least ``n_ops`` operations of a correct platform (every INV-* checker passes); the history
    ends at the end of an event, never in the middle of one."""
    rnd = seeded_random(seed, "synthetic-history")
    random = rnd.random
    index = 0
    time = 1_767_225_600.0
    offset = 0
    receipt_seq = 0
    audit_seq = 0
    committed = 0
    admitted: list[tuple[str, str, str, str]] = []  # a bounded pool of keys to replay
    run_ids = [RUN if r == 0 else f"{RUN}_{r}" for r in range(runs)]
    next_event = 0

    def op(process: str, type: OpType, f: str, value: dict[str, Any]) -> Operation:
        nonlocal index, time
        made = Operation(index, time, process, type, f, value)
        index += 1
        time += 0.0001
        return made

    yield op("sr", "ok", "ready_publish", {"platform_run_id": RUN, "scenario_run_id": "s1",
                                           "topic": "fp.bus.control.v1", "partition": 0, "offset": 0})
    yield op("wsp", "ok", "stream_start", {"platform_run_id": RUN, "ready_offset": 0})
    yield op("wsp", "ok", "stream_read", {"platform_run_id": RUN, "output_id": "o1", "source": "stream_view"})
    yield op("ig", "ok", "handle_use", {"kind": "topic", "name": TOPIC})
    while index < n_ops:
        roll = random()
        if admitted and roll < duplicate_ratio:
            run, cls, event_id, phash = admitted[int(random() * len(admitted))]
            anomaly = random() < anomaly_ratio
            outcome = "ANOMALY" if anomaly else "DUPLICATE"
            sent = phash + "x" if anomaly else phash
            key = {"platform_run_id": run, "event_class": cls, "event_id": event_id}
            yield op("wsp", "invoke", "ingest", {**key, "payload_hash": sent})
            receipt_seq += 1
            yield op("ig", "ok", "receipt_append", {**key, "seq": receipt_seq, "outcome": outcome,
                                                    "payload_hash": sent})
            yield op("wsp", "ok", "ingest", {**key, "payload_hash": sent, "outcome": outcome,
                                             "receipt_seq": receipt_seq})
            continue
        run = run_ids[next_event % runs]
        event_id = f"e{next_event}"
        next_event += 1
        phash = f"h{next_event:x}"
        key = {"platform_run_id": run, "event_class": "traffic_fraud", "event_id": event_id}
        yield op("wsp", "invoke", "ingest", {**key, "payload_hash": phash})
        yield op("ig", "invoke", "publish", {**key, "topic": TOPIC, "key": event_id})
        if random() < ambiguous_ratio:
            yield op("ig", "info", "publish", {**key, "topic": TOPIC, "error": "timeout"})
            outcome = "PUBLISH_AMBIGUOUS"
        else:
            yield op("ig", "ok", "publish", {**key, "topic": TOPIC, "key": event_id, "partition": 0,
                                             "offset": offset})
            outcome = "ADMIT"
        receipt_seq += 1
        yield op("ig", "ok", "receipt_append", {**key, "seq": receipt_seq, "outcome": outcome,
                                                "payload_hash": phash})
        yield op("wsp", "ok", "ingest", {**key, "payload_hash": phash, "outcome": outcome,
                                         "receipt_seq": receipt_seq})
        if len(admitted) < 4096:
            admitted.append((run, "traffic_fraud", event_id, phash))
        else:
            admitted[int(random() * 4096)] = (run, "traffic_fraud", event_id, phash)
        if outcome != "ADMIT":
            continue
        where = {"group": "rtdl", "topic": TOPIC, "partition": 0, "offset": offset}
        yield op("rtdl", "ok", "consume", {**where, "event_id": event_id})
        missing = random() < missing_context_ratio
        yield op("rtdl", "ok", "join", {"event_id": event_id, "context": "missing" if missing else "present",
                                        "missing": ["profile"] if missing else []})
        if missing:
            yield op("rtdl", "ok", "degrade", {"event_id": event_id, "reason": "context_missing:profile"})
        yield op("rtdl", "ok", "state_write", {**where, "key": event_id})
        decision_id = f"d{offset}"
        yield op("decision_lane", "ok", "decision", {"decision_id": decision_id, "event_id": event_id,
                                                     "outcome": "allow", "degraded": missing})
        yield op("decision_lane", "ok", "action_execute", {"action_key": f"a:{decision_id}",
                                                           "decision_id": decision_id})
        audit_seq += 1
        yield op("decision_lane", "ok", "audit_append", {"seq": audit_seq, "idempotency_key": decision_id})
        offset += 1
        if offset - committed >= 64:
            committed = offset
            yield op("rtdl", "ok", "offset_commit", {"group": "rtdl", "topic": TOPIC, "partition": 0,
                                                     "offset": offset})
