"""Named, deliberately broken variants of the reference platform.

A check that cannot fail is a defect: every gate criterion and invariant must be killed by at least
one of these. Components consult ``config.mutations`` (a frozenset of names) at the one place the
behaviour breaks. ``breaks`` lists the catalogue ids (criteria / invariants) the mutant is meant to fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from reference_impl.errors import UnknownMutant


@dataclass(frozen=True, slots=True)
class Mutant:
    name: str
    description: str
    component: str
    breaks: tuple[str, ...] = ()


_ALL: tuple[Mutant, ...] = (
    # --- required by the backbone issue
    Mutant("dedupe_ignores_run_id", "IG dedupes on (event_class, event_id), forgetting platform_run_id",
           "ig", ("INV-DEDUPE-IDENTITY",)),
    Mutant("payload_overwrite", "same dedupe tuple with another payload hash is admitted and overwrites "
           "the original instead of being an ANOMALY", "ig", ("INV-PAYLOAD-ANOMALY", "P7-receipts_coherent")),
    Mutant("stream_without_ready", "WSP streams although no READY for its run is on the control topic",
           "wsp", ("INV-READY-BEFORE-STREAM", "P6-ready_consumed")),
    Mutant("stream_raw_oracle", "WSP reads the raw oracle inputs instead of stream_view", "wsp",
           ("INV-STREAM-VIEW-FIRST", "P6-stream_view_enumerated")),
    Mutant("ack_before_write", "RTDL commits the offset before the durable state write", "rtdl",
           ("INV-COMMIT-AFTER-WRITE", "P8-commit_after_write")),
    Mutant("silent_degrade", "RTDL fills missing context with defaults and records no degrade", "rtdl",
           ("INV-EXPLICIT-DEGRADE", "P8-explicit_degrade")),
    Mutant("reporter_without_lock", "the reporter writes closure files without the single-writer lock",
           "reporter", ("INV-SINGLE-WRITER", "P11-single_writer_lock")),
    Mutant("double_action", "AL executes an action again when its decision is redelivered", "decision_lane",
           ("INV-IDEMPOTENT-ACTIONS", "P9-actions_idempotent")),
    Mutant("mutable_receipts", "IG updates the original receipt in place on a duplicate", "ig",
           ("INV-APPEND-ONLY", "P7-receipts_append_only")),
    Mutant("missing_replay_anchors", "the reporter leaves the context topics out of replay_anchors.json",
           "reporter", ("INV-REPLAY-ANCHORS", "P11-replay_anchors_valid")),
    # --- behavioural mutants so that every gate criterion has a killer
    Mutant("entrypoint_missing", "the packaged entrypoint list names a job that cannot be imported",
           "packaging", ("P(-1)-entrypoints_importable",)),
    Mutant("topic_missing", "substrate bring-up forgets the case-triggers topic", "substrate",
           ("P0-handles_resolvable",)),
    Mutant("unstable_config_digest", "config_digest is taken over the config plus a timestamp", "run",
           ("P1-config_digest_stable",)),
    Mutant("run_json_incomplete", "run.json is written without image provenance", "run",
           ("P1-run_json_complete",)),
    Mutant("pack_not_running", "the case_labels pack is never started", "daemons",
           ("P2-packs_running", "P10-services_healthy")),
    Mutant("scope_not_enforced", "daemons and IG accept a REQUIRED_PLATFORM_RUN_ID mismatch", "daemons",
           ("INV-RUN-SCOPE", "P2-run_scope_enforced")),
    Mutant("duplicate_consumer", "RTDL core runs two replicas in one consumer group", "daemons",
           ("P2-no_duplicate_consumers",)),
    Mutant("checker_always_pass", "the oracle checker reports PASS without looking", "oracle",
           ("P3-checker_pass",)),
    Mutant("receipt_not_written", "stream-sort writes no receipt for the flow anchor output", "oracle",
           ("P3-outputs_complete",)),
    Mutant("unsorted_stream_view", "stream-sort writes shards in raw (unsorted) order", "oracle",
           ("P3-outputs_complete", "INV-STREAM-VIEW-FIRST")),
    Mutant("rerun_resorts_everything", "a per-output rerun deletes and re-sorts every output", "oracle",
           ("P3-per_output_rerun",)),
    Mutant("auth_bypass", "IG admits requests without (or with a wrong) API key", "ig",
           ("SEC-AUTH-BOUNDARY", "P4-writer_boundary")),
    Mutant("publish_smoke_broken", "IG reports a wrong offset for its smoke publish", "ig",
           ("P4-kafka_writable",)),
    Mutant("ig_s3_denied", "IG cannot write its quarantine prefix (IAM denial)", "ig",
           ("P4-durable_outputs_writable",)),
    Mutant("local_file_persistence", "IG keeps its admission state in a local sqlite file", "ig",
           ("P4-no_local_persistence",)),
    Mutant("ready_without_pointers", "SR publishes READY without the manifest pointers", "sr",
           ("P5-ready_published",)),
    Mutant("sr_ignores_lease", "SR overwrites a lease another holder owns", "sr", ("P5-lease_respected",)),
    Mutant("nonretryable_skipped", "WSP skips a non-retryable rejection and keeps streaming", "wsp",
           ("P6-nonretryable_fail_closed",)),
    Mutant("wsp_direct_publish", "WSP publishes context events straight to the bus, bypassing IG", "wsp",
           ("INV-IG-ONLY-PUBLISHER",)),
    Mutant("admit_without_publish", "IG records ADMIT but never publishes", "ig",
           ("P7-topics_populated", "INV-RECEIPTS-RECONCILE")),
    Mutant("receipts_unbalanced", "IG writes no receipt for DUPLICATE outcomes", "ig",
           ("P7-receipts_coherent", "INV-RECEIPTS-RECONCILE")),
    Mutant("publish_ack_lost", "IG stops waiting for acks: the first traffic publish ends ambiguous", "ig",
           ("P7-no_publish_ambiguity", "INV-NO-PUBLISH-AMBIGUITY")),
    Mutant("hide_publish_ambiguity", "IG reports ADMIT when the publish timed out", "ig",
           ("INV-NO-PUBLISH-AMBIGUITY",)),
    Mutant("quarantine_drops_payload", "IG quarantines without persisting the payload", "ig",
           ("P7-quarantine_durable",)),
    Mutant("hardcoded_topic", "IG publishes smoke events to a topic name that is not in the registry",
           "ig", ("INV-HANDLES",)),
    Mutant("consumer_not_caught_up", "RTDL stops after half the traffic", "rtdl", ("P8-caught_up",)),
    Mutant("origin_offsets_incomplete", "the RTDL offsets snapshot leaves a partition out", "rtdl",
           ("P8-origin_offsets",)),
    Mutant("rtdl_write_failures", "RTDL swallows failed state writes", "rtdl", ("P8-healthy",)),
    Mutant("decision_lane_stalled", "DF produces no decisions", "decision_lane", ("P9-decisions_produced",)),
    Mutant("audit_overwrite", "DLA rewrites an audit record in place on redelivery", "decision_lane",
           ("INV-APPEND-ONLY", "P9-audit_appended")),
    Mutant("decision_hides_degrade", "DF drops the degraded provenance of its inputs", "decision_lane",
           ("P9-degrade_recorded", "INV-EXPLICIT-DEGRADE")),
    Mutant("case_double_append", "CM/LS ignore idempotency keys on redelivery", "case_labels",
           ("P10-append_only_idempotent",)),
    Mutant("timeline_overwrite", "CM corrects timelines in place", "case_labels",
           ("INV-APPEND-ONLY", "P10-append_only_idempotent")),
    Mutant("case_writes_dropped", "CM acknowledges triggers without appending to the timeline", "case_labels",
           ("P10-db_writes",)),
    Mutant("closure_marker_missing", "the reporter writes no run_completed.json", "reporter",
           ("P11-closure_marker",)),
    Mutant("closure_incomplete", "the reporter skips reconciliation.json", "reporter",
           ("P11-bundle_complete", "INV-EVIDENCE-COMPLETE")),
    Mutant("daemon_left_running", "teardown leaves RTDL core running", "teardown",
           ("P12-no_leftovers",)),
    Mutant("evidence_purged_on_teardown", "teardown deletes the run's evidence prefix", "teardown",
           ("P12-evidence_preserved",)),
)

MUTANTS: Mapping[str, Mutant] = MappingProxyType({m.name: m for m in _ALL})


def resolve(names: frozenset[str] | set[str] | tuple[str, ...]) -> frozenset[str]:
    """Validate mutant names; an unknown one raises naming the known ones."""
    for name in names:
        if name not in MUTANTS:
            raise UnknownMutant(name, MUTANTS)
    return frozenset(names)
