"""Test helper: read a miniplat run's evidence back from its bucket, validate every file against the
harness's evidence schemas, and judge the phase criteria that need nothing but the evidence."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "pytest_spine" / "data" / "schemas" / "evidence"
EVIDENCE_FILES = (
    "run.json", "operate/daemons_ready.json",
    "oracle/seed_snapshot.json", "oracle/stream_sort_summary.json", "oracle/checker_pass.json",
    "ingest/ig_ready.json", "sr/sr_pass.json", "sr/ready_publish_receipt.json",
    "wsp/wsp_start.json", "wsp/wsp_summary.json",
    "ingest/receipt_summary.json", "ingest/kafka_offsets_snapshot.json", "ingest/quarantine_summary.json",
    "rtdl_core/offsets_snapshot.json", "rtdl_core/caught_up.json",
    "decision_lane/decision_summary.json", "decision_lane/action_summary.json", "decision_lane/audit_summary.json",
    "case_labels/case_summary.json", "case_labels/label_summary.json",
    "obs/environment_conformance.json", "obs/anomaly_summary.json", "replay_anchors.json", "reconciliation.json",
    "run_report.json", "run_completed.json", "teardown/teardown_proof.json",
)


def s3_client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(connect_timeout=5, read_timeout=10))


def read_bundle(handle: Any) -> dict[str, Any]:
    """relpath -> document, for every object under the run's evidence prefix."""
    cfg = handle.config()
    bucket = cfg["buckets"]["evidence"]
    prefix = cfg["prefixes"]["evidence"].format(platform_run_id=handle.run_id)
    s3 = s3_client(handle.s3_endpoint_url)
    docs: dict[str, Any] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            docs[item["Key"][len(prefix):]] = json.loads(body)
    s3.close()
    return docs


def schema_problems(docs: Mapping[str, Any], run_id: str) -> dict[str, str]:
    from jsonschema import Draft202012Validator

    problems: dict[str, str] = {}
    for relpath in EVIDENCE_FILES:
        if relpath not in docs:
            problems[relpath] = "missing"
            continue
        schema = json.loads((SCHEMAS / f"{relpath.removesuffix('.json').replace('/', '__')}.schema.json").read_text())
        errors = sorted(Draft202012Validator(schema).iter_errors(docs[relpath]), key=lambda e: list(e.path))
        if errors:
            problems[relpath] = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:3])
        elif docs[relpath].get("platform_run_id") != run_id:
            problems[relpath] = f"platform_run_id {docs[relpath].get('platform_run_id')!r}"
    for relpath in sorted(set(docs) - set(EVIDENCE_FILES)):
        problems[relpath] = "not a contract file"
    return problems


# Criteria that read the harness's own history of operations (which a test of the platform alone has not).
NEEDS_HISTORY = {"P5-ready_published": "needs the harness's record of the READY publish"}


class _Sink:
    def __init__(self) -> None:
        self.docs: dict[str, Any] = {}

    def put(self, relpath: str, document: Mapping[str, Any]) -> None:
        self.docs[relpath] = dict(document)


def observe(handle: Any, deadline_s: float = 30.0) -> Any:
    """The harness's own observation pass over the platform's substrate (``Observations``), as its external
    target makes it."""
    from pytest_spine.observe.buckets import BucketObserver
    from pytest_spine.observe.groups import GroupObserver
    from pytest_spine.observe.topics import TopicObserver
    from pytest_spine.targets.external_observe import observe_platform
    from pytest_spine.targets.platform_spec import platform_spec

    registry = handle.registry()
    spec = platform_spec(registry)
    s3 = s3_client(handle.s3_endpoint_url)
    try:
        return observe_platform(registry, spec, handle.run_id, topics=TopicObserver(handle.kafka_bootstrap),
                                groups=GroupObserver(handle.kafka_bootstrap),
                                buckets=BucketObserver(endpoint_url=handle.s3_endpoint_url, client=s3),
                                evidence=_Sink(), recorder=None, deadline_s=deadline_s)
    finally:
        s3.close()


def judge(docs: Mapping[str, Any], run_id: str, observations: Any = None) -> dict[str, tuple[str, str]]:
    """check id -> (PASS | FAIL | NOT_JUDGED, reason) for the phase criteria P1..P12, judged from the evidence
    (and the harness's ``observations`` when given): a criterion that needs a drill, a fact of the target or
    the harness's history is NOT_JUDGED."""
    from pytest_spine.gates.catalogue import EvidenceMissing, GateContext, all_criteria
    from pytest_spine.targets.base import DrillNotRun, NotObserved, PhaseOutcome

    def no_probe(name: str) -> Mapping[str, Any]:
        raise DrillNotRun(f"{name}: not run by this test")

    verdicts: dict[str, tuple[str, str]] = {}
    for crit in all_criteria():
        if crit.phase in ("P(-1)", "P0"):
            continue
        if crit.check_id in NEEDS_HISTORY:
            verdicts[crit.check_id] = ("NOT_JUDGED", NEEDS_HISTORY[crit.check_id])
            continue
        ctx = GateContext(phase=PhaseOutcome(crit.phase, True), outcomes={}, read=docs.get,
                          files=lambda: sorted(docs), probe_fn=no_probe, platform_run_id=run_id,
                          history=lambda: [], observed_fn=lambda: observations)
        try:
            result = crit.check(ctx)
        except (DrillNotRun, NotObserved) as why:
            verdicts[crit.check_id] = ("NOT_JUDGED", str(why))
            continue
        except EvidenceMissing as missing:
            if missing.relpath.endswith(" facts"):
                verdicts[crit.check_id] = ("NOT_JUDGED", str(missing))
            else:
                verdicts[crit.check_id] = ("FAIL", str(missing))
            continue
        verdicts[crit.check_id] = ("PASS" if result.ok else "FAIL", result.reason)
    return verdicts
