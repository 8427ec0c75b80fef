"""What the consumer services (``rtdl_service``, ``decision_lane_service``) and the one-shot
``reporter_service`` share: reading their JSON config, the run scope from the environment, the runtime over
the real adapters, write-once archive objects, the readiness file, the pause knob of the crash tests and
the poll loop that stops on SIGTERM.

Config keys (nothing secret; the launcher in ``pytest_spine.stack.consumers`` writes them): those of
``ig_service`` (``platform_run_id``, ``kafka_bootstrap``, ``s3_endpoint_url``, ``history_path``, handles
sections, ``mutations``, ``timeout_s``) plus ``ready_path`` (written once the service consumes), ``seed``,
``pause`` (see ``arm_pause``), ``crash`` (see ``arm_crash``) and ``status_dir`` (where a consumer keeps its
own counters, one file per process, for the run's phases to read; see ``StatusFile``).

A consumer joins its consumer group (``join_group``): the broker, an operator and a harness see it as the
group's member while it runs, and it leaves the group when it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_impl.canonical import canonical_json
from reference_impl.faultpoints import KNOWN_POINTS, FaultPoints
from reference_impl.ports import ObjectStore, PreconditionFailed
from reference_impl.runtime import DictEvidence, EvidenceSink, PlatformConfig, Runtime
from reference_impl.services.ig_service import JsonlRecorder, WallClock, handles_from_config

EXIT_CONFIG = 2
EXIT_SCOPE = 3
REQUIRED_KEYS = ("platform_run_id", "kafka_bootstrap", "history_path")
IDLE_S = 0.3  # pause between empty polls: the broker is asked again, nothing is guessed from it
RETRY_S = 1.0  # after a failed batch the consumer resumes from its commits


class ConfigError(Exception):
    """The service's config file is unreadable or incomplete (exit 2)."""


@dataclass(frozen=True, slots=True)
class ServiceSetup:
    config: Mapping[str, Any]
    runtime: Runtime
    required: str | None
    close: Callable[[], None]


def load_config(prog: str, argv: Sequence[str] | None, extra: Sequence[str] = ()) -> tuple[Mapping[str, Any], Any]:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--config", type=Path, required=True, help="JSON settings (no secrets)")
    for flag in extra:
        parser.add_argument(flag)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{prog}: cannot read the config {args.config}: {error}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{prog}: the config {args.config} must be a JSON object, given {type(config).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in config]
    if missing:
        raise ConfigError(f"{prog}: the config {args.config} lacks {missing}; add them")
    return config, args


def required_run_id(config: Mapping[str, Any]) -> str | None:
    """The run scope the environment pins (None when unset: the components refuse to start)."""
    return os.environ.get(str(config.get("required_platform_run_id_env_key", "REQUIRED_PLATFORM_RUN_ID")))


def build_runtime(config: Mapping[str, Any], *, client_id: str, service_mutants: frozenset[str] = frozenset(),
                  evidence: EvidenceSink | None = None) -> ServiceSetup:
    from reference_impl.adapters.kafka_bus import KafkaBus
    from reference_impl.adapters.s3_store import S3ObjectStore

    timeout_s = float(config.get("timeout_s", 10))
    clock = WallClock()
    faults = FaultPoints()
    bus = KafkaBus(str(config["kafka_bootstrap"]), client_id=client_id, timeout_s=timeout_s, faults=faults)
    store = S3ObjectStore(endpoint_url=config.get("s3_endpoint_url"), region=str(config.get("s3_region", "us-east-1")),
                          timeout_s=timeout_s, faults=faults, client_kwargs=config.get("s3_client_kwargs") or {})
    recorder = JsonlRecorder(Path(str(config["history_path"])), clock)
    required = required_run_id(config)
    platform = PlatformConfig(platform_run_id=str(config["platform_run_id"]), required_platform_run_id=required,
                              seed=int(config.get("seed", 0)), env=str(config.get("env", "local_parity")),
                              mutations=frozenset(m for m in config.get("mutations", ()) if m not in service_mutants),
                              handles=handles_from_config(config))
    runtime = Runtime(platform, bus=bus, store=store, evidence=evidence if evidence is not None else DictEvidence(),
                      recorder=recorder, clock=clock, faults=faults)
    return ServiceSetup(config, runtime, required, bus.close)


def object_key(prefix: str, *parts: str) -> str:
    """``prefix`` + parts, each quoted, so an event id can never climb out of its folder."""
    return prefix + "/".join(urllib.parse.quote(part, safe="") for part in parts)


def put_once(store: ObjectStore, bucket: str, key: str, document: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Write-once put of a JSON document. Returns (True, document) when this call wrote it, (False, stored)
    when the key already held one: a redelivered record re-writes idempotently and never overwrites."""
    body = canonical_json(dict(document)).encode()
    try:
        store.put(bucket, key, body, if_none_match=True)
    except PreconditionFailed:
        stored: dict[str, Any] = json.loads(store.get(bucket, key))
        return False, stored
    return True, dict(document)


def load_objects(store: ObjectStore, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    return {key: json.loads(store.get(bucket, key)) for key in store.list(bucket, prefix)}


def write_ready(path: str | None, document: Mapping[str, Any]) -> None:
    """The readiness signal the launcher waits on: the file appears whole (temp + rename) or not at all."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(target.name + f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(dict(document), sort_keys=True))
    os.replace(temp, target)


def arm_pause(runtime: Runtime, pause: Mapping[str, Any] | None, prog: str) -> None:
    """The crash tests' knob: ``{"point": <fault point>, "match": {field: value}, "at_hit": N,
    "announce_path": FILE}`` makes the process stop at the N-th matching hit of the point, announce where
    (the file, then a log line) and wait there until it is killed. A SIGKILL then lands exactly at that
    place in the code, never after a guessed sleep."""
    if not pause:
        return
    point = str(pause.get("point", ""))
    if point not in KNOWN_POINTS:
        raise ConfigError(f"{prog}: pause.point {point!r} is not a fault point; known: {sorted(KNOWN_POINTS)}")
    match = dict(pause.get("match") or {})
    at_hit = int(pause.get("at_hit", 1))
    if at_hit < 1:
        raise ConfigError(f"{prog}: pause.at_hit must be >= 1, given: {at_hit}")
    announce = pause.get("announce_path")
    seen = [0]

    def when(context: Mapping[str, Any]) -> bool:
        if any(context.get(k) != v for k, v in match.items()):
            return False
        seen[0] += 1
        return seen[0] == at_hit

    def hold(context: Mapping[str, Any]) -> None:
        write_ready(str(announce) if announce else None, {"point": point, "hit": at_hit, "pid": os.getpid(),
                                                          "context": {k: context[k] for k in sorted(context)}})
        print(f"{prog}: paused at {point} (hit {at_hit}) {dict(context)}; waiting to be killed", file=sys.stderr,
              flush=True)
        while True:  # SIGTERM still ends it (the handler raises in this thread)
            time.sleep(0.2)

    runtime.faults.arm(point, hold, times=1, when=when)


def arm_crash(runtime: Runtime, crash: Mapping[str, Any] | None, prog: str) -> bool:
    """The chaos knob of a platform run: ``{"point": <fault point>, "match": {field: value}, "at_hit": N,
    "announce_path": FILE}`` makes the process SIGKILL itself at the N-th matching hit of the point, after
    writing FILE (where, and the hit's context). A process started again (its orchestrator's restart policy)
    finds FILE and is not armed: the crash happens once, at exactly that place in the code, never after a
    guessed sleep. Returns whether it was armed."""
    if not crash:
        return False
    point = str(crash.get("point", ""))
    if point not in KNOWN_POINTS:
        raise ConfigError(f"{prog}: crash.point {point!r} is not a fault point; known: {sorted(KNOWN_POINTS)}")
    at_hit = int(crash.get("at_hit", 1))
    if at_hit < 1:
        raise ConfigError(f"{prog}: crash.at_hit must be >= 1, given: {at_hit}")
    announce = crash.get("announce_path")
    if not announce:
        raise ConfigError(f"{prog}: crash needs announce_path (the marker that keeps a restarted process from "
                          "crashing again)")
    if Path(str(announce)).exists():
        return False
    match = dict(crash.get("match") or {})
    seen = [0]

    def when(context: Mapping[str, Any]) -> bool:
        if any(context.get(k) != v for k, v in match.items()):
            return False
        seen[0] += 1
        return seen[0] == at_hit

    def die(context: Mapping[str, Any]) -> None:
        import signal

        write_ready(str(announce), {"point": point, "hit": at_hit, "pid": os.getpid(),
                                    "context": {k: context[k] for k in sorted(context)}})
        print(f"{prog}: crashing at {point} (hit {at_hit}) {dict(context)}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no finally, no flush, no leave-group: a crash

    runtime.faults.arm(point, die, times=1, when=when)
    return True


def join_group(runtime: Runtime, group: str, topics: Sequence[str], prog: str, timeout_s: float = 30.0) -> None:
    """Join ``group`` as its member over ``topics`` (the bus adapter's ``join``; an in-memory bus has no
    groups to join). The timeout covers a predecessor SIGKILLed while a member: the rebalance waits for its
    session to time out."""
    join = getattr(runtime.bus, "join", None)
    if callable(join):
        assigned = join(group, list(topics), timeout_s=timeout_s)
        print(f"{prog}: member of group {group} with {len(assigned)} partitions", file=sys.stderr, flush=True)


class StatusFile:
    """The consumer's own counters (what it believes it did), ``<status_dir>/<prog>-<pid>.json``, rewritten
    whole after every batch that did work: one file per process, so a restarted consumer's predecessor keeps
    its figures. The run's phases read them beside what the substrate shows; nothing else does."""

    def __init__(self, status_dir: str | None, prog: str, platform_run_id: str | None) -> None:
        self.path = Path(status_dir) / f"{prog}-{os.getpid()}.json" if status_dir else None
        self.prog = prog
        self.platform_run_id = platform_run_id

    def write(self, stats: Mapping[str, Any]) -> None:
        if self.path is not None:
            write_ready(str(self.path), {"service": self.prog, "pid": os.getpid(),
                                         "platform_run_id": self.platform_run_id, "stats": dict(stats)})


def consume_forever(prog: str, step: Callable[[], int], recover: Callable[[], None],
                    after: Callable[[], None] | None = None) -> None:
    """Run ``step`` (one drain of the topics; returns records processed) until SIGTERM, calling ``after``
    when it did work. A failed step (broker or store unavailable) is logged and the consumer resumes from its
    commits: at-least-once."""
    while True:
        try:
            done = step()
        except Exception as error:
            print(f"{prog}: batch failed, resuming from the commits: {type(error).__name__}: {error}",
                  file=sys.stderr, flush=True)
            recover()
            time.sleep(RETRY_S)
            continue
        if done == 0:
            time.sleep(IDLE_S)
        elif after is not None:
            after()


def run_main(main: Callable[[], int]) -> None:
    """``sys.exit(main())`` with SIGTERM stopping like Ctrl-C, so ``finally`` blocks close the clients
    (a SIGKILL, for chaos, skips them on purpose)."""
    import signal

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
