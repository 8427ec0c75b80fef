"""Test helper: the bundled reference platform as an external platform over the running local stack
(``python -m reference_impl.services.platform``), with its config, its handles registry (``platform``
section and commands included) and its commands.

Every instance gets its own topic, group and bucket names (from ``name_suffix``), so instances run in
parallel without sharing a topic or a bucket. ``kill_all`` SIGKILLs whatever the instance left running
(every process whose command line names the instance's directory); ``destroy`` deletes its topics and
buckets.

The registry's ``platform.event_classes`` names ``traffic_fraud`` alone: the harness's destructive drills go
to the alphabetically first declared class, and the lanes must write one output per drill record; the
reference's context classes (which sort first) become RTDL projections, not outputs. The gate's readiness
smoke (``ig_smoke``) has its own topic, so the RTDL lane's input holds only records it writes an output for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
API_KEY_HEADER = "X-IG-Api-Key"
MODULE = "reference_impl.services.platform"
COMMANDS = ("start", "run", "teardown")

# topic handle key -> (name stem, partitions): the reference's topic map, plus the gate smoke's own topic.
TOPICS: Mapping[str, tuple[str, int]] = {
    "FP_BUS_CONTROL_V1": ("control.v1", 1),
    "FP_BUS_TRAFFIC_FRAUD_V1": ("traffic.fraud.v1", 3),
    "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1": ("context.arrival_events.v1", 2),
    "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1": ("context.arrival_entities.v1", 2),
    "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1": ("context.flow_anchor.fraud.v1", 2),
    "FP_BUS_RTDL_V1": ("rtdl.v1", 3),
    "FP_BUS_AUDIT_V1": ("audit.v1", 1),
    "FP_BUS_CASE_TRIGGERS_V1": ("case.triggers.v1", 1),
    "FP_BUS_LABELS_EVENTS_V1": ("labels.events.v1", 1),
    "FP_BUS_IG_SMOKE_V1": ("ig.smoke.v1", 1),
}
GROUPS: Mapping[str, str] = {
    "RTDL_CORE_CONSUMER_GROUP_ID": "rtdl-core", "DECISION_LANE_CONSUMER_GROUP_ID": "decision-lane",
    "CASE_LABELS_CONSUMER_GROUP_ID": "case-labels", "WSP_READY_CONSUMER_GROUP_ID": "wsp-ready",
    "IG_SMOKE_CONSUMER_GROUP_ID": "ig-smoke",
}
EVENT_CLASSES = {"traffic_fraud": "FP_BUS_TRAFFIC_FRAUD_V1"}
LANES: Mapping[str, Mapping[str, Any]] = {
    "RTDL_CORE_CONSUMER_GROUP_ID": {"inputs": ["FP_BUS_TRAFFIC_FRAUD_V1"], "output": "FP_BUS_RTDL_V1"},
    "DECISION_LANE_CONSUMER_GROUP_ID": {"inputs": ["FP_BUS_RTDL_V1"], "output": "FP_BUS_AUDIT_V1"},
}
PREFIXES: Mapping[str, str] = {
    "S3_ORACLE_PREFIX_PATTERN": "oracle/{platform_run_id}/inputs/{output_id}/",
    "S3_STREAM_VIEW_PREFIX_PATTERN": "oracle/{platform_run_id}/stream_view/{output_id}/",
    "S3_STREAM_VIEW_MANIFEST_PATTERN": "oracle/{platform_run_id}/manifests/{output_id}.json",
    "S3_STREAM_SORT_RECEIPT_PATTERN": "oracle/{platform_run_id}/receipts/{output_id}.json",
    "ORACLE_CHECKER_RESULT_PATTERN": "oracle/{platform_run_id}/checker/checker_pass.json",
    "S3_QUARANTINE_PREFIX_PATTERN": "quarantine/{platform_run_id}/",
    "S3_RECEIPTS_PREFIX_PATTERN": "ig/receipts/{platform_run_id}/",
    "S3_ARCHIVE_PREFIX_PATTERN": "archive/{platform_run_id}/",
    "S3_EVIDENCE_PREFIX_PATTERN": "evidence/runs/{platform_run_id}/",
    "EVIDENCE_RUN_JSON_KEY": "evidence/runs/{platform_run_id}/run.json",
    "REPORTER_LOCK_KEY_PATTERN": "control/reporter_locks/{platform_run_id}.json",
    "SR_LEASE_KEY_PATTERN": "control/sr_leases/{lease_id}.json",
}
SCENARIO: Mapping[str, Any] = {"seed": 7, "traffic_events": 40, "replayed_slice": 5}
# WSP backs off long enough for a restarted gate to come back (a crash drill restarts it in about 2 s).
KNOBS: Mapping[str, Any] = {"WSP_RETRY_MAX_ATTEMPTS": 8, "WSP_RETRY_BACKOFF_MS": 100}


@dataclass(frozen=True)
class CommandResult:
    name: str
    argv: list[str]
    returncode: int
    seconds: float
    stdout: str
    stderr: str

    def check(self) -> CommandResult:
        if self.returncode != 0:
            raise RuntimeError(f"reference platform {self.name} exited {self.returncode} after {self.seconds:.1f}s:"
                               f"\n{self.stderr[-4000:]}")
        return self


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PlatformHandle:
    run_id: str
    suffix: str
    workdir: Path
    config_path: Path
    registry_path: Path
    api_key: str
    base_url: str
    s3_endpoint_url: str
    kafka_bootstrap: str
    commands: dict[str, list[str]]  # argv lists with a {platform_run_id} placeholder
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.workdir / "state"

    def config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.config_path.read_text())
        return loaded

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("REQUIRED_PLATFORM_RUN_ID", None)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        env.update({"SPINE_IG_API_KEY": self.api_key, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1"})
        return env

    def argv(self, name: str, run_id: str | None = None) -> list[str]:
        return [a.replace("{platform_run_id}", run_id or self.run_id) for a in self.commands[name]]

    def _exec(self, name: str, timeout_s: float, check: bool) -> CommandResult:
        argv = self.argv(name)
        began = time.monotonic()
        proc = subprocess.Popen(argv, env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=str(self.workdir))
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=10)
            err += f"\n[launcher] {name} killed after {timeout_s}s"
        except BaseException:  # interrupted: the command never outlives the call
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            raise
        seconds = time.monotonic() - began
        self.timings[name] = seconds
        result = CommandResult(name, argv, proc.returncode, seconds, out, err)
        return result.check() if check else result

    def provision(self, timeout_s: float = 60.0, check: bool = True) -> CommandResult:
        return self._exec("provision", timeout_s, check)

    def start(self, timeout_s: float = 120.0, check: bool = True) -> CommandResult:
        return self._exec("start", timeout_s, check)

    def run(self, timeout_s: float = 300.0, check: bool = True) -> CommandResult:
        return self._exec("run", timeout_s, check)

    def teardown(self, timeout_s: float = 120.0, check: bool = True) -> CommandResult:
        return self._exec("teardown", timeout_s, check)

    def alive(self) -> list[int]:
        """Every live process whose command line names this instance's directory (its supervisors, daemons
        and commands)."""
        marker = str(self.workdir).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != b"Z" and any(marker in arg for arg in argv):
                found.append(int(entry.name))
        return sorted(found)

    def kill_all(self) -> list[int]:
        killed = []
        for pid in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        return killed

    def destroy(self, timeout_s: float = 30.0) -> None:
        """Delete this instance's topics and buckets (their names carry its suffix; nothing else is touched).
        Call after ``kill_all``."""
        from confluent_kafka.admin import AdminClient

        cfg = self.config()
        admin = AdminClient({"bootstrap.servers": self.kafka_bootstrap})
        existing = admin.list_topics(timeout=timeout_s).topics
        names = [t["name"] for t in cfg["topics"].values() if t["name"] in existing]
        if names:
            for future in admin.delete_topics(names, request_timeout=timeout_s).values():
                with contextlib.suppress(Exception):
                    future.result(timeout=timeout_s)
        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        s3 = boto3.session.Session().client("s3", endpoint_url=self.s3_endpoint_url, region_name="us-east-1",
                                            aws_access_key_id="testing", aws_secret_access_key="testing",
                                            config=Config(connect_timeout=5, read_timeout=timeout_s))
        try:
            for bucket in sorted(set(cfg["buckets"].values())):
                try:
                    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                        if keys:
                            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                    s3.delete_bucket(Bucket=bucket)
                except ClientError:
                    continue
        finally:
            s3.close()

    def registry(self) -> Any:
        from pytest_spine.handles import load_registry

        return load_registry(self.registry_path)


def stack_endpoints(stack_dir: Path) -> tuple[str, str, str]:
    """(kafka bootstrap, s3 endpoint, s3 region) of the running stack in ``stack_dir``."""
    from pytest_spine.stack.fixture import running_stack

    state = running_stack(Path(stack_dir))
    if state is None:
        raise RuntimeError(f"no running stack in {stack_dir}; start one with: spine stack up --dir {stack_dir}")
    endpoints = state.endpoints()
    return endpoints["kafka.bootstrap"], endpoints["s3.endpoint_url"], endpoints.get("s3.region", "us-east-1")


def new_suffix() -> str:
    return uuid.uuid4().hex[:10]


def topics_for(suffix: str) -> dict[str, dict[str, Any]]:
    """The instance's topic map: handle key -> {name, partitions}."""
    return {key: {"name": f"refbb-{suffix}.{stem}", "partitions": n} for key, (stem, n) in TOPICS.items()}


def make_platform(stack_dir: Path, workdir: Path, run_id: str, mutations: Iterable[str] = (),
                  crash: Mapping[str, Mapping[str, Any]] | None = None, name_suffix: str | None = None,
                  scenario: Mapping[str, Any] | None = None,
                  timeouts: Mapping[str, float] | None = None) -> PlatformHandle:
    """Write a reference platform config and its handles registry under ``workdir``; nothing is started.
    ``crash``: daemon (ig, rtdl, decision_lane) -> the fault point at which it SIGKILLs itself once (its
    supervisor starts it again). ``timeouts`` override the platform's (``stall_s``: how long a consumer may
    make no progress before ``run`` reports its lag)."""
    suffix = (name_suffix or new_suffix()).lower()
    bootstrap, s3_url, region = stack_endpoints(stack_dir)
    workdir = Path(workdir).resolve()
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_key = f"refbb-{uuid.uuid4().hex}"
    topics = topics_for(suffix)
    buckets = {f"S3_{role.upper()}_BUCKET": f"refbb-{suffix}-{role}"
               for role in ("evidence", "oracle", "archive", "quarantine")}
    groups = {key: f"refbb-{suffix}-{stem}" for key, stem in GROUPS.items()}
    config_path = workdir / "reference-platform.json"
    registry_path = workdir / "handles.yaml"
    commands = {name: [sys.executable, "-m", MODULE, name, "--config", str(config_path), "--platform-run-id",
                       "{platform_run_id}"] for name in (*COMMANDS, "provision")}
    config = {
        "name": "reference_impl", "platform_run_id": run_id, "env": "local_parity",
        "state_dir": str(workdir / "state"), "kafka_bootstrap": bootstrap, "s3_endpoint_url": s3_url,
        "s3_region": region,
        "gate": {"host": "127.0.0.1", "port": port, "max_envelope_bytes": 65536},
        "health_path": "/v1/ops/health", "ingest_path": "/v1/ingest", "ig_auth_header_name": API_KEY_HEADER,
        "required_platform_run_id_env_key": "REQUIRED_PLATFORM_RUN_ID",
        "buckets": buckets, "prefixes": dict(PREFIXES), "topics": topics, "consumer_groups": groups,
        "event_class_topics": {"ig_smoke": "FP_BUS_IG_SMOKE_V1"}, "event_classes": dict(EVENT_CLASSES),
        "knobs": dict(KNOBS), "scenario": {**SCENARIO, **dict(scenario or {})},
        "mutations": sorted(set(mutations)), "crash": {k: dict(v) for k, v in (crash or {}).items()},
        "timeouts": {"request_s": 10, "start_s": 90, "catch_up_s": 120, "stall_s": 20, "teardown_s": 30,
                     **dict(timeouts or {})},
    }
    registry = {
        "registry_version": "v0", "environment": "local_parity",
        "buckets": buckets, "prefixes": dict(PREFIXES), "topics": topics, "consumer_groups": groups,
        "ssm": {"SSM_IG_API_KEY_PATH": f"/refbb/{suffix}/ig/api_key"},
        "db": {"DB_ENGINE": "none", "DB_NAME": "none"},
        "fields": {"FIELD_PLATFORM_RUN_ID": "platform_run_id", "FIELD_SCENARIO_RUN_ID": "scenario_run_id",
                   "FIELD_WRITTEN_AT_UTC": "written_at_utc"},
        "ig": {"IG_AUTH_HEADER_NAME": API_KEY_HEADER, "IG_HEALTHCHECK_PATH": "/v1/ops/health",
               "IG_INGEST_PATH": "/v1/ingest", "IG_LISTEN_ADDR": "127.0.0.1", "IG_PORT": str(port),
               "IG_BASE_URL": base_url, "REQUIRED_PLATFORM_RUN_ID_ENV_KEY": "REQUIRED_PLATFORM_RUN_ID"},
        "kafka": {"KAFKA_BOOTSTRAP": bootstrap, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
        "aws": {"AWS_ENDPOINT_URL": s3_url, "AWS_REGION": region},
        "platform": {
            "name": "reference_impl",
            "event_classes": dict(EVENT_CLASSES),
            "control_topic": "FP_BUS_CONTROL_V1",
            "lanes": {key: {"inputs": list(lane["inputs"]), "output": lane["output"]} for key, lane in LANES.items()},
            "commands": {name: commands[name] for name in COMMANDS},
            "timeouts": {"request_s": 5, "command_s": 300},
        },
    }
    config_path.write_text(json.dumps(config, indent=1))
    registry_path.write_text("# the bundled reference as an external platform (tests/reference_impl/services)\n"
                             + yaml.safe_dump(registry, sort_keys=False, width=1000))
    return PlatformHandle(run_id, suffix, workdir, config_path, registry_path, api_key, base_url, s3_url, bootstrap,
                          commands)
