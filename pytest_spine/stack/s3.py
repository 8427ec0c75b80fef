"""An S3-compatible server on 127.0.0.1: moto's server mode as its own process (it also answers SSM,
which lets the loopback stack pose as dev_min's parameter store)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.processes import ProcessRecord, free_port, spawn, stop, wait_until

READY_TIMEOUT_S = 30.0
REGION = "us-east-1"
# moto accepts any credentials; these fixed dummies keep boto3 from searching the real credential chain.
LOCAL_ACCESS_KEY = "spine-local"
LOCAL_SECRET_KEY = "spine-local-secret"


@dataclass(frozen=True, slots=True)
class S3Handle:
    endpoint_url: str
    port: int
    region: str
    buckets: tuple[str, ...]
    process: ProcessRecord


def s3_client(endpoint_url: str, *, timeout_s: float = 5.0, service: str = "s3") -> Any:
    """A boto3 client for the loopback server, with timeouts and few retries so nothing hangs."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id=LOCAL_ACCESS_KEY,
        aws_secret_access_key=LOCAL_SECRET_KEY,
        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1},
                      s3={"addressing_style": "path"}),
    )


def start_s3(base_dir: Path, buckets: Iterable[str], *, port: int | None = None) -> S3Handle:
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    record = spawn("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                   base_dir / "s3.log")
    endpoint = f"http://127.0.0.1:{port}"
    wanted = tuple(dict.fromkeys(buckets))

    def buckets_ready() -> bool:
        client = s3_client(endpoint, timeout_s=2.0)
        for bucket in wanted:
            client.create_bucket(Bucket=bucket)
        present = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        return set(wanted) <= present

    try:
        wait_until(buckets_ready, record=record, what=f"buckets {', '.join(wanted) or '(none)'} created",
                   timeout_s=READY_TIMEOUT_S)
    except EnvironmentFault:
        stop(record, grace_s=2.0)
        raise
    return S3Handle(endpoint, port, REGION, wanted, record)


def stop_s3(handle: S3Handle) -> bool:
    return stop(handle.process, grace_s=5.0)
