"""The single-writer reporter as a one-shot process:
``python -m reference_impl.services.reporter_service --config FILE [--holder NAME] [--closure archive|run]``.

It takes the run's reporter lock (a write-once object at ``REPORTER_LOCK_KEY_PATTERN`` in the evidence
bucket, ``reference_impl.reporter.Reporter``), then writes the closure to the run's S3 evidence prefix with
write-once puts: ``run_report.json`` (what the consumer processes made durable in the archive and how far
their consumer groups committed) and ``run_completed.json`` last, and exits 0. A second reporter for the
same run, concurrent or later, finds the lock held by another holder and exits 4 naming the holder
(fail closed); nothing of the first one's closure is touched.

``--closure run`` closes a whole platform run instead (``reference_impl.services.closure``: conformance,
anomalies, replay anchors, reconciliation, run report, run_completed.json last), from the evidence its phases
wrote and what the reporter recounts on the substrate; ``archive`` (the default) closes a run of consumers
alone from their archive.

Exit codes: 0 closed, 2 config, 3 run scope (REQUIRED_PLATFORM_RUN_ID unset or another run's), 4 lock held,
5 a closure file already existed (written by another closer).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl.canonical import canonical_json, utc_iso
from reference_impl.errors import ReporterLockHeld, ScopeMismatch
from reference_impl.ports import ObjectStore, PreconditionFailed
from reference_impl.reporter import Reporter
from reference_impl.rtdl import CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY
from reference_impl.runtime import Clock, Runtime
from reference_impl.services.worker import EXIT_CONFIG, EXIT_SCOPE, ConfigError, build_runtime, load_config, run_main

PROG = "reporter_service"
PROCESS = "reporter"
EXIT_LOCK_HELD = 4
EXIT_ALREADY_CLOSED = 5
SCHEMA_VERSION = 1
ARCHIVE_COUNTS = {  # count name -> folder under the run's archive prefix
    "rtdl_decision_inputs": "rtdl_core/decision_input/",
    "rtdl_skips": "rtdl_core/skip/",
    "decisions": "decision_lane/decisions/",
    "audit_records": "decision_lane/audit/",
    "actions": "decision_lane/actions/",
}


class S3Evidence:
    """The run's evidence in S3: ``<evidence bucket>/<S3_EVIDENCE_PREFIX_PATTERN><relpath>``, write-once."""

    def __init__(self, store: ObjectStore, bucket: str, prefix: str, platform_run_id: str, clock: Clock) -> None:
        self.store = store
        self.bucket = bucket
        self.prefix = prefix
        self.platform_run_id = platform_run_id
        self.clock = clock

    def put(self, relpath: str, document: Mapping[str, Any]) -> None:
        body = canonical_json({"platform_run_id": self.platform_run_id, "written_at_utc": utc_iso(self.clock.now()),
                               "schema_version": SCHEMA_VERSION, **dict(document)}).encode()
        try:
            self.store.put(self.bucket, self.prefix + relpath, body, if_none_match=True)
        except PreconditionFailed:
            raise FileExistsError(f"evidence s3://{self.bucket}/{self.prefix}{relpath} already written "
                                  "(write-once)") from None

    def get(self, relpath: str) -> Mapping[str, Any] | None:
        try:
            loaded: dict[str, Any] = json.loads(self.store.get(self.bucket, self.prefix + relpath))
        except KeyError:
            return None
        return loaded

    def list(self) -> list[str]:
        return [key[len(self.prefix):] for key in self.store.list(self.bucket, self.prefix)]


def group_lag(runtime: Runtime, group_key: str, topic_keys: Sequence[str]) -> int:
    """Records the group has not committed past, over its topics (0 = caught up)."""
    group = runtime.group(group_key, PROCESS)
    lag = 0
    for key in topic_keys:
        topic = runtime.topic(key, PROCESS).name
        committed = runtime.bus.committed(group, topic)
        starts = runtime.bus.start_offsets(topic)
        lag += sum(end - committed.get(p, starts.get(p, 0)) for p, end in runtime.bus.end_offsets(topic).items())
    return lag


def closure(runtime: Runtime, reporter: Reporter, scenario_run_id: str | None) -> list[tuple[str, dict[str, Any]]]:
    bucket = runtime.bucket("S3_ARCHIVE_BUCKET", PROCESS)
    archive = runtime.prefix("S3_ARCHIVE_PREFIX_PATTERN", PROCESS)
    counts: dict[str, int] = {name: len(runtime.store.list(bucket, archive + folder))
                              for name, folder in ARCHIVE_COUNTS.items()}
    counts["rtdl_lag"] = group_lag(runtime, "RTDL_CORE_CONSUMER_GROUP_ID", [*CONTEXT_TOPIC_KEYS, TRAFFIC_TOPIC_KEY])
    counts["decision_lane_lag"] = group_lag(runtime, "DECISION_LANE_CONSUMER_GROUP_ID", ["FP_BUS_RTDL_V1"])
    complete = (counts["rtdl_lag"] == 0 and counts["decision_lane_lag"] == 0
                and counts["decisions"] == counts["rtdl_decision_inputs"] == counts["actions"])
    common: dict[str, Any] = {"phase_id": "P11"}
    if scenario_run_id:
        common["scenario_run_id"] = scenario_run_id
    return [
        ("run_report.json", {**common, "status": "GREEN" if complete else "RED", "phases": {}, "counts": counts,
                             "holder": reporter.holder}),
        ("run_completed.json", {**common, "status": "COMPLETED" if complete else "FAILED",
                                "ended_at_utc": runtime.now_iso(), "lock": reporter.lock_json()}),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, args = load_config(PROG, argv, extra=("--holder", "--closure"))
        if args.closure not in (None, "archive", "run"):
            raise ConfigError(f"{PROG}: --closure must be 'archive' or 'run', given: {args.closure!r}")
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return EXIT_CONFIG
    holder = str(args.holder or f"reporter-{os.getpid()}")
    setup = build_runtime(config, client_id=f"reporter-service-{os.getpid()}")
    try:
        runtime = setup.runtime
        try:
            runtime.check_scope(PROCESS, setup.required)
        except ScopeMismatch as error:
            print(f"{PROG}: {error}", file=sys.stderr, flush=True)
            return EXIT_SCOPE
        runtime.evidence = S3Evidence(runtime.store, runtime.bucket("S3_EVIDENCE_BUCKET", PROCESS),
                                      runtime.prefix("S3_EVIDENCE_PREFIX_PATTERN", PROCESS), runtime.run_id,
                                      runtime.clock)
        reporter = Reporter(runtime, holder=holder)
        try:
            if args.closure == "run":
                from reference_impl.services.closure import run_closure

                written = reporter.close(lambda: run_closure(runtime, reporter, config))
            else:
                written = reporter.close(lambda: closure(runtime, reporter, config.get("scenario_run_id")))
        except ReporterLockHeld as error:
            print(f"{PROG}: {error} (fail closed: a run has exactly one closer)", file=sys.stderr, flush=True)
            return EXIT_LOCK_HELD
        except FileExistsError as error:
            runtime.record(PROCESS, "fail", "closure_write", holder=holder, error=str(error))
            print(f"{PROG}: {error}; another reporter closed this run (fail closed)", file=sys.stderr, flush=True)
            return EXIT_ALREADY_CLOSED
        print(f"{PROG}: {holder} closed run {runtime.run_id}: {', '.join(written)}", file=sys.stderr, flush=True)
        return 0
    finally:
        setup.close()


if __name__ == "__main__":
    run_main(main)
