"""The reference platform as an operator runs it: its gate, RTDL core and decision lane as detached service
processes, its own run of phases P1..P11 over them, and their teardown.

``python -m reference_impl.services.platform provision|start|run|teardown --config FILE [--platform-run-id ID]``

- ``provision`` creates the config's topics (with their partition counts) and buckets when missing.
- ``start`` provisions, then starts each daemon (``ig_service``, ``rtdl_service``, ``decision_lane_service``)
  under a supervisor process with a restart policy (a daemon that dies is started again, as an orchestrator
  restarts a task; see ``supervise``), records the supervisors in ``<state_dir>/pids.json`` and waits until
  the gate answers its health check for the run and each consumer is the member of its group.
- ``run`` runs the platform's own phases P(-1)..P11 (``reference_impl.services.phases``): the oracle and
  stream-sort, SR's READY, WSP streaming through the HTTP gate, waiting for the consumers, and the reporter
  process closing the run under its lock. Every evidence file is written once to
  ``s3://{S3_EVIDENCE_BUCKET}/{S3_EVIDENCE_PREFIX_PATTERN}``. A phase that does not complete stops the run
  (exit 1); what it wrote stays.
- ``teardown`` stops the daemons (SIGTERM, SIGKILL after a grace), waits until their consumer groups have no
  members, releases SR's lease and writes the teardown proof (exit 1 when something is left).

The config (JSON, nothing secret) names the stack (``kafka_bootstrap``, ``s3_endpoint_url``), the handles
(``buckets``, ``prefixes``, ``topics``, ``consumer_groups``, ``event_class_topics``), the gate (``gate``:
host, port, ``max_envelope_bytes``), ``event_classes`` (the event classes whose topics the run's evidence
accounts for: the registry's ``platform.event_classes``), ``scenario`` (seed, traffic_events, replayed_slice),
``knobs``, ``mutations`` (reference mutants and the services' own) and ``crash`` (service -> a fault point at
which that daemon SIGKILLs itself once; ``worker.arm_crash``). The gate's key comes from ``SPINE_IG_API_KEY``
(or ``IG_API_KEY``); S3 credentials from the normal AWS chain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reference_impl.mutants import MUTANTS

PROG = "reference-platform"
EXIT_FAILED = 1
EXIT_CONFIG = 2
KEY_ENVS = ("SPINE_IG_API_KEY", "IG_API_KEY")
PIDS = "pids.json"
STOPPED = "pids.stopped.json"
DAEMONS: Mapping[str, str] = {  # daemon -> its module
    "ig": "reference_impl.services.ig_service",
    "rtdl": "reference_impl.services.rtdl_service",
    "decision_lane": "reference_impl.services.decision_lane_service",
}
# Consumer daemon -> (its consumer group's handle key, the topic handle keys it consumes).
LANES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "rtdl": ("RTDL_CORE_CONSUMER_GROUP_ID", ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
                                             "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "FP_BUS_TRAFFIC_FRAUD_V1")),
    "decision_lane": ("DECISION_LANE_CONSUMER_GROUP_ID", ("FP_BUS_RTDL_V1",)),
}
# Exit codes after which a supervisor does not restart its daemon: stopped cleanly, or it can never start.
NO_RESTART = (0, 2, 3)
MAX_RESTARTS = 3
RESTART_DELAY_S = 0.5
STOP_GRACE_S = 15.0


class SettingsError(Exception):
    """The platform config is unreadable, incomplete or names an unknown mutant (exit 2)."""


def _service_mutants() -> dict[str, frozenset[str]]:
    from reference_impl.services import decision_lane_service, ig_service

    return {"ig": ig_service.SERVICE_MUTANTS, "rtdl": frozenset(),
            "decision_lane": decision_lane_service.SERVICE_MUTANTS}


@dataclass(frozen=True, slots=True)
class Settings:
    """The platform config of one run, as loaded (``--platform-run-id`` wins over the file's)."""

    path: Path
    doc: Mapping[str, Any]
    platform_run_id: str

    @property
    def state_dir(self) -> Path:
        return Path(str(self.doc["state_dir"]))

    @property
    def services_dir(self) -> Path:
        return self.state_dir / "services"

    @property
    def gate(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.doc.get("gate", {})
        return found

    @property
    def gate_base_url(self) -> str:
        return f"http://{self.gate.get('host', '127.0.0.1')}:{int(self.gate['port'])}"

    @property
    def health_path(self) -> str:
        return str(self.doc.get("health_path", "/v1/ops/health"))

    @property
    def ingest_path(self) -> str:
        return str(self.doc.get("ingest_path", "/v1/ingest"))

    @property
    def auth_header(self) -> str:
        return str(self.doc.get("ig_auth_header_name", "X-IG-Api-Key"))

    @property
    def scope_env_key(self) -> str:
        return str(self.doc.get("required_platform_run_id_env_key", "REQUIRED_PLATFORM_RUN_ID"))

    @property
    def mutations(self) -> frozenset[str]:
        return frozenset(str(m) for m in self.doc.get("mutations", ()))

    @property
    def scenario(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.doc.get("scenario", {})
        return found

    def timeout(self, name: str, default: float) -> float:
        return float(self.doc.get("timeouts", {}).get(name, default))

    def topic_name(self, key: str) -> str:
        return str(self.doc["topics"][key]["name"])

    def group(self, key: str) -> str:
        return str(self.doc["consumer_groups"][key])

    def service_path(self, daemon: str, suffix: str) -> Path:
        return self.services_dir / f"{daemon}.{suffix}"

    def mutations_for(self, daemon: str | None) -> list[str]:
        """The mutants a process understands: the reference's, plus its service's own."""
        own = _service_mutants().get(daemon or "", frozenset())
        return sorted(m for m in self.mutations if m in MUTANTS or m in own)

    def service_config(self, daemon: str) -> dict[str, Any]:
        """The config file of one service process (the keys ``ig_service``/``worker`` read; nothing secret)."""
        doc = self.doc
        config: dict[str, Any] = {
            "platform_run_id": self.platform_run_id, "env": str(doc.get("env", "local_parity")),
            "kafka_bootstrap": doc["kafka_bootstrap"], "s3_endpoint_url": doc.get("s3_endpoint_url"),
            "s3_region": doc.get("s3_region", "us-east-1"),
            "history_path": str(self.service_path(daemon, "history.jsonl")),
            "required_platform_run_id_env_key": self.scope_env_key, "ig_auth_header_name": self.auth_header,
            "buckets": dict(doc["buckets"]), "prefixes": dict(doc["prefixes"]), "topics": dict(doc["topics"]),
            "consumer_groups": dict(doc["consumer_groups"]),
            "event_class_topics": dict(doc.get("event_class_topics", {})), "knobs": dict(doc.get("knobs", {})),
            "seed": int(self.scenario.get("seed", 0)), "mutations": self.mutations_for(daemon),
            "timeout_s": self.timeout("request_s", 10.0),
        }
        if daemon == "ig":
            config.update({"host": str(self.gate.get("host", "127.0.0.1")), "port": int(self.gate["port"]),
                           "health_path": self.health_path, "ingest_path": self.ingest_path,
                           "max_envelope_bytes": int(self.gate.get("max_envelope_bytes", 1 << 20)),
                           "task_id": str(self.gate.get("task_id", "ig-1"))})
        elif daemon in LANES:
            config.update({"ready_path": str(self.service_path(daemon, "ready.json")),
                           "status_dir": str(self.services_dir / "status")})
        crash = dict(doc.get("crash", {})).get(daemon)
        if crash:
            config["crash"] = {**dict(crash), "announce_path": str(self.service_path(daemon, "crashed.json"))}
        return config


def load_settings(path: str | Path, platform_run_id: str | None = None) -> Settings:
    config_path = Path(path).resolve()
    try:
        doc = json.loads(config_path.read_text())
    except (OSError, ValueError) as error:
        raise SettingsError(f"{PROG}: cannot read the config {config_path}: {error}") from None
    if not isinstance(doc, dict):
        raise SettingsError(f"{PROG}: the config {config_path} must be a JSON object")
    missing = [k for k in ("state_dir", "kafka_bootstrap", "buckets", "prefixes", "topics", "consumer_groups", "gate")
               if k not in doc]
    if missing:
        raise SettingsError(f"{PROG}: the config {config_path} lacks {missing}; add them")
    run_id = platform_run_id or doc.get("platform_run_id")
    if not isinstance(run_id, str) or not run_id:
        raise SettingsError(f"{PROG}: no run id: pass --platform-run-id or set platform_run_id in {config_path}")
    known = set(MUTANTS).union(*_service_mutants().values())
    unknown = sorted(set(map(str, doc.get("mutations", ()))) - known)
    if unknown:
        raise SettingsError(f"{PROG}: unknown mutants {unknown}; known: {sorted(known)}")
    return Settings(config_path, doc, run_id)


def api_key() -> str:
    return next((os.environ[k] for k in KEY_ENVS if os.environ.get(k)), "")


def log(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------ adapters
def bus(settings: Settings, client_id: str) -> Any:
    from reference_impl.adapters.kafka_bus import KafkaBus

    return KafkaBus(str(settings.doc["kafka_bootstrap"]), client_id=client_id,
                    timeout_s=settings.timeout("request_s", 10.0))


def store(settings: Settings) -> Any:
    from reference_impl.adapters.s3_store import S3ObjectStore

    return S3ObjectStore(endpoint_url=settings.doc.get("s3_endpoint_url"),
                         region=str(settings.doc.get("s3_region", "us-east-1")),
                         timeout_s=settings.timeout("request_s", 10.0))


# ------------------------------------------------------------------------------------------ processes
def ours(pid: int, marker: str) -> bool:
    """The process is alive (not a zombie) and its command line names ``marker`` (a recycled pid does not)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z" and any(marker.encode() in arg for arg in argv)


def read_pids(settings: Settings, name: str = PIDS) -> dict[str, Any]:
    path = settings.state_dir / name
    if not path.exists():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def write_pids(settings: Settings, document: Mapping[str, Any]) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    temp = settings.state_dir / f".{PIDS}.{os.getpid()}.tmp"
    temp.write_text(json.dumps(dict(document), indent=1))
    os.replace(temp, settings.state_dir / PIDS)


def stop_process(pid: int, marker: str, grace_s: float = STOP_GRACE_S) -> bool:
    """SIGTERM the process group (a supervisor and its daemon), SIGKILL it after ``grace_s``; True once gone."""
    if not ours(pid, marker):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not ours(pid, marker):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and ours(pid, marker):
        time.sleep(0.1)
    return not ours(pid, marker)


def gate_health(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(settings.gate_base_url + settings.health_path, timeout=timeout_s) as answer:
            if answer.status == 200:
                loaded: dict[str, Any] = json.loads(answer.read())
                return loaded
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def lane_ready(settings: Settings, daemon: str) -> dict[str, Any] | None:
    """The consumer's ready file when it is for this run and its process is alive."""
    try:
        ready: dict[str, Any] = json.loads(settings.service_path(daemon, "ready.json").read_text())
    except (OSError, ValueError):
        return None
    marker = str(settings.service_path(daemon, "json"))
    if ready.get("platform_run_id") != settings.platform_run_id or not ours(int(ready.get("pid", 0)), marker):
        return None
    return ready


# ------------------------------------------------------------------------------------------ commands
def provision(settings: Settings) -> int:
    """Create the topics of the config (with their partition counts) and its buckets when missing."""
    kafka, s3 = bus(settings, "reference-platform-provision"), store(settings)
    try:
        for spec in settings.doc["topics"].values():
            kafka.create_topic(str(spec["name"]), int(spec["partitions"]))
        for bucket in sorted(set(settings.doc["buckets"].values())):
            s3.create_bucket(str(bucket))
    finally:
        kafka.close()
    log(f"{len(settings.doc['topics'])} topics and {len(set(settings.doc['buckets'].values()))} buckets present")
    return 0


def start(settings: Settings) -> int:
    began = time.monotonic()
    key = api_key()
    if not key:
        log(f"no API key ({' or '.join(KEY_ENVS)}): the gate's writer boundary needs one; refusing to start")
        return EXIT_CONFIG
    marker = str(settings.path)
    existing = read_pids(settings)
    alive = {n: p for n, p in existing.get("processes", {}).items() if ours(int(p["pid"]), marker)}
    if alive and existing.get("platform_run_id") != settings.platform_run_id:
        log(f"daemons of run {existing.get('platform_run_id')} still run: {sorted(alive)}; tear down first")
        return EXIT_FAILED
    provision(settings)
    settings.services_dir.mkdir(parents=True, exist_ok=True)
    (settings.services_dir / "status").mkdir(exist_ok=True)
    env = {**os.environ, "IG_API_KEY": key, settings.scope_env_key: settings.platform_run_id,
           "PYTHONUNBUFFERED": "1"}
    record: dict[str, Any] = {"platform_run_id": settings.platform_run_id, "processes": dict(alive)}
    children: dict[str, subprocess.Popen[bytes]] = {}  # started here: their exit is known for certain
    for daemon in DAEMONS:
        if daemon in alive:
            continue  # a daemon of this run that still runs is kept
        config_path = settings.service_path(daemon, "json")
        config_path.write_text(json.dumps(settings.service_config(daemon), indent=1, sort_keys=True))
        settings.service_path(daemon, "ready.json").unlink(missing_ok=True)
        argv = [sys.executable, "-m", "reference_impl.services.platform", "supervise", "--config", marker,
                "--platform-run-id", settings.platform_run_id, "--service", daemon]
        log_path = settings.service_path(daemon, "log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, close_fds=True, cwd=str(settings.state_dir))
        children[daemon] = proc
        record["processes"][daemon] = {"pid": proc.pid, "argv": argv, "log": str(log_path), "started_at": time.time()}
        write_pids(settings, record)
    pending = set(record["processes"])
    deadline = time.monotonic() + settings.timeout("start_s", 90.0)
    kafka = bus(settings, "reference-platform-start")
    try:
        while pending and time.monotonic() < deadline:
            for daemon in sorted(pending):
                proc = record["processes"][daemon]
                child = children.get(daemon)
                if (child.poll() is not None) if child is not None else not ours(int(proc["pid"]), marker):
                    log(f"{daemon} exited during start-up; its log {proc['log']} ends:\n{_tail(proc['log'])}")
                    _stop_all(settings, record)
                    return EXIT_FAILED
                if daemon == "ig":
                    answer = gate_health(settings)
                    ready = answer is not None and answer.get("platform_run_id") == settings.platform_run_id
                else:
                    ready = lane_ready(settings, daemon) is not None and \
                        bool(kafka.group_members(settings.group(LANES[daemon][0])))
                if ready:
                    pending.discard(daemon)
            if pending:
                time.sleep(0.2)
    finally:
        kafka.close()
    if pending:
        log(f"not ready within {settings.timeout('start_s', 90.0):.0f}s: {sorted(pending)}")
        _stop_all(settings, record)
        return EXIT_FAILED
    log(f"run {settings.platform_run_id}: {sorted(record['processes'])} ready in {time.monotonic() - began:.1f}s")
    return 0


def _tail(path: str, limit: int = 2000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _stop_all(settings: Settings, record: Mapping[str, Any]) -> None:
    for proc in record.get("processes", {}).values():
        stop_process(int(proc["pid"]), str(settings.path), grace_s=5.0)


def supervise(settings: Settings, daemon: str) -> int:
    """Run one daemon with a restart policy: a daemon that dies (a crash, a SIGKILL) is started again, up to
    ``MAX_RESTARTS`` times, as an orchestrator restarts a task; one that exits 0 (stopped), 2 (its config) or
    3 (its run scope) is not. SIGTERM to the process group stops the daemon and then the supervisor."""
    module = DAEMONS[daemon]
    argv = [sys.executable, "-m", module, "--config", str(settings.service_path(daemon, "json"))]
    stopping = [False]

    def on_term(*_: Any) -> None:
        stopping[0] = True  # the daemon got the same signal (one process group): wait for it

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    restarts = 0
    while True:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=str(settings.state_dir))
        log(f"supervise {daemon}: started pid {child.pid}" + (f" (restart {restarts})" if restarts else ""))
        code = child.wait()
        if stopping[0]:
            log(f"supervise {daemon}: stopped (pid {child.pid} exited {code})")
            return 0
        if code in NO_RESTART or restarts >= MAX_RESTARTS:
            log(f"supervise {daemon}: pid {child.pid} exited {code}; not restarting (restarts so far {restarts})")
            return 0 if code == 0 else EXIT_FAILED
        restarts += 1
        log(f"supervise {daemon}: pid {child.pid} died ({code}); restarting in {RESTART_DELAY_S}s")
        time.sleep(RESTART_DELAY_S)


def run(settings: Settings) -> int:
    from reference_impl.services.phases import run_phases

    key = api_key()
    if not key:
        log(f"no API key ({' or '.join(KEY_ENVS)}): WSP cannot reach the gate")
        return EXIT_CONFIG
    return run_phases(settings, key)


def teardown(settings: Settings) -> int:
    from reference_impl.services.phases import teardown_proof

    return teardown_proof(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("provision", "start", "run", "teardown", "supervise"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--config", required=True, help="the platform config (JSON, nothing secret)")
        cmd.add_argument("--platform-run-id", default=None)
        if name == "supervise":
            cmd.add_argument("--service", required=True, choices=sorted(DAEMONS))
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, args.platform_run_id)
    except SettingsError as error:
        print(error, file=sys.stderr, flush=True)
        return EXIT_CONFIG
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "supervise":
        return supervise(settings, args.service)
    commands = {"provision": provision, "start": start, "run": run, "teardown": teardown}
    began = time.monotonic()
    code = commands[args.command](settings)
    log(f"{args.command} of run {settings.platform_run_id} exited {code} after {time.monotonic() - began:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
