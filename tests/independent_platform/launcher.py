"""Test helper: a miniplat instance over the running local stack, with its config, its handles registry
(``platform`` section included) and its commands.

Every instance gets its own topic, group and bucket names (from ``name_suffix``), so tests can run in
parallel without sharing a topic. ``kill_all`` SIGKILLs whatever the instance left running (test cleanup).
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

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "miniplat"
API_KEY_HEADER = "X-IG-Api-Key"

# topic handle key -> (name stem, partitions)
TOPICS: Mapping[str, tuple[str, int]] = {
    "FP_BUS_CONTROL_V1": ("control.v1", 1),
    "FP_BUS_TRAFFIC_FRAUD_V1": ("traffic.fraud.v1", 3),
    "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1": ("context.arrival_events.v1", 2),
    "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1": ("context.arrival_entities.v1", 1),
    "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1": ("context.flow_anchor.fraud.v1", 1),
    "FP_BUS_RTDL_V1": ("rtdl.v1", 3),
    "FP_BUS_AUDIT_V1": ("audit.v1", 1),
    "FP_BUS_CASE_TRIGGERS_V1": ("case.triggers.v1", 1),
    "FP_BUS_LABELS_EVENTS_V1": ("labels.events.v1", 1),
}
EVENT_CLASSES = {"traffic_fraud": "FP_BUS_TRAFFIC_FRAUD_V1",
                 "context_arrival_events": "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1"}
CONTROL_TOPIC = "FP_BUS_CONTROL_V1"
LANES: Mapping[str, Mapping[str, Any]] = {
    "rtdl_core": {"group_key": "RTDL_CORE_CONSUMER_GROUP_ID", "group_stem": "rtdl-core", "role": "rtdl",
                  "pack": "rtdl_core",
                  "inputs": ["FP_BUS_TRAFFIC_FRAUD_V1", "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1"],
                  "output": "FP_BUS_RTDL_V1"},
    "decision_lane": {"group_key": "DECISION_LANE_CONSUMER_GROUP_ID", "group_stem": "decision-lane",
                      "role": "decision", "pack": "rtdl_decision_lane", "inputs": ["FP_BUS_RTDL_V1"],
                      "output": "FP_BUS_AUDIT_V1"},
}
# registry prefix handle -> (config role, pattern)
PREFIXES: Mapping[str, tuple[str | None, str]] = {
    "S3_EVIDENCE_PREFIX_PATTERN": ("evidence", "evidence/runs/{platform_run_id}/"),
    "S3_RECEIPTS_PREFIX_PATTERN": ("receipts", "ig/receipts/{platform_run_id}/"),
    "S3_QUARANTINE_PREFIX_PATTERN": ("quarantine", "quarantine/{platform_run_id}/"),
    "S3_STREAM_VIEW_PREFIX_PATTERN": ("stream_view", "oracle/{platform_run_id}/stream_view/{output_id}/"),
    "S3_ORACLE_PREFIX_PATTERN": ("oracle_inputs", "oracle/{platform_run_id}/inputs/{output_id}/"),
    "S3_STREAM_VIEW_MANIFEST_PATTERN": ("manifest", "oracle/{platform_run_id}/manifests/{output_id}.json"),
    "S3_STREAM_SORT_RECEIPT_PATTERN": ("sort_receipt", "oracle/{platform_run_id}/receipts/{output_id}.json"),
    "ORACLE_CHECKER_RESULT_PATTERN": ("checker", "oracle/{platform_run_id}/checker/checker_pass.json"),
    "S3_ARCHIVE_PREFIX_PATTERN": (None, "archive/{platform_run_id}/"),
    "EVIDENCE_RUN_JSON_KEY": (None, "evidence/runs/{platform_run_id}/run.json"),
    "REPORTER_LOCK_KEY_PATTERN": ("reporter_lock", "control/reporter_locks/{platform_run_id}.json"),
    "SR_LEASE_KEY_PATTERN": ("sr_lease", "control/sr_leases/{lease_id}.json"),
    "S3_ACTIONS_PREFIX_PATTERN": ("actions", "actions/{platform_run_id}/"),
    "S3_CASES_PREFIX_PATTERN": ("cases", "cases/{platform_run_id}/"),
}
SCENARIO: Mapping[str, Any] = {"seed": 7, "traffic_rows": 60, "context_rows": 30, "shard_rows": 25,
                               "outputs": ["traffic_fraud", "context_arrival_events"], "wsp_workers": 4,
                               "wsp_batch": 20, "concurrent_pairs": 4, "replays": 2, "malformed": 1,
                               "payload_changes": 1}
COMMANDS = ("start", "run", "teardown")


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
            raise RuntimeError(f"miniplat {self.name} exited {self.returncode} after {self.seconds:.1f}s:\n"
                               f"{self.stderr[-4000:]}")
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
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, [env.get("PYTHONPATH")])])
        env.update({"MINIPLAT_API_KEY": self.api_key, "SPINE_IG_API_KEY": self.api_key,
                    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1", "PYTHONUNBUFFERED": "1"})
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
        """Create the topics and buckets (``start`` does too): a harness checks they exist before ``start``."""
        return self._exec("provision", timeout_s, check)

    def start(self, timeout_s: float = 90.0, check: bool = True) -> CommandResult:
        return self._exec("start", timeout_s, check)

    def run(self, timeout_s: float = 180.0, check: bool = True) -> CommandResult:
        return self._exec("run", timeout_s, check)

    def teardown(self, timeout_s: float = 90.0, check: bool = True) -> CommandResult:
        return self._exec("teardown", timeout_s, check)

    def pids(self) -> dict[str, int]:
        """Every daemon pid this instance recorded (running or stopped)."""
        found: dict[str, int] = {}
        for name in ("pids.json", "pids.stopped.json"):
            path = self.state_dir / name
            if path.exists():
                for daemon, proc in json.loads(path.read_text()).get("processes", {}).items():
                    found.setdefault(daemon, int(proc["pid"]))
        return found

    def alive(self) -> dict[str, int]:
        """The recorded daemons still running (their command line still names this config)."""
        return {name: pid for name, pid in self.pids().items() if _ours(pid, self.config_path)}

    def kill_all(self) -> list[int]:
        killed = []
        for pid in self.alive().values():
            try:
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 10
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        return killed

    def destroy(self, timeout_s: float = 30.0) -> None:
        """Delete this instance's topics and buckets (its names carry its suffix; nothing else is touched).
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


def _ours(pid: int, config_path: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z" and str(config_path).encode() in cmdline


def stack_endpoints(stack_dir: Path) -> tuple[str, str, str]:
    """(kafka bootstrap, s3 endpoint, s3 region) of the running stack in ``stack_dir``."""
    from pytest_spine.stack.fixture import running_stack

    state = running_stack(Path(stack_dir))
    if state is None:
        raise RuntimeError(f"no running stack in {stack_dir}; start one with: spine stack up --dir {stack_dir}")
    endpoints = state.endpoints()
    return endpoints["kafka.bootstrap"], endpoints["s3.endpoint_url"], endpoints.get("s3.region", "us-east-1")


def make_platform(stack_dir: Path, workdir: Path, run_id: str, defects: Iterable[str] = (),
                  name_suffix: str | None = None, knobs: Mapping[str, Any] | None = None,
                  traffic_source: str = "platform") -> PlatformHandle:
    """Write a miniplat config and its handles registry under ``workdir``; nothing is started. With
    ``traffic_source="harness"`` the registry asks the harness to stream: the platform's ``run`` stops after
    READY (P5) and its ``close`` command does P7..P11."""
    suffix = (name_suffix or uuid.uuid4().hex[:10]).lower()
    bootstrap, s3_url, region = stack_endpoints(stack_dir)
    workdir = Path(workdir).resolve()
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api_key = f"miniplat-{uuid.uuid4().hex}"
    topics = {key: {"name": f"indie-{suffix}.{stem}", "partitions": n} for key, (stem, n) in TOPICS.items()}
    buckets = {role: f"indie-{suffix}-{role}" for role in ("evidence", "oracle", "archive", "quarantine")}
    groups = {lane["group_key"]: f"indie-{suffix}-{lane['group_stem']}" for lane in LANES.values()}
    config_path = workdir / "miniplat.json"
    registry_path = workdir / "handles.yaml"
    python = sys.executable
    commands = {name: [python, str(PACKAGE), name, "--config", str(config_path), "--platform-run-id",
                       "{platform_run_id}"] for name in (*COMMANDS, "provision")}
    commands["ready"] = [*commands["run"], "--to-phase", "P5"]
    commands["close"] = [*commands["run"], "--from-phase", "P7"]
    config = {
        "name": "miniplat", "platform_run_id": run_id, "env": "local_parity", "state_dir": str(workdir / "state"),
        "kafka": {"bootstrap": bootstrap}, "aws": {"endpoint_url": s3_url, "region": region},
        "gate": {"host": "127.0.0.1", "port": port, "ingest_path": "/v1/ingest", "health_path": "/v1/ops/health",
                 "stats_path": "/v1/ops/stats", "auth_header": API_KEY_HEADER, "max_envelope_bytes": 65536,
                 "publish_timeout_s": 5.0, "request_timeout_s": 5.0},
        "buckets": buckets,
        "prefixes": {role: pattern for role, pattern in PREFIXES.values() if role is not None},
        "topics": topics, "event_classes": dict(EVENT_CLASSES), "control_topic": CONTROL_TOPIC,
        "lanes": {name: {"group": groups[lane["group_key"]], "group_key": lane["group_key"], "role": lane["role"],
                         "pack": lane["pack"], "inputs": list(lane["inputs"]), "output": lane["output"]}
                  for name, lane in LANES.items()},
        "scenario": {**SCENARIO, **(knobs or {})}, "lag_max": 0, "defects": sorted(set(defects)),
    }
    registry = {
        "registry_version": "v0", "environment": "local_parity",
        "buckets": {f"S3_{role.upper()}_BUCKET": name for role, name in buckets.items()},
        "prefixes": {key: pattern for key, (_, pattern) in PREFIXES.items()},
        "topics": topics,
        "consumer_groups": groups,
        "ssm": {"SSM_IG_API_KEY_PATH": f"/miniplat/{suffix}/ig/api_key"},
        "db": {"DB_ENGINE": "none", "DB_NAME": "none"},
        "fields": {"FIELD_PLATFORM_RUN_ID": "platform_run_id", "FIELD_SCENARIO_RUN_ID": "scenario_run_id",
                   "FIELD_WRITTEN_AT_UTC": "written_at_utc"},
        "ig": {"IG_AUTH_HEADER_NAME": API_KEY_HEADER, "IG_HEALTHCHECK_PATH": "/v1/ops/health",
               "IG_INGEST_PATH": "/v1/ingest", "IG_LISTEN_ADDR": "127.0.0.1", "IG_PORT": str(port),
               "IG_BASE_URL": base_url, "REQUIRED_PLATFORM_RUN_ID_ENV_KEY": "REQUIRED_PLATFORM_RUN_ID"},
        "kafka": {"KAFKA_BOOTSTRAP": bootstrap, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"},
        "aws": {"AWS_ENDPOINT_URL": s3_url, "AWS_REGION": region},
        "platform": {
            "name": "miniplat",
            "event_classes": dict(EVENT_CLASSES),
            "control_topic": CONTROL_TOPIC,
            "lanes": {lane["group_key"]: {"inputs": list(lane["inputs"]), "output": lane["output"]}
                      for lane in LANES.values()},
            "commands": {name: commands[name] for name in COMMANDS},
            "timeouts": {"request_s": 5, "command_s": 300},
            # Small chaos budgets: the suite's scenarios against this platform stay seconds long.
            "chaos_budgets": {"max_events": 60, "max_rate_per_s": 400, "max_duration_s": 20},
        },
    }
    if traffic_source == "harness":
        registry["platform"]["traffic_source"] = "harness"
        registry["platform"]["commands"] = {"start": commands["start"], "run": commands["ready"],
                                            "close": commands["close"], "teardown": commands["teardown"]}
    config_path.write_text(json.dumps(config, indent=1))
    registry_path.write_text("# miniplat: an independent platform under test (tests/independent_platform)\n"
                             + yaml.safe_dump(registry, sort_keys=False, width=1000))
    return PlatformHandle(run_id, suffix, workdir, config_path, registry_path, api_key, base_url, s3_url, bootstrap,
                          commands)
