"""The dev_min target's set-up against the loopback stack posing as a live environment (a registry pointing at
the stack's Kafka and at moto's S3 and SSM). Verifying a whole platform as dev_min is in
``tests/pytest_spine/targets/test_external_platform.py``, against a platform the harness did not write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.handles import HandleError, default_registry_path
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from pytest_spine.targets.base import RunSpec
from pytest_spine.targets.dev_min import create_target
from reference_impl.runtime import DictEvidence

PLATFORM = {"event_classes": {"traffic_fraud": "FP_BUS_TRAFFIC_FRAUD_V1"},
            "lanes": {"RTDL_CORE_CONSUMER_GROUP_ID": {"inputs": ["FP_BUS_TRAFFIC_FRAUD_V1"],
                                                      "output": "FP_BUS_RTDL_V1"}}}


class ListRecorder:
    def __init__(self) -> None:
        self.ops: list[tuple[str, str, str, dict[str, Any]]] = []

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self.ops.append((process, type, f, value))


def _loopback_registry(stack: SessionStack, tmp_path: Path, **kafka: str) -> Path:
    document = yaml.safe_load(default_registry_path().read_text())
    document["environment"] = "dev_min"
    document["kafka"] = {"KAFKA_BOOTSTRAP": stack.endpoint("kafka.bootstrap"), "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
                         **kafka}
    document["aws"] = {"AWS_ENDPOINT_URL": stack.endpoint("s3.endpoint_url"), "AWS_REGION": "us-east-1"}
    document["ssm"]["SSM_IG_API_KEY_PATH"] = "/fraud-platform/dev_min/ig/api_key"
    document["platform"] = PLATFORM
    path = tmp_path / "dev_min.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_dev_min_needs_a_dev_min_registry_with_a_platform_section(tmp_path: Path) -> None:
    run = RunSpec(platform_run_id="platform_x", seed=0)
    with pytest.raises(ConfigError, match="--spine-env=dev_min needs --spine-handles PATH"):
        create_target().start(run, DictEvidence(), ListRecorder())
    with pytest.raises(HandleError, match=r"describes environment 'local_parity'; --spine-env=dev_min needs one "
                                          r"with 'environment: dev_min'"):
        create_target(handles=str(default_registry_path())).start(run, DictEvidence(), ListRecorder())
    document = yaml.safe_load(default_registry_path().read_text())
    document["environment"] = "dev_min"
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(HandleError, match=r"has no 'platform' section.*docs/verifying-your-platform.md"):
        create_target(handles=str(tmp_path / "r.yaml")).preflight()


@pytest.mark.services
def test_a_missing_ssm_secret_and_an_unreachable_broker_name_their_handles(
        local_stack: SessionStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
    monkeypatch.delenv("SPINE_KAFKA_API_KEY", raising=False)
    sasl = _loopback_registry(local_stack, tmp_path, KAFKA_SECURITY_PROTOCOL="SASL_SSL",
                              KAFKA_SASL_MECHANISM="PLAIN")
    with pytest.raises(EnvironmentFault, match=r"SSM handle SSM_CONFLUENT_API_KEY_PATH "
                                               r"\(/fraud-platform/local_parity/confluent/api_key\) cannot be read: "
                                               r"ParameterNotFound"):
        create_target(handles=str(sasl)).start(RunSpec(platform_run_id="p", seed=0), DictEvidence(), ListRecorder())
    (tmp_path / "b").mkdir()
    dead = _loopback_registry(local_stack, tmp_path / "b", KAFKA_BOOTSTRAP="127.0.0.1:1")
    with pytest.raises(EnvironmentFault, match=r"the broker of handle KAFKA_BOOTSTRAP \(127.0.0.1:1\) is not usable"):
        create_target(handles=str(dead)).start(RunSpec(platform_run_id="p", seed=0), DictEvidence(), ListRecorder())
