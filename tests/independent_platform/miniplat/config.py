"""The platform's configuration file (JSON), the run id and key it runs under, and its clients.

The file names every resource by the same handle keys as the registry the launcher wrote beside it
(topics by ``FP_BUS_*`` key, consumer groups by ``*_CONSUMER_GROUP_ID`` key). The run id comes from
``--platform-run-id``, else ``REQUIRED_PLATFORM_RUN_ID``, else the file; daemons accept only the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miniplat.defects import Defects

RUN_ID_ENV = "REQUIRED_PLATFORM_RUN_ID"
KEY_ENVS = ("MINIPLAT_API_KEY", "SPINE_IG_API_KEY")
CONFIG_ENV = "MINIPLAT_CONFIG"


class ConfigProblem(Exception):
    pass


@dataclass(frozen=True)
class Config:
    path: Path
    doc: Mapping[str, Any]
    platform_run_id: str
    defects: Defects

    # ---- plain values
    @property
    def name(self) -> str:
        return str(self.doc.get("name", "miniplat"))

    @property
    def env(self) -> str:
        return str(self.doc.get("env", "local_parity"))

    @property
    def state_dir(self) -> Path:
        return Path(self.doc["state_dir"])

    @property
    def bootstrap(self) -> str:
        return str(self.doc["kafka"]["bootstrap"])

    @property
    def gate(self) -> Mapping[str, Any]:
        return self.doc["gate"]

    @property
    def gate_base_url(self) -> str:
        return f"http://{self.gate['host']}:{int(self.gate['port'])}"

    @property
    def scenario(self) -> Mapping[str, Any]:
        return self.doc["scenario"]

    @property
    def event_classes(self) -> dict[str, str]:
        """event_class -> topic name."""
        return {cls: self.topic(key) for cls, key in self.doc["event_classes"].items()}

    @property
    def lanes(self) -> dict[str, Mapping[str, Any]]:
        return dict(self.doc["lanes"])

    def topic(self, key: str) -> str:
        return str(self.doc["topics"][key]["name"])

    def topic_specs(self) -> dict[str, int]:
        """topic name -> partitions, for every topic of the map."""
        return {spec["name"]: int(spec["partitions"]) for spec in self.doc["topics"].values()}

    @property
    def control_topic(self) -> str:
        return self.topic(self.doc["control_topic"])

    def lane_inputs(self, lane: str) -> list[str]:
        return [self.topic(k) for k in self.doc["lanes"][lane]["inputs"]]

    def lane_output(self, lane: str) -> str:
        return self.topic(self.doc["lanes"][lane]["output"])

    def lane_group(self, lane: str) -> str:
        return str(self.doc["lanes"][lane]["group"])

    def bucket(self, role: str) -> str:
        return str(self.doc["buckets"][role])

    def prefix(self, role: str, **params: str) -> str:
        return str(self.doc["prefixes"][role]).format(platform_run_id=self.platform_run_id, **params)

    def evidence_key(self, relpath: str) -> str:
        return self.prefix("evidence") + relpath

    # ---- clients
    def kafka_conf(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 10000,
                "socket.connection.setup.timeout.ms": 10000}

    def s3(self) -> Any:
        import boto3
        from botocore.config import Config as BotoConfig

        aws = self.doc.get("aws", {})
        endpoint = aws.get("endpoint_url")
        kwargs: dict[str, Any] = {}
        if endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
            # A local S3 stand-in accepts any credentials; real AWS uses the normal credential chain.
            kwargs = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=aws.get("region", "us-east-1"),
            config=BotoConfig(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3}), **kwargs)


def api_key_from_env() -> str | None:
    for name in KEY_ENVS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def load(path: str | Path, run_id: str | None = None, *, daemon: bool = False) -> Config:
    source = Path(path)
    try:
        doc = json.loads(source.read_text())
    except (OSError, ValueError) as error:
        raise ConfigProblem(f"cannot read the config {source}: {error}") from None
    if daemon:
        # Daemons fail closed: the run they serve comes from the environment only.
        resolved = os.environ.get(RUN_ID_ENV)
        if not resolved:
            raise ConfigProblem(f"{RUN_ID_ENV} is not set; a daemon refuses to start without its run id")
    else:
        resolved = run_id or os.environ.get(RUN_ID_ENV) or doc.get("platform_run_id")
        if not resolved:
            raise ConfigProblem("no platform_run_id: pass --platform-run-id, set REQUIRED_PLATFORM_RUN_ID, or put "
                                "it in the config")
    return Config(source.resolve(), doc, str(resolved), Defects(doc.get("defects", ())))
