"""A single-node Apache Kafka in KRaft mode (combined broker + controller) on 127.0.0.1.

The broker has two client listeners: DIRECT (advertised as itself; the harness's admin and checks use it,
so they see the truth while a fault is armed) and PROXIED (advertised as the Toxiproxy listen port, so a
client that bootstraps through the proxy keeps all its traffic on the proxy: Kafka hands out the
advertised address of the listener a request came in on, and a proxy in front of a broker is useless
unless the broker advertises the proxy).
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.install import KafkaInstall, install_kafka
from pytest_spine.stack.processes import (
    ProcessRecord,
    exit_code,
    free_port,
    is_running,
    log_tail,
    spawn,
    stop,
    wait_until,
)

READY_TIMEOUT_S = 90.0
ADMIN_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class KafkaHandle:
    bootstrap: str  # DIRECT listener: host:port
    port: int
    proxied_listener_port: int  # where Toxiproxy forwards to
    advertised_proxy_port: int  # what the PROXIED listener advertises (the Toxiproxy listen port)
    controller_port: int
    data_dir: str
    cluster_id: str
    process: ProcessRecord


def cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, url-safe base64 without padding. One starting with '-' is
    drawn again: the storage tool's argument parser would take it for an option."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


def _server_properties(data_dir: Path, port: int, proxied_port: int, advertised_proxy_port: int,
                       controller_port: int) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        f"listeners=DIRECT://127.0.0.1:{port},PROXIED://127.0.0.1:{proxied_port},"
        f"CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=DIRECT://127.0.0.1:{port},PROXIED://127.0.0.1:{advertised_proxy_port}",
        "listener.security.protocol.map=DIRECT:PLAINTEXT,PROXIED:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=DIRECT",
        "controller.listener.names=CONTROLLER",
        f"log.dirs={data_dir / 'log'}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        # Topics are created from the handles registry only; a typo must fail, not create a new topic.
        "auto.create.topics.enable=false",
        "log.retention.hours=2",
        "",
    ])


def broker_probe(bootstrap: str) -> Callable[[], bool]:
    """A readiness probe over one AdminClient (librdkafka's connection-refused chatter silenced)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 3000, "log_level": 0})

    def ready() -> bool:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
        return bool(metadata.brokers)

    return ready


def start_kafka(base_dir: Path, *, port: int | None = None, advertised_proxy_port: int | None = None,
                install: KafkaInstall | None = None, heap: str = "512m") -> KafkaHandle:
    """Format a fresh KRaft log dir under ``base_dir`` and start the broker; returns once metadata answers."""
    if install is None:
        install, _ = install_kafka()
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proxied_port = free_port()
    controller_port = free_port()
    advertised = advertised_proxy_port or proxied_port
    props = base_dir / "server.properties"
    props.write_text(_server_properties(base_dir, port, proxied_port, advertised, controller_port))
    new_id = cluster_id()
    java = [install.java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            "-cp", install.classpath]
    log_path = base_dir / "kafka.log"
    formatter = spawn("kafka-storage-format",
                      [*java, "kafka.tools.StorageTool", "format", "-t", new_id, "-c", str(props),
                       "--ignore-formatted"], log_path)
    _wait_exit(formatter, timeout_s=120.0)
    record = spawn("kafka", [*java, "kafka.Kafka", str(props)], log_path)
    bootstrap = f"127.0.0.1:{port}"
    try:
        wait_until(broker_probe(bootstrap), record=record, what="broker metadata answers",
                   timeout_s=READY_TIMEOUT_S, interval_s=0.5)
    except EnvironmentFault:
        stop(record, grace_s=2.0)
        raise
    return KafkaHandle(bootstrap, port, proxied_port, advertised, controller_port, str(base_dir), new_id,
                       record)


def _wait_exit(record: ProcessRecord, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(record):
            code = exit_code(record)
            if code not in (0, None):
                raise EnvironmentFault(f"formatting the KRaft log dir failed (exit {code}); log {record.log_path} "
                                       f"ends:\n{log_tail(record.log_path)}")
            return
        time.sleep(0.2)
    stop(record, grace_s=1.0)
    raise EnvironmentFault(f"formatting the KRaft log dir took over {timeout_s:.0f}s; log {record.log_path} "
                           f"ends:\n{log_tail(record.log_path)}")


def stop_kafka(handle: KafkaHandle) -> bool:
    return stop(handle.process, grace_s=15.0)


def ensure_topics(bootstrap: str, topics: dict[str, int], *, timeout_s: float = 20.0) -> dict[str, int]:
    """Create missing topics with their partition counts; returns what the broker then reports.

    An existing topic with another partition count is left alone: the P0 check reports it by handle."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 0})
    existing = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    wanted = [NewTopic(name, num_partitions=parts, replication_factor=1)
              for name, parts in topics.items() if name not in existing]
    if wanted:
        futures = admin.create_topics(wanted, operation_timeout=timeout_s, request_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
            except KafkaException as error:
                if "TOPIC_ALREADY_EXISTS" not in str(error):
                    raise EnvironmentFault(f"creating topic {name!r} on {bootstrap} failed: {error}") from None
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_S)
    return {name: len(meta.partitions) for name, meta in metadata.topics.items() if not name.startswith("__")}


def reset_topics(bootstrap: str, topics: dict[str, int], groups: list[str] | tuple[str, ...] = (), *,
                 drop_unregistered: bool = False, timeout_s: float = 30.0) -> dict[str, int]:
    """Delete and recreate ``topics`` (and delete ``groups``) so a run starts on empty logs with no stale
    commits, as the in-memory bus does; with ``drop_unregistered`` every other (non-internal) topic goes too,
    so the broker holds exactly the registry's topic map. For the throwaway local stack only: a live cluster
    is never reset."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, "log_level": 0})
    present = set(admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics)
    doomed = [name for name in present if name in topics or (drop_unregistered and not name.startswith("__"))]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=timeout_s,
                                          request_timeout=timeout_s).values():
            with contextlib.suppress(Exception):  # already gone is fine; what is left shows below
                future.result(timeout=timeout_s)
    if groups:
        with contextlib.suppress(Exception):
            for future in admin.delete_consumer_groups(list(groups), request_timeout=timeout_s).values():
                with contextlib.suppress(Exception):  # a group that never committed does not exist
                    future.result(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while doomed and time.monotonic() < deadline:
        left = set(admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics) & set(doomed)
        if not left:
            break
        time.sleep(0.2)
    while True:
        try:
            found = ensure_topics(bootstrap, topics, timeout_s=timeout_s)
        except EnvironmentFault:
            # A deleted topic can linger in the controller for a moment: creating it again is retried.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
            continue
        if all(found.get(name) == parts for name, parts in topics.items()):
            return found
        if time.monotonic() > deadline:
            raise EnvironmentFault(f"topics on {bootstrap} were not recreated within {timeout_s:.0f}s: "
                                   f"wanted {topics}, found {found}")
        time.sleep(0.3)
