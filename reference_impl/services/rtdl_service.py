"""RTDL core as a long-running consumer process: ``python -m reference_impl.services.rtdl_service --config
FILE``. It runs ``reference_impl.rtdl.RtdlCore`` (the same code as in-process) in the registry's consumer
group over KafkaBus, with its durable state in the S3 archive (``S3_ARCHIVE_BUCKET`` under
``S3_ARCHIVE_PREFIX_PATTERN`` + ``rtdl_core/``) written with write-once puts. RtdlCore commits a partition's
offsets only after the durable writes of its records (commit-after-write); a redelivered record re-writes
idempotently (the stored object stays, the put reports it was already there).

Run scope: ``REQUIRED_PLATFORM_RUN_ID`` from the environment; unset or another run's id -> exit 3 before
anything is read. It joins its consumer group as the group's member (visible to the broker and to whoever
describes the group; it leaves on stop) before it is ready: the config's ``ready_path`` appears (and the log
says ``consuming``). Each decision input it publishes names its source record (``source``: topic, partition,
offset). Its own counters go to ``status_dir`` (``worker.StatusFile``). SIGTERM stops it cleanly (exit 0).
The mutant ``ack_before_write`` (``--spine-mutant``/config ``mutations``) makes it
commit each offset before the record's write.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from reference_impl.canonical import canonical_json
from reference_impl.errors import ScopeMismatch
from reference_impl.rtdl import PROCESS, RtdlCore, StateStore, StateWriteError
from reference_impl.runtime import Runtime
from reference_impl.services.worker import (
    EXIT_CONFIG,
    EXIT_SCOPE,
    ConfigError,
    StatusFile,
    arm_crash,
    arm_pause,
    build_runtime,
    consume_forever,
    join_group,
    load_config,
    load_objects,
    object_key,
    put_once,
    run_main,
    write_ready,
)

PROG = "rtdl_service"
ARCHIVE_FOLDER = "rtdl_core/"


class ArchiveStateStore(StateStore):
    """RTDL's durable state as write-once objects ``<archive prefix>rtdl_core/<kind>/<key>.json``; the
    in-memory maps (projections for the join) are a cache rebuilt from the archive when the process starts."""

    def __init__(self, runtime: Runtime, *, process: str = PROCESS) -> None:
        super().__init__()
        self._rt = runtime
        self._process = process
        self.bucket = runtime.bucket("S3_ARCHIVE_BUCKET", process)
        self.prefix = runtime.prefix("S3_ARCHIVE_PREFIX_PATTERN", process) + ARCHIVE_FOLDER

    def load(self) -> int:
        """Rebuild the cache from the archive (after a restart the join still finds earlier context)."""
        found = load_objects(self._rt.store, self.bucket, self.prefix)
        for document in found.values():
            origin = document["origin"]
            self._remember(str(document["kind"]), str(document["key"]), document["value"],
                           (str(origin[0]), int(origin[1]), int(origin[2])))
        return len(found)

    def _remember(self, kind: str, key: str, value: Mapping[str, Any], origin: tuple[str, int, int]) -> None:
        if kind == "decision_input":
            self.decision_inputs[key] = dict(value)
        else:
            self.projections.setdefault(kind, {})[key] = dict(value)
        topic, partition, offset = origin
        self.durable_upto[(topic, partition)] = max(self.durable_upto.get((topic, partition), 0), offset + 1)

    def write(self, kind: str, key: str, value: Mapping[str, Any], origin: tuple[str, int, int]) -> None:
        if self.fail_next > 0:  # the rtdl_write_failures mutant's refused write, as in-process
            self.fail_next -= 1
            raise StateWriteError(f"state write {kind}/{key} failed")
        topic, partition, offset = origin
        self._rt.faults.hit("rtdl.before_state_write", kind=kind, key=key, topic=topic, partition=partition,
                            offset=offset)
        document = {"kind": kind, "key": key, "value": json.loads(canonical_json(dict(value))),
                    "origin": [topic, partition, offset]}
        written, stored = put_once(self._rt.store, self.bucket, object_key(self.prefix, kind, key + ".json"),
                                   document)
        same = stored["value"] == document["value"]
        self._rt.record(self._process, "ok" if same else "fail", "archive_put", kind=kind, key=key,
                        written=written, same=same, topic=topic, partition=partition, offset=offset)
        # Write-once: what is stored is the truth, also when a redelivery computed something else.
        self._remember(kind, key, stored["value"], origin)


def stats_json(core: RtdlCore) -> dict[str, Any]:
    """RTDL's own counters of this process (its StatusFile)."""
    s = core.stats
    return {"processed": s.processed, "degrade_counts": dict(sorted(s.degrade_counts.items())),
            "join_misses": s.join_misses, "commit_violations": s.commit_violations,
            "write_failures": s.write_failures, "skipped_out_of_scope": s.skipped_out_of_scope,
            "published_inputs": s.published_inputs, "consumed_by_topic": dict(sorted(s.consumed_by_topic.items()))}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, _ = load_config(PROG, argv)
    except ConfigError as error:
        print(error, file=sys.stderr, flush=True)
        return EXIT_CONFIG
    setup = build_runtime(config, client_id=f"rtdl-service-{os.getpid()}")
    try:
        runtime = setup.runtime
        state = ArchiveStateStore(runtime)
        try:
            core = RtdlCore(runtime, required_platform_run_id=setup.required, state=state)
        except ScopeMismatch as error:
            print(f"{PROG}: {error}", file=sys.stderr, flush=True)
            return EXIT_SCOPE
        try:
            arm_pause(runtime, config.get("pause"), PROG)
            arm_crash(runtime, config.get("crash"), PROG)
        except ConfigError as error:
            print(error, file=sys.stderr, flush=True)
            return EXIT_CONFIG
        loaded = state.load()
        join_group(runtime, core.group, core.topics, PROG)
        runtime.record(PROCESS, "ok", "service_start", pid=os.getpid(), group=core.group, loaded=loaded)
        status = StatusFile(config.get("status_dir"), PROG, setup.required)
        status.write(stats_json(core))
        write_ready(config.get("ready_path"), {"service": PROG, "pid": os.getpid(), "group": core.group,
                                               "platform_run_id": setup.required, "loaded": loaded})
        print(f"{PROG}: consuming {core.topics} in group {core.group} for run {setup.required} "
              f"({loaded} archived objects loaded)", file=sys.stderr, flush=True)
        consume_forever(PROG, core.process_available, core.restart, after=lambda: status.write(stats_json(core)))
    finally:
        setup.close()
    return 0  # pragma: no cover - consume_forever only ends by an exception


if __name__ == "__main__":
    run_main(main)
