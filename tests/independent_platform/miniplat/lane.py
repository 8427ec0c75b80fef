"""One consumer lane: a consumer group reading its input topics and writing one output record per input
record of the run, committing an input offset only after the outputs below it are flushed.

Records of other runs are skipped (their offsets are committed past: nothing is owed for them). SIGTERM
stops the loop; the consumer is closed so it leaves its group. The lane's own counters (what it believes it
did) are written to ``<state_dir>/lanes/<lane>.json`` for the run's reporter.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from miniplat import kafkaio
from miniplat.config import Config
from miniplat.util import log, sha256_hex, utc_now

BATCH = 200


def decide(event_id: str) -> str:
    """The decision lane's toy model: one event in four is sent to review."""
    return "review" if int(sha256_hex(event_id)[:8], 16) % 4 == 0 else "approve"


def derive(role: str, lane: str, value: dict[str, Any], topic: str, partition: int, offset: int) -> dict[str, Any]:
    out: dict[str, Any] = {"platform_run_id": value["platform_run_id"], "event_id": value.get("event_id"),
                           "event_class": value.get("event_class"),
                           "source": {"topic": topic, "partition": partition, "offset": offset}, "lane": lane}
    if role == "rtdl":
        payload = value.get("payload") if isinstance(value.get("payload"), dict) else {}
        out["flow_id"] = payload.get("flow_id")
        out["features"] = {k: v for k, v in sorted(payload.items()) if k != "flow_id"}
    else:
        out["decision"] = decide(str(value.get("event_id")))
    return out


class Lane:
    def __init__(self, cfg: Config, lane: str) -> None:
        self.cfg = cfg
        self.lane = lane
        self.role = str(cfg.lanes[lane].get("role", "rtdl"))
        self.run_id = cfg.platform_run_id
        self.group = cfg.lane_group(lane)
        self.inputs = cfg.lane_inputs(lane)
        self.output = cfg.lane_output(lane)
        self.status_path = cfg.state_dir / "lanes" / f"{lane}.json"
        self.stats = {"processed": 0, "outputs": 0, "skipped_other_runs": 0, "commits": 0, "commit_violations": 0,
                      "unreadable": 0}
        self.assigned: list[str] = []
        self.stop = threading.Event()

    def write_status(self) -> None:
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"lane": self.lane, "platform_run_id": self.run_id, "group": self.group,
                                   "pid": os.getpid(), "assigned": self.assigned, "stats": self.stats,
                                   "updated_at_utc": utc_now()}))
        os.replace(tmp, self.status_path)

    def run(self) -> int:
        consumer = Consumer({**self.cfg.kafka_conf(), "group.id": self.group, "client.id": f"miniplat-{self.lane}",
                             "enable.auto.commit": False, "enable.auto.offset.store": False,
                             "auto.offset.reset": "earliest", "session.timeout.ms": 10000,
                             "heartbeat.interval.ms": 1000, "max.poll.interval.ms": 60000})
        producer = kafkaio.producer(self.cfg, 10.0)

        def on_assign(_consumer: Any, parts: list[TopicPartition]) -> None:
            self.assigned = sorted({*self.assigned, *(f"{p.topic}[{p.partition}]" for p in parts)})
            self.write_status()

        def on_revoke(_consumer: Any, parts: list[TopicPartition]) -> None:
            gone = {f"{p.topic}[{p.partition}]" for p in parts}
            self.assigned = [a for a in self.assigned if a not in gone]

        consumer.subscribe(self.inputs, on_assign=on_assign, on_revoke=on_revoke)
        log(self.lane, f"group {self.group} reading {self.inputs} -> {self.output} for run {self.run_id}")
        code = 0
        try:
            while not self.stop.is_set():
                messages = consumer.consume(num_messages=BATCH, timeout=0.5)
                if messages and not self.handle(consumer, producer, messages):
                    code = 3
                    break
        finally:
            consumer.close()  # leaves the group now, not after the session timeout
            producer.flush(5)
            self.assigned = []
            self.write_status()
            log(self.lane, f"stopped: {self.stats}")
        return code

    def handle(self, consumer: Consumer, producer: Any, messages: list[Any]) -> bool:
        failures: list[Any] = []
        next_offsets: dict[tuple[str, int], int] = {}

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(error)

        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log(self.lane, f"consume error: {error}")
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            next_offsets[(topic, partition)] = offset + 1
            try:
                value = json.loads(message.value() or b"null")
            except ValueError:
                value = None
            if not isinstance(value, dict):
                self.stats["unreadable"] += 1
                continue
            if value.get("platform_run_id") != self.run_id:
                self.stats["skipped_other_runs"] += 1
                continue
            self.stats["processed"] += 1
            payload = value.get("payload")
            if self.cfg.defects.on("commit_past_work") and isinstance(payload, dict) and \
                    any(v is None for v in payload.values()):
                continue  # the defect: a null field makes the transform yield nothing, silently
            out = derive(self.role, self.lane, value, topic, partition, offset)
            producer.produce(self.output, key=message.key(), value=json.dumps(out, sort_keys=True).encode(),
                             on_delivery=delivered)
            self.stats["outputs"] += 1
            producer.poll(0)
        deadline = time.monotonic() + 15.0
        while len(producer) > 0 and time.monotonic() < deadline:
            producer.flush(0.5)
        if len(producer) > 0 or failures:
            log(self.lane, f"outputs not durable ({len(producer)} pending, failures {failures[:3]}): no commit; "
                           "stopping so the batch is redelivered")
            return False
        if next_offsets and self.cfg.defects.on("commits_lag_outputs"):
            first = sorted(next_offsets)[0]  # the defect: the commit list is built from the batch's first partition
            next_offsets = {first: next_offsets[first]}
        if next_offsets:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(next_offsets.items())],
                            asynchronous=False)
            self.stats["commits"] += 1
        self.write_status()
        return True


def serve(cfg: Config, lane: str) -> int:
    if lane not in cfg.lanes:
        log("lane", f"unknown lane {lane!r}; the config has {sorted(cfg.lanes)}")
        return 2
    worker = Lane(cfg, lane)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    worker.write_status()
    return worker.run()
