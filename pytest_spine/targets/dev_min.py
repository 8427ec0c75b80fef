"""The ``dev_min`` target: a live platform described by a handles registry (``--spine-handles PATH``,
``environment: dev_min``, with a ``platform`` section), verified as a black box by
``pytest_spine.targets.external``: read-only by default, drills and the registry's commands only with
``--spine-allow-destructive``.

This module resolves the connection. The Kafka bootstrap is ``KAFKA_BOOTSTRAP`` (a literal, or ``from-ssm`` to
read ``SSM_CONFLUENT_BOOTSTRAP_PATH``), SASL credentials come from ``SPINE_KAFKA_API_KEY``/``SPINE_KAFKA_API_SECRET``
or the SSM paths, S3 and SSM use the normal AWS credential chain (``AWS_ENDPOINT_URL`` in the registry's
``aws`` section points them elsewhere, e.g. at the loopback stack posing as live), the gate's key comes from
``SPINE_IG_API_KEY`` or ``SSM_IG_API_KEY_PATH``. Credentials are registered with the bundle's redactor and
never written to evidence, facts or messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.errors import EnvironmentFault
from pytest_spine.handles import HandlesRegistry

FROM_SSM = "from-ssm"

@dataclass(frozen=True, slots=True)
class DevMinConnection:
    bootstrap: str
    kafka_config: Mapping[str, str] = field(repr=False)  # may hold SASL credentials
    s3_endpoint_url: str | None
    region: str
    ig_base_url: str | None
    ig_api_key: str | None = field(repr=False)
    sources: Mapping[str, str] = field(default_factory=dict)  # where each setting came from (never values)

    def secrets(self) -> list[str]:
        found = [v for k, v in self.kafka_config.items() if k in ("sasl.username", "sasl.password") and v]
        if self.ig_api_key:
            found.append(self.ig_api_key)
        return found


def _ssm_client(registry: HandlesRegistry, timeout_s: float) -> Any:
    import boto3
    from botocore.config import Config

    aws = registry.section("aws")
    return boto3.client("ssm", endpoint_url=aws.get("AWS_ENDPOINT_URL"), region_name=aws.get("AWS_REGION",
                                                                                            "us-east-1"),
                        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                      retries={"max_attempts": 2}))


def _ssm_value(registry: HandlesRegistry, handle: str, timeout_s: float) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    path = registry.resolve(handle)
    try:
        answer = _ssm_client(registry, timeout_s).get_parameter(Name=path, WithDecryption=True)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise EnvironmentFault(f"SSM handle {handle} ({path}) cannot be read: {code}; create the parameter or fix "
                               "the credentials") from None
    except BotoCoreError as error:
        raise EnvironmentFault(f"SSM handle {handle} ({path}) cannot be read: {error}") from None
    return str(answer["Parameter"]["Value"])


def resolve_connection(registry: HandlesRegistry, environ: Mapping[str, str] | None = None,
                       timeout_s: float = 10.0) -> DevMinConnection:
    env = os.environ if environ is None else environ
    kafka = registry.section("kafka")
    sources: dict[str, str] = {}
    bootstrap = kafka["KAFKA_BOOTSTRAP"]
    if bootstrap == FROM_SSM:
        bootstrap = _ssm_value(registry, "SSM_CONFLUENT_BOOTSTRAP_PATH", timeout_s)
        sources["kafka_bootstrap"] = "ssm:SSM_CONFLUENT_BOOTSTRAP_PATH"
    else:
        sources["kafka_bootstrap"] = "registry:KAFKA_BOOTSTRAP"
    config: dict[str, str] = {"security.protocol": kafka.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")}
    if config["security.protocol"].startswith("SASL"):
        config["sasl.mechanism"] = kafka.get("KAFKA_SASL_MECHANISM", "PLAIN")
        for setting, env_name, handle in (("sasl.username", "SPINE_KAFKA_API_KEY", "SSM_CONFLUENT_API_KEY_PATH"),
                                          ("sasl.password", "SPINE_KAFKA_API_SECRET",
                                           "SSM_CONFLUENT_API_SECRET_PATH")):
            if env.get(env_name):
                config[setting] = env[env_name]
                sources[setting] = f"env:{env_name}"
            else:
                config[setting] = _ssm_value(registry, handle, timeout_s)
                sources[setting] = f"ssm:{handle}"
    ig = registry.section("ig")
    ig_key: str | None = None
    if env.get("SPINE_IG_API_KEY"):
        ig_key, sources["ig_api_key"] = env["SPINE_IG_API_KEY"], "env:SPINE_IG_API_KEY"
    elif "SSM_IG_API_KEY_PATH" in registry.section("ssm"):
        try:
            ig_key, sources["ig_api_key"] = _ssm_value(registry, "SSM_IG_API_KEY_PATH", timeout_s), \
                "ssm:SSM_IG_API_KEY_PATH"
        except EnvironmentFault:
            sources["ig_api_key"] = "unavailable"  # only destructive drills need it; they say so
    aws = registry.section("aws")
    return DevMinConnection(bootstrap, config, aws.get("AWS_ENDPOINT_URL"), aws.get("AWS_REGION", "us-east-1"),
                            ig.get("IG_BASE_URL"), ig_key, sources)


def create_target(**options: Any) -> Any:
    """dev_min is always a black box: the harness drives the live gate and observes the live substrate."""
    from pytest_spine.targets.external import ExternalPlatformTarget

    options.pop("env_name", None)
    return ExternalPlatformTarget(env_name="dev_min", **options)
