"""miniplat, an independent platform, runs clean on the local stack: start, run and teardown succeed, every
evidence file exists and validates, the phase criteria judged from its evidence (and from the harness's own
observation of its topics, groups and buckets) pass, and nothing is left running or in a group."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.independent_platform.evidence_check import (
    EVIDENCE_FILES,
    judge,
    observe,
    read_bundle,
    schema_problems,
)
from tests.independent_platform.launcher import PlatformHandle, make_platform

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]


def _stack_dir() -> Path:
    return Path(os.environ.get("SPINE_STACK_DIR", ROOT / ".spine" / "stack"))


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from pytest_spine.stack.fixture import running_stack

    stack_dir = _stack_dir()
    if running_stack(stack_dir) is None:
        pytest.skip(f"no running local stack in {stack_dir} (spine stack up --dir {stack_dir})")
    run_id = f"indie-smoke-{uuid.uuid4().hex[:12]}"
    handle = make_platform(stack_dir, tmp_path_factory.mktemp("miniplat"), run_id)
    try:
        results = {"start": handle.start(), "run": handle.run()}
        results["teardown"] = handle.teardown()
        members = lane_members(handle)
        alive = handle.alive()
        observations = observe(handle)
        yield {"handle": handle, "results": results, "members": members, "alive": alive,
               "observations": observations, "docs": read_bundle(handle)}
    finally:
        handle.kill_all()
        left = handle.alive()
        handle.destroy()
        assert not left


def lane_members(handle: PlatformHandle) -> dict[str, int]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": handle.kafka_bootstrap})
    groups = [lane["group"] for lane in handle.config()["lanes"].values()]
    futures = admin.describe_consumer_groups(groups, request_timeout=10)
    return {g: len(f.result(timeout=15).members or []) for g, f in futures.items()}


def test_registry_validates_with_its_platform_section(clean_run: dict[str, Any]) -> None:
    from pytest_spine.targets.platform_spec import platform_spec

    handle: PlatformHandle = clean_run["handle"]
    spec = platform_spec(handle.registry())
    assert spec is not None and spec.name == "miniplat"
    assert set(spec.event_class_topics) == {"traffic_fraud", "context_arrival_events"}
    assert {lane.group_key for lane in spec.lanes} == {"RTDL_CORE_CONSUMER_GROUP_ID",
                                                        "DECISION_LANE_CONSUMER_GROUP_ID"}
    assert set(spec.commands) == {"start", "run", "teardown"}


def test_commands_succeed_quickly(clean_run: dict[str, Any]) -> None:
    seconds = {name: r.seconds for name, r in clean_run["results"].items()}
    assert all(r.returncode == 0 for r in clean_run["results"].values())
    assert sum(seconds.values()) < 60, seconds


def test_every_evidence_file_exists_and_validates(clean_run: dict[str, Any]) -> None:
    docs = clean_run["docs"]
    handle: PlatformHandle = clean_run["handle"]
    assert set(EVIDENCE_FILES) <= set(docs)
    assert schema_problems(docs, handle.run_id) == {}


def test_phase_criteria_pass(clean_run: dict[str, Any]) -> None:
    handle: PlatformHandle = clean_run["handle"]
    verdicts = judge(clean_run["docs"], handle.run_id, clean_run["observations"])
    failed = {k: reason for k, (status, reason) in verdicts.items() if status == "FAIL"}
    assert failed == {}
    judged = [k for k, (status, _) in verdicts.items() if status == "PASS"]
    assert len(judged) >= 40, verdicts


def test_nothing_left_after_teardown(clean_run: dict[str, Any]) -> None:
    assert clean_run["alive"] == {}
    assert clean_run["members"] and all(n == 0 for n in clean_run["members"].values()), clean_run["members"]
    proof = clean_run["docs"]["teardown/teardown_proof.json"]
    assert proof["destroy_status"] == "COMPLETED" and proof["running_daemons"] == []
    assert all(proof["confirmed_absent"].values())


def test_the_run_exercised_every_outcome_but_ambiguity(clean_run: dict[str, Any]) -> None:
    docs = clean_run["docs"]
    counts = docs["ingest/receipt_summary.json"]["counts_by_outcome"]
    assert counts["ADMIT"] > 0 and counts["DUPLICATE"] > 0 and counts["QUARANTINE"] > 0 and counts["ANOMALY"] > 0
    assert counts["PUBLISH_AMBIGUOUS"] == 0
    assert docs["reconciliation.json"]["balanced"] is True
    assert docs["ingest/ig_ready.json"]["auth_check"] == {"unauthenticated_status": 401, "wrong_key_status": 403,
                                                          "authenticated_status": 200, "pass": True}
