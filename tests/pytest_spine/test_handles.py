from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_spine.handles import (
    HandleError,
    check_handles,
    default_registry_path,
    load_registry,
    parse_markdown_registry,
    registry_from_document,
    substrate_problems,
)
from pytest_spine.verdicts import Status


def _document() -> dict:
    return yaml.safe_load(default_registry_path().read_text())


def _write(tmp_path: Path, document: dict, name: str = "handles.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def test_shipped_local_parity_registry_resolves_topics_buckets_and_prefixes() -> None:
    registry = load_registry()
    assert registry.environment == "local_parity"
    assert registry.topic("FP_BUS_TRAFFIC_FRAUD_V1").name == "fp.bus.traffic.fraud.v1"
    assert registry.topic("FP_BUS_TRAFFIC_FRAUD_V1").partitions == 3
    assert registry.bucket("S3_EVIDENCE_BUCKET") == "fraud-platform-local-parity-evidence"
    assert registry.prefix("S3_EVIDENCE_PREFIX_PATTERN", platform_run_id="p1") == "evidence/runs/p1/"
    assert registry.resolve("IG_AUTH_HEADER_NAME") == "X-IG-Api-Key"
    assert registry.resolve("SSM_IG_API_KEY_PATH").startswith("/fraud-platform/")


def test_misspelled_topic_handle_is_named_with_a_suggestion(tmp_path: Path) -> None:
    document = _document()
    document["topics"]["FP_BUS_RTDL_V2"] = document["topics"].pop("FP_BUS_RTDL_V1")
    with pytest.raises(HandleError) as caught:
        load_registry(_write(tmp_path, document))
    message = str(caught.value)
    assert "missing handle 'FP_BUS_RTDL_V1' in section 'topics'" in message
    assert "did you mean 'FP_BUS_RTDL_V2'?" in message
    assert str(tmp_path / "handles.yaml") in message


def test_wrong_partition_count_and_bad_bucket_name_name_the_handle(tmp_path: Path) -> None:
    document = _document()
    document["topics"]["FP_BUS_AUDIT_V1"]["partitions"] = 0
    document["buckets"]["S3_ARCHIVE_BUCKET"] = "Not_A_Bucket"
    with pytest.raises(HandleError) as caught:
        load_registry(_write(tmp_path, document))
    message = str(caught.value)
    assert "handle 'FP_BUS_AUDIT_V1' in section 'topics' field 'partitions': 0 is less than the minimum of 1" \
        in message
    assert "handle 'S3_ARCHIVE_BUCKET' in section 'buckets'" in message
    assert "2 problems" in message


def test_unknown_lookups_say_which_handle_and_where_to_add_it() -> None:
    registry = load_registry()
    with pytest.raises(HandleError, match=r"topic handle 'FP_BUS_TRAFIC_FRAUD_V1' .*did you mean "
                                          r"'FP_BUS_TRAFFIC_FRAUD_V1'\?.*add it under 'topics:'"):
        registry.topic("FP_BUS_TRAFIC_FRAUD_V1")
    with pytest.raises(HandleError, match="needs the parameter 'platform_run_id'"):
        registry.prefix("S3_EVIDENCE_PREFIX_PATTERN")


def test_unreadable_and_non_mapping_registries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HandleError, match=r"cannot read the handles registry .*--spine-handles"):
        load_registry(tmp_path / "absent.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(HandleError, match="must be a mapping of sections"):
        load_registry(listed)


def test_markdown_table_form_gives_the_same_registry_as_yaml(tmp_path: Path) -> None:
    yaml_registry = load_registry()
    lines = ["# dev_min_handles.registry.v0", "", "registry_version: `v0`", "environment: `local_parity`", "",
             "## Kafka Topic Map", "", "| handle | value | partitions | retention_ms |", "|---|---|---|---|"]
    for topic in yaml_registry.topics.values():
        lines.append(f"| `{topic.key}` | `{topic.name}` | {topic.partitions} | {topic.retention_ms} |")
    lines += ["", "## Everything else", "", "| handle | value |", "|---|---|"]
    for values in yaml_registry.sections.values():
        for key, value in values.items():
            lines.append(f"| `{key}` | `{value}` |")
    path = tmp_path / "handles.md"
    path.write_text("\n".join(lines) + "\n")
    markdown_registry = load_registry(path)
    assert markdown_registry.topics == yaml_registry.topics
    assert dict(markdown_registry.sections) == dict(yaml_registry.sections)


def test_markdown_row_with_a_non_integer_partition_count_names_line_and_handle() -> None:
    text = "| handle | value | partitions |\n|---|---|---|\n| FP_BUS_AUDIT_V1 | fp.bus.audit.v1 | three |\n"
    with pytest.raises(HandleError, match=r"reg.md:3: handle 'FP_BUS_AUDIT_V1': partitions must be an integer, "
                                          r"given: 'three'"):
        parse_markdown_registry(text, "reg.md")


def test_markdown_handle_of_unknown_kind_is_named() -> None:
    text = "| handle | value |\n|---|---|\n| WIDGET_COLOUR | blue |\n"
    with pytest.raises(HandleError, match=r"reg.md:3: handle 'WIDGET_COLOUR' belongs to no registry section"):
        parse_markdown_registry(text, "reg.md")


def test_two_topic_handles_on_one_topic_are_refused() -> None:
    document = _document()
    document["topics"]["FP_BUS_AUDIT_V1"]["name"] = "fp.bus.rtdl.v1"
    with pytest.raises(HandleError, match=r"several topic handles to \['fp.bus.rtdl.v1'\]"):
        registry_from_document(document, "doc")


def test_inv_handles_passes_when_every_used_name_resolves() -> None:
    registry = load_registry()
    used = [("topic", "fp.bus.traffic.fraud.v1"), {"kind": "bucket", "name": "fraud-platform-local-parity-evidence"},
            ("prefix", "evidence/runs/platform_20260101T000000Z_ab12cd34/run.json"),
            ("group", "fp-rtdl-core-v0"), "FP_BUS_AUDIT_V1"]
    verdict = check_handles(used, registry)
    assert verdict.status is Status.PASS
    assert verdict.figures == {"handles_used": 5, "handles_unresolved": 0}


def test_inv_handles_fails_on_a_hard_coded_name_with_the_counterexample() -> None:
    # The mutant: a component that hard-codes a topic outside the registry (a v2 name nobody registered).
    registry = load_registry()
    used = [("topic", "fp.bus.traffic.fraud.v1"), ("topic", "fp.bus.traffic.fraud.v2"),
            ("prefix", "scratch/tmp.json")]
    verdict = check_handles(used, registry)
    assert verdict.status is Status.FAIL
    assert verdict.figures == {"handles_used": 3, "handles_unresolved": 2}
    assert [dict(c)["name"] for c in verdict.counterexample] == ["fp.bus.traffic.fraud.v2", "scratch/tmp.json"]
    assert dict(verdict.counterexample[0])["hint"] == "did you mean 'fp.bus.traffic.fraud.v1'?"


def test_inv_handles_without_any_recorded_use_is_a_failure_not_a_pass() -> None:
    verdict = check_handles([], load_registry())
    assert verdict.status is Status.FAIL
    assert "no handle uses were recorded" in verdict.reason


def test_substrate_problems_name_the_handle_of_a_missing_topic_wrong_partitions_and_missing_bucket() -> None:
    registry = load_registry()
    topics = {t.name: t.partitions for t in registry.topics.values()}
    assert substrate_problems(registry, topics, registry.section("buckets").values()) == []
    topics["fp.bus.rtdl.v1"] = 1
    del topics["fp.bus.audit.v1"]
    buckets = [b for b in registry.section("buckets").values() if "archive" not in b]
    assert substrate_problems(registry, topics, buckets) == [
        "topic handle FP_BUS_RTDL_V1: topic 'fp.bus.rtdl.v1' has 1 partitions, the registry pins 3",
        "topic handle FP_BUS_AUDIT_V1: topic 'fp.bus.audit.v1' does not exist on the broker",
        "bucket handle S3_ARCHIVE_BUCKET: bucket 'fraud-platform-local-parity-archive' does not exist",
    ]
