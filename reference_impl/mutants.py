"""Named, deliberately broken variants of the reference platform.

A check that cannot fail is a defect: every gate criterion and invariant must be killed by at least
one of these. Components consult ``config.mutations`` (a frozenset of names) at the one place the
behaviour breaks. ``breaks`` lists the check ids (phase-gate criteria, INV-* invariants) measured to FAIL
under the mutant; for the few the gates do not read yet, it names the probe or evidence field that shows it.
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
           "ig", ("P7-dedupe_identity",)),
    Mutant("payload_overwrite", "same dedupe tuple with another payload hash is admitted and overwrites "
           "the original instead of being an ANOMALY", "ig", ("P7-payload_anomaly", "INV-PAYLOAD-ANOMALY")),
    Mutant("stream_without_ready", "WSP streams although no READY for its run is on the control topic",
           "wsp", ("P6-ready_consumed", "INV-READY-BEFORE-STREAM")),
    Mutant("stream_raw_oracle", "WSP reads the raw oracle inputs instead of stream_view", "wsp",
           ("P6-stream_view_enumerated", "INV-STREAM-VIEW-FIRST")),
    Mutant("ack_before_write", "RTDL commits the offset before the durable state write", "rtdl",
           ("P8-commit_after_write", "INV-COMMIT-AFTER-WRITE")),
    Mutant("silent_degrade", "RTDL fills missing context with defaults and records no degrade", "rtdl",
           ("P8-degrade_recorded", "INV-EXPLICIT-DEGRADE")),
    Mutant("reporter_without_lock", "the reporter writes closure files without the single-writer lock",
           "reporter", ("P11-single_writer_lock", "INV-SINGLE-WRITER")),
    Mutant("double_action", "AL executes an action again when its decision is redelivered", "decision_lane",
           ("P9-actions_idempotent", "INV-IDEMPOTENT-ACTIONS")),
    Mutant("mutable_receipts", "IG updates the original receipt in place on a duplicate", "ig",
           ("P7-receipts_append_only", "INV-APPEND-ONLY")),
    Mutant("missing_replay_anchors", "the reporter leaves the context topics out of replay_anchors.json",
           "reporter", ("P11-replay_anchors_valid", "INV-REPLAY-ANCHORS")),
    # --- behavioural mutants so that every gate criterion has a killer
    Mutant("entrypoint_missing", "the packaged entrypoint list names a job that cannot be imported",
           "packaging", ("P(-1)-entrypoints_importable",)),
    Mutant("topic_missing", "substrate bring-up forgets the case-triggers topic", "substrate",
           ("P0-buckets_writable", "P0-handles_resolvable", "P0-topics_exist")),
    Mutant("unstable_config_digest", "config_digest is taken over the config plus a timestamp", "run",
           ("P1-config_digest_stable",)),
    Mutant("run_json_incomplete", "run.json is written without image provenance", "run",
           ("P1-config_digest_stable", "P1-evidence_root_created", "P1-run_json_complete")),
    Mutant("pack_not_running", "the case_labels pack is never started", "daemons",
           ("P2-dependencies_reachable", "P2-no_duplicate_consumers", "P2-packs_running", "P2-run_scope_enforced")),
    Mutant("scope_not_enforced", "daemons and IG accept a REQUIRED_PLATFORM_RUN_ID mismatch", "daemons",
           ("P2-run_scope_enforced", "INV-RUN-SCOPE")),
    Mutant("duplicate_consumer", "RTDL core runs two replicas in one consumer group", "daemons",
           ("P2-no_duplicate_consumers", "P2-packs_running")),
    Mutant("checker_always_pass", "the oracle checker reports PASS without looking", "oracle",
           ("P3-per_output_rerun", "probe:per_output_rerun.failure_detected")),
    Mutant("receipt_not_written", "stream-sort writes no receipt for the flow anchor output", "oracle",
           ("P3-checker_pass", "P3-oracle_inputs_present", "P3-per_output_rerun", "P3-stream_view_complete")),
    Mutant("unsorted_stream_view", "stream-sort writes shards in raw (unsorted) order", "oracle",
           ("P3-checker_pass", "P3-oracle_inputs_present", "P3-per_output_rerun", "P3-stream_view_complete")),
    Mutant("rerun_resorts_everything", "a per-output rerun deletes and re-sorts every output", "oracle",
           ("P3-per_output_rerun",)),
    Mutant("auth_bypass", "IG admits requests without (or with a wrong) API key", "ig",
           ("P4-bus_writable", "P4-durable_outputs_writable", "P4-ig_healthy", "P4-no_local_persistence",
            "P4-writer_boundary_enforced")),
    Mutant("publish_smoke_broken", "IG reports a wrong offset for its smoke publish", "ig",
           ("P4-bus_writable", "P4-durable_outputs_writable", "P4-ig_healthy", "P4-no_local_persistence",
            "P4-writer_boundary_enforced")),
    Mutant("ig_s3_denied", "IG cannot write its quarantine prefix (IAM denial)", "ig",
           ("P4-bus_writable", "P4-durable_outputs_writable", "P4-ig_healthy", "P4-no_local_persistence",
            "P4-writer_boundary_enforced")),
    Mutant("local_file_persistence", "IG keeps its admission state in a local sqlite file", "ig",
           ("P4-bus_writable", "P4-durable_outputs_writable", "P4-ig_healthy", "P4-no_local_persistence",
            "P4-writer_boundary_enforced")),
    Mutant("sr_ignores_gates", "SR publishes READY without consulting the oracle checker", "sr",
           ("P5-sr_gates_passed",)),
    Mutant("scenario_id_from_run", "SR mixes the platform_run_id into scenario_run_id", "sr",
           ("P5-scenario_run_id_deterministic",)),
    Mutant("ready_wrong_run_id", "SR stamps READY with the equivalence key instead of the run id", "sr",
           ("P5-ready_published",)),
    Mutant("malformed_rejected_not_quarantined", "IG answers 400 to an invalid envelope instead of "
           "quarantining it (the payload is lost)", "ig",
           ("P6-nonretryables_fail_closed", "P6-ready_consumed", "P6-stream_view_enumerated",
            "P6-streaming_completed")),
    Mutant("ready_without_pointers", "SR publishes READY without the manifest pointers", "sr",
           ("P5-ready_published", "sr/ready_publish_receipt.json:pointers")),
    Mutant("sr_ignores_lease", "SR overwrites a lease another holder owns", "sr", ("P5-lease_respected",)),
    Mutant("nonretryable_skipped", "WSP skips a non-retryable rejection and keeps streaming", "wsp",
           ("P6-nonretryables_fail_closed",)),
    Mutant("wsp_direct_publish", "WSP publishes context events straight to the bus, bypassing IG", "wsp",
           ("P11-closure_complete", "INV-IG-ONLY-PUBLISHER")),
    Mutant("admit_without_publish", "IG records ADMIT for context events but never publishes them", "ig",
           ("P7-admitted_topics_populated",)),
    Mutant("receipts_unbalanced", "IG writes no receipt for DUPLICATE outcomes", "ig",
           ("P7-receipts_reconcile", "INV-RECEIPTS-RECONCILE")),
    Mutant("publish_ack_lost", "IG stops waiting for acks: the first traffic publish ends ambiguous", "ig",
           ("P7-no_publish_ambiguity",)),
    Mutant("hide_publish_ambiguity", "IG reports ADMIT when the publish timed out", "ig",
           ("INV-NO-PUBLISH-AMBIGUITY",)),
    Mutant("quarantine_drops_payload", "IG quarantines without persisting the payload", "ig",
           ("P7-quarantine_durable",)),
    Mutant("hardcoded_topic", "IG publishes smoke events to a topic name that is not in the registry",
           "ig", ("P11-closure_complete", "INV-HANDLES")),
    Mutant("consumer_not_caught_up", "RTDL stops after half the traffic", "rtdl",
           ("P8-caught_up", "P8-origin_offsets_recorded")),
    Mutant("origin_offsets_incomplete", "the RTDL offsets snapshot leaves a partition out", "rtdl",
           ("P8-origin_offsets_recorded",)),
    Mutant("rtdl_write_failures", "RTDL swallows failed state writes", "rtdl", ("P8-commit_after_write",)),
    Mutant("decision_lane_stalled", "DF produces no decisions", "decision_lane",
           ("P9-actions_idempotent", "P9-audit_append_only", "P9-decisions_produced", "P9-degrade_in_provenance")),
    Mutant("audit_overwrite", "DLA rewrites an audit record in place on redelivery", "decision_lane",
           ("P9-audit_append_only", "INV-APPEND-ONLY")),
    Mutant("decision_hides_degrade", "DF drops the degraded provenance of its inputs", "decision_lane",
           ("P9-degrade_in_provenance", "INV-EXPLICIT-DEGRADE")),
    Mutant("case_double_append", "CM/LS ignore idempotency keys on redelivery", "case_labels",
           ("P10-append_only_idempotent",)),
    Mutant("timeline_overwrite", "CM corrects timelines in place", "case_labels",
           ("P10-append_only_idempotent", "INV-APPEND-ONLY")),
    Mutant("case_writes_dropped", "CM acknowledges triggers without appending to the timeline", "case_labels",
           ("P10-append_only_idempotent", "P10-timelines_and_labels_written")),
    Mutant("closure_marker_missing", "the reporter writes no run_completed.json", "reporter",
           ("P11-closure_marker", "P11-single_writer_lock")),
    Mutant("closure_incomplete", "the reporter skips reconciliation.json", "reporter",
           ("P11-closure_complete", "INV-EVIDENCE-COMPLETE")),
    Mutant("daemon_left_running", "teardown leaves RTDL core running", "teardown",
           ("P12-evidence_preserved", "P12-nothing_left_running")),
    Mutant("evidence_purged_on_teardown", "teardown deletes the run's evidence prefix", "teardown",
           ("P12-evidence_preserved",)),
    # --- network / object-store chaos on the real stack (CH-S3-FAULTS)
    Mutant("evidence_put_unchecked", "the evidence writer swallows a failed put and reports the document "
           "written (the run passes on evidence it does not have)", "evidence",
           ("CH-S3-FAULTS/writes_failed", "CH-S3-FAULTS/failed_reported_pass", "CH-S3-FAULTS/fail_closed",
            "CH-S3-FAULTS/missing_after_rewrite")),
)

MUTANTS: Mapping[str, Mutant] = MappingProxyType({m.name: m for m in _ALL})


def resolve(names: frozenset[str] | set[str] | tuple[str, ...]) -> frozenset[str]:
    """Validate mutant names; an unknown one raises naming the known ones."""
    for name in names:
        if name not in MUTANTS:
            raise UnknownMutant(name, MUTANTS)
    return frozenset(names)
