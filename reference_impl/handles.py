"""The local handles registry as data (seed 003 Appendix B): every topic, bucket, prefix pattern and
consumer group a component uses is looked up here, never hard-coded (INV-HANDLES)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_impl.errors import UnknownHandle


@dataclass(frozen=True, slots=True)
class TopicHandle:
    key: str
    name: str
    partitions: int


def _topics(*rows: tuple[str, str, int]) -> dict[str, TopicHandle]:
    return {key: TopicHandle(key, name, partitions) for key, name, partitions in rows}


@dataclass(frozen=True, slots=True)
class HandlesRegistry:
    topics: Mapping[str, TopicHandle]
    buckets: Mapping[str, str]
    prefixes: Mapping[str, str]
    consumer_groups: Mapping[str, str]
    event_class_topics: Mapping[str, str]
    oracle_required_output_ids: tuple[str, ...]
    oracle_sort_key_by_output_id: Mapping[str, str]
    output_event_classes: Mapping[str, str]
    ig_auth_header_name: str = "X-IG-Api-Key"
    required_platform_run_id_env_key: str = "REQUIRED_PLATFORM_RUN_ID"
    rtdl_caught_up_lag_max: int = 0
    knobs: Mapping[str, Any] = field(default_factory=dict)

    def topic(self, key: str) -> TopicHandle:
        try:
            return self.topics[key]
        except KeyError:
            raise UnknownHandle("topic", key, self.topics) from None

    def topic_for_class(self, event_class: str) -> TopicHandle:
        try:
            return self.topic(self.event_class_topics[event_class])
        except KeyError:
            raise UnknownHandle("event_class", event_class, self.event_class_topics) from None

    def bucket(self, key: str) -> str:
        try:
            return self.buckets[key]
        except KeyError:
            raise UnknownHandle("bucket", key, self.buckets) from None

    def prefix(self, key: str, **params: str) -> str:
        try:
            pattern = self.prefixes[key]
        except KeyError:
            raise UnknownHandle("prefix", key, self.prefixes) from None
        return pattern.format(**params)

    def group(self, key: str) -> str:
        try:
            return self.consumer_groups[key]
        except KeyError:
            raise UnknownHandle("consumer_group", key, self.consumer_groups) from None

    def known_names(self) -> frozenset[str]:
        """Every name the registry defines: topics, buckets, consumer groups and prefix patterns (components
        record the pattern they expanded, so the pattern itself is the registered name)."""
        names = {t.name for t in self.topics.values()} | set(self.buckets.values())
        names |= set(self.consumer_groups.values()) | set(self.prefixes.values())
        return frozenset(names)

    def to_json(self) -> dict[str, Any]:
        return {
            "topics": {k: {"name": t.name, "partitions": t.partitions} for k, t in sorted(self.topics.items())},
            "buckets": dict(sorted(self.buckets.items())),
            "prefixes": dict(sorted(self.prefixes.items())),
            "consumer_groups": dict(sorted(self.consumer_groups.items())),
            "event_class_topics": dict(sorted(self.event_class_topics.items())),
            "ORACLE_REQUIRED_OUTPUT_IDS": list(self.oracle_required_output_ids),
            "ORACLE_SORT_KEY_BY_OUTPUT_ID": dict(sorted(self.oracle_sort_key_by_output_id.items())),
            "IG_AUTH_HEADER_NAME": self.ig_auth_header_name,
            "REQUIRED_PLATFORM_RUN_ID_ENV_KEY": self.required_platform_run_id_env_key,
            "RTDL_CAUGHT_UP_LAG_MAX": self.rtdl_caught_up_lag_max,
        }


# Output ids of the oracle world and the event class each one is streamed as.
TRAFFIC_OUTPUT = "traffic_fraud"
CONTEXT_OUTPUTS: tuple[str, ...] = ("arrival_events", "arrival_entities", "flow_anchor_fraud")
SMOKE_EVENT_CLASS = "ig_smoke"

DEFAULT_HANDLES = HandlesRegistry(
    topics=_topics(
        ("FP_BUS_CONTROL_V1", "fp.bus.control.v1", 1),
        ("FP_BUS_TRAFFIC_FRAUD_V1", "fp.bus.traffic.fraud.v1", 3),
        ("FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1", "fp.bus.context.arrival_events.v1", 2),
        ("FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1", "fp.bus.context.arrival_entities.v1", 2),
        ("FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1", "fp.bus.context.flow_anchor.fraud.v1", 2),
        ("FP_BUS_RTDL_V1", "fp.bus.rtdl.v1", 3),
        ("FP_BUS_AUDIT_V1", "fp.bus.audit.v1", 1),
        ("FP_BUS_CASE_TRIGGERS_V1", "fp.bus.case.triggers.v1", 1),
        ("FP_BUS_LABELS_EVENTS_V1", "fp.bus.labels.events.v1", 1),
    ),
    buckets={
        "S3_ORACLE_BUCKET": "fraud-platform-dev-min-oracle",
        "S3_EVIDENCE_BUCKET": "fraud-platform-dev-min-evidence",
        "S3_QUARANTINE_BUCKET": "fraud-platform-dev-min-quarantine",
        "S3_ARCHIVE_BUCKET": "fraud-platform-dev-min-archive",
    },
    prefixes={
        "S3_ORACLE_PREFIX_PATTERN": "oracle/{platform_run_id}/inputs/{output_id}/",
        "S3_STREAM_VIEW_PREFIX_PATTERN": "oracle/{platform_run_id}/stream_view/{output_id}/",
        "S3_STREAM_VIEW_MANIFEST_PATTERN": "oracle/{platform_run_id}/manifests/{output_id}.json",
        "S3_STREAM_SORT_RECEIPT_PATTERN": "oracle/{platform_run_id}/receipts/{output_id}.json",
        "ORACLE_CHECKER_RESULT_PATTERN": "oracle/{platform_run_id}/checker/checker_pass.json",
        "S3_QUARANTINE_PREFIX_PATTERN": "quarantine/{platform_run_id}/",
        # In S3_EVIDENCE_BUCKET: the gate service's receipt objects, one per receipt ({receipt_seq:012d}.json).
        "S3_RECEIPTS_PREFIX_PATTERN": "ig/receipts/{platform_run_id}/",
        "S3_ARCHIVE_PREFIX_PATTERN": "archive/{platform_run_id}/",
        "S3_EVIDENCE_PREFIX_PATTERN": "evidence/runs/{platform_run_id}/",
        "REPORTER_LOCK_KEY_PATTERN": "evidence/runs/{platform_run_id}/obs/reporter.lock",
        "SR_LEASE_KEY_PATTERN": "control/sr_leases/{lease_id}.json",
    },
    consumer_groups={
        "RTDL_CORE_CONSUMER_GROUP_ID": "fp-rtdl-core-v0",
        "DECISION_LANE_CONSUMER_GROUP_ID": "fp-decision-lane-v0",
        "CASE_LABELS_CONSUMER_GROUP_ID": "fp-case-labels-v0",
        "WSP_READY_CONSUMER_GROUP_ID": "fp-wsp-ready-v0",
        "IG_SMOKE_CONSUMER_GROUP_ID": "fp-ig-smoke-v0",
    },
    event_class_topics={
        "traffic_fraud": "FP_BUS_TRAFFIC_FRAUD_V1",
        "context_arrival_events": "FP_BUS_CONTEXT_ARRIVAL_EVENTS_V1",
        "context_arrival_entities": "FP_BUS_CONTEXT_ARRIVAL_ENTITIES_V1",
        "context_flow_anchor_fraud": "FP_BUS_CONTEXT_FLOW_ANCHOR_FRAUD_V1",
        # IG's readiness smoke travels on the traffic topic (the only writer IG owns); RTDL skips it.
        SMOKE_EVENT_CLASS: "FP_BUS_TRAFFIC_FRAUD_V1",
    },
    oracle_required_output_ids=(TRAFFIC_OUTPUT, *CONTEXT_OUTPUTS),
    oracle_sort_key_by_output_id={
        "traffic_fraud": "ts_utc",
        "arrival_events": "ts_utc",
        "arrival_entities": "ts_utc",
        "flow_anchor_fraud": "flow_id",
    },
    output_event_classes={
        "traffic_fraud": "traffic_fraud",
        "arrival_events": "context_arrival_events",
        "arrival_entities": "context_arrival_entities",
        "flow_anchor_fraud": "context_flow_anchor_fraud",
    },
    rtdl_caught_up_lag_max=0,
    knobs={"WSP_RETRY_MAX_ATTEMPTS": 4, "WSP_RETRY_BACKOFF_MS": 50, "WSP_STOP_ON_NONRETRYABLE": True,
           "RTDL_CORE_OFFSET_COMMIT_POLICY": "commit_after_write"},
)
