"""The same stack through testcontainers (``--spine-stack=testcontainers``), where a Docker engine exists.

Without a reachable engine this path is refused with a reason naming what was looked for; callers turn
that into a skip (``pytest.skip(reason)``) or a usage error. Differences from the native stack, said
plainly: S3 is MinIO, and Toxiproxy fronts S3 and the ingestion gate but not Kafka (the Kafka container
advertises its own mapped port, so a proxy in front of it would be bypassed after bootstrap); scenarios
that need the Kafka proxy report NOT_APPLICABLE on this stack.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pytest_spine.clock import utc_iso
from pytest_spine.errors import TargetUnavailable
from pytest_spine.handles import HandlesRegistry, load_registry
from pytest_spine.stack.state import SERVICES, ServiceState, StackState

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
MINIO_IMAGE = "minio/minio:RELEASE.2024-06-13T22-53-53Z"
POSTGRES_IMAGE = "postgres:16-alpine"
TOXIPROXY_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"


def docker_unavailable_reason(timeout_s: float = 3.0) -> str | None:
    """None when a Docker engine answers a ping; otherwise why the testcontainers stack cannot run."""
    host = os.environ.get("DOCKER_HOST")
    if not host and not Path("/var/run/docker.sock").exists():
        return ("no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock does not exist; "
                "use --spine-stack=native (the default) or start Docker")
    try:
        import docker

        client = docker.from_env(timeout=int(max(1, timeout_s)))
        client.ping()
    except Exception as error:
        where = host or "unix:///var/run/docker.sock"
        return (f"the Docker engine at {where} does not answer ({type(error).__name__}: {error}); "
                "use --spine-stack=native or fix Docker")
    return None


def require_docker() -> None:
    reason = docker_unavailable_reason()
    if reason is not None:
        raise TargetUnavailable(f"--spine-stack=testcontainers cannot start: {reason}")


@contextmanager
def container_stack(services: Iterable[str] | None = None,
                    registry: HandlesRegistry | None = None) -> Iterator[StackState]:
    """Start the containers, create topics and buckets from the registry, yield the state, stop them."""
    require_docker()
    from testcontainers.core.container import DockerContainer

    registry = registry or load_registry()
    wanted = tuple(services or SERVICES)
    started_at = time.time()
    found: dict[str, ServiceState] = {}
    with ExitStack() as cleanup:
        if "kafka" in wanted:
            from testcontainers.community.kafka import KafkaContainer

            from pytest_spine.stack.kafka import ensure_topics

            kafka: Any = cleanup.enter_context(KafkaContainer(KAFKA_IMAGE).with_kraft())
            bootstrap = kafka.get_bootstrap_server()
            ensure_topics(bootstrap, {t.name: t.partitions for t in registry.topics.values()})
            found["kafka"] = ServiceState("kafka", None, {"bootstrap": bootstrap})
        if "s3" in wanted:
            from testcontainers.community.minio import MinioContainer

            from pytest_spine.stack.s3 import s3_client

            minio: Any = cleanup.enter_context(MinioContainer(MINIO_IMAGE))
            config = minio.get_config()
            endpoint = f"http://{config['endpoint']}"
            client = s3_client(endpoint)
            for bucket in registry.section("buckets").values():
                client.create_bucket(Bucket=bucket)
            found["s3"] = ServiceState("s3", None, {"endpoint_url": endpoint, "region": "us-east-1"},
                                       {"access_key": "(minio default)"})
        if "postgres" in wanted:
            from testcontainers.community.postgres import PostgresContainer

            pg: Any = cleanup.enter_context(PostgresContainer(POSTGRES_IMAGE, driver=None))
            found["postgres"] = ServiceState("postgres", None, {"dsn": pg.get_connection_url()})
        if "toxiproxy" in wanted:
            proxy: Any = cleanup.enter_context(DockerContainer(TOXIPROXY_IMAGE).with_exposed_ports(8474))
            api = f"http://{proxy.get_container_host_ip()}:{proxy.get_exposed_port(8474)}"
            found["toxiproxy"] = ServiceState("toxiproxy", None, {"api_url": api})
        yield StackState("(testcontainers)", "testcontainers", utc_iso(started_at), registry.source, found,
                         timings_s={"total": time.time() - started_at})
