"""The dev_min target against the loopback stack posing as a live environment (a registry pointing at the
stack's Kafka and at moto's S3 and SSM). Kept beside the stack tests: it shares their session stack."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_spine.errors import ConfigError, EnvironmentFault
from pytest_spine.handles import HandleError, default_registry_path
from pytest_spine.stack.fixture import SessionStack
from pytest_spine.stack.kafka import reset_topics
from pytest_spine.stack.s3 import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, s3_client
from pytest_spine.targets.base import PHASE_IDS, ProbeNotSupported, RunSpec
from pytest_spine.targets.dev_min import DevMinTarget
from reference_impl.runtime import DictEvidence


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
    path = tmp_path / "dev_min.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def live(local_stack: SessionStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The loopback stack posing as dev_min: AWS credentials from the normal chain (env), the gate's key in
    SSM, the registry's topics freshly created."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
    monkeypatch.delenv("SPINE_IG_API_KEY", raising=False)
    registry = _loopback_registry(local_stack, tmp_path)
    document = yaml.safe_load(registry.read_text())
    # dev_min's demo stack is created fresh for each demo (seed 003: demo -> destroy), so its topics start
    # empty; the reference platform's P4 read-back assumes that (it polls at most 1000 records).
    reset_topics(local_stack.endpoint("kafka.bootstrap"),
                 {t["name"]: t["partitions"] for t in document["topics"].values()},
                 list(document["consumer_groups"].values()))
    key = f"live-key-{uuid.uuid4().hex}"
    ssm = s3_client(local_stack.endpoint("s3.endpoint_url"), service="ssm")
    ssm.put_parameter(Name=document["ssm"]["SSM_IG_API_KEY_PATH"], Value=key, Type="SecureString", Overwrite=True)
    return registry, key


def _run_id() -> str:
    return f"platform_20260101T000000Z_{uuid.uuid4().hex[:8]}"


def _phases(target: DevMinTarget) -> dict[str, Any]:
    outcomes = {}
    for phase in PHASE_IDS:
        outcomes[phase] = target.run_phase(phase)
        if not outcomes[phase].completed:
            break
    return outcomes


def test_dev_min_needs_a_dev_min_registry() -> None:
    run = RunSpec(platform_run_id="platform_x", seed=0)
    with pytest.raises(ConfigError, match="--spine-env=dev_min needs --spine-handles PATH"):
        DevMinTarget().start(run, DictEvidence(), ListRecorder())
    with pytest.raises(HandleError, match=r"describes environment 'local_parity'; --spine-env=dev_min needs one "
                                          r"with 'environment: dev_min'"):
        DevMinTarget(handles=str(default_registry_path())).start(run, DictEvidence(), ListRecorder())


@pytest.mark.services
@pytest.mark.slow
def test_a_destructive_run_then_a_read_only_verification_of_it(live: tuple[Path, str],
                                                                local_stack: SessionStack) -> None:
    registry, key = live
    run_id = _run_id()
    writer = DevMinTarget(handles=str(registry))
    written = DictEvidence()
    writer.start(RunSpec(platform_run_id=run_id, seed=3, allow_destructive=True), written, ListRecorder())
    try:
        produced = _phases(writer)
        assert all(o.completed for o in produced.values()) and list(produced) == list(PHASE_IDS)
    finally:
        writer.stop()
    bootstrap_ends = _ends(local_stack)

    verifier = DevMinTarget(handles=str(registry))
    read = DictEvidence()
    verifier.start(RunSpec(platform_run_id=run_id, seed=3), read, ListRecorder())
    try:
        observed = _phases(verifier)
        with pytest.raises(ProbeNotSupported, match="dev_min is read-only without --spine-allow-destructive"):
            verifier.probe("unauthenticated_ingest")
        assert verifier.probe("substrate")["problems"] == []
        described = verifier.describe()
    finally:
        verifier.stop()
    assert [(p, o.completed) for p, o in observed.items()] == [(p, True) for p in PHASE_IDS]
    assert read.documents == written.documents  # every evidence file came back, byte for byte as JSON
    assert observed["P8"].facts["max_lag"] == produced["P8"].facts["max_lag"]
    assert observed["P11"].facts["replay_anchor_problems"] == []
    assert _ends(local_stack) == bootstrap_ends  # read-only sent nothing
    assert described["read_only"] is True
    assert described["credential_sources"] == {"kafka_bootstrap": "registry:KAFKA_BOOTSTRAP",
                                               "ig_api_key": "ssm:SSM_IG_API_KEY_PATH"}
    everything = json.dumps([read.documents, described, [o.facts for o in observed.values()]], default=str)
    assert key not in everything


def _ends(stack: SessionStack) -> dict[str, Any]:
    from reference_impl.adapters.kafka_bus import KafkaBus

    bus = KafkaBus(stack.endpoint("kafka.bootstrap"), timeout_s=5.0)
    try:
        return {t: dict(bus.end_offsets(t)) for t in ("fp.bus.traffic.fraud.v1", "fp.bus.control.v1")}
    finally:
        bus.close()


@pytest.mark.services
@pytest.mark.slow
def test_tampered_replay_anchors_fail_the_read_only_verification(live: tuple[Path, str],
                                                                 local_stack: SessionStack) -> None:
    registry, _ = live
    run_id = _run_id()
    writer = DevMinTarget(handles=str(registry))
    writer.start(RunSpec(platform_run_id=run_id, seed=4, allow_destructive=True), DictEvidence(), ListRecorder())
    try:
        assert all(o.completed for o in _phases(writer).values())
    finally:
        writer.stop()
    # The bad input: anchors that claim more than the topic holds (a run whose evidence lies).
    s3 = s3_client(local_stack.endpoint("s3.endpoint_url"))
    bucket, key = "fraud-platform-local-parity-evidence", f"evidence/runs/{run_id}/replay_anchors.json"
    anchors = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    anchors["anchors"][0]["end_offset"] += 1_000_000
    s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(anchors).encode())
    verifier = DevMinTarget(handles=str(registry))
    verifier.start(RunSpec(platform_run_id=run_id, seed=4), DictEvidence(), ListRecorder())
    try:
        observed = _phases(verifier)
    finally:
        verifier.stop()
    assert observed["P11"].completed is False
    assert observed["P11"].error is not None
    assert observed["P11"].error.startswith("replay anchors do not match the topics: anchor fp.bus.control.v1[0] "
                                            "ends at 1000001 but the topic's end offset is")


@pytest.mark.services
def test_an_unknown_run_is_reported_not_passed(live: tuple[Path, str]) -> None:
    registry, _ = live
    target = DevMinTarget(handles=str(registry))
    target.start(RunSpec(platform_run_id="platform_20260101T000000Z_nosuchrun", seed=0), DictEvidence(),
                 ListRecorder())
    try:
        outcome = target.run_phase("P(-1)")
    finally:
        target.stop()
    assert outcome.completed is False
    assert outcome.error == ("no evidence for run 'platform_20260101T000000Z_nosuchrun' under "
                             "s3://fraud-platform-local-parity-evidence/evidence/runs/"
                             "platform_20260101T000000Z_nosuchrun/: pass the id of an existing run with "
                             "--spine-run-id")


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
        DevMinTarget(handles=str(sasl)).start(RunSpec(platform_run_id="p", seed=0), DictEvidence(), ListRecorder())
    (tmp_path / "b").mkdir()
    dead = _loopback_registry(local_stack, tmp_path / "b", KAFKA_BOOTSTRAP="127.0.0.1:1")
    with pytest.raises(EnvironmentFault, match=r"the broker of handle KAFKA_BOOTSTRAP \(127.0.0.1:1\) is not usable"):
        DevMinTarget(handles=str(dead)).start(RunSpec(platform_run_id="p", seed=0), DictEvidence(), ListRecorder())
