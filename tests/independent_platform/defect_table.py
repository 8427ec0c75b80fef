"""Which check each defect of the independent platform must fail, in its own logic: read-only (the harness
verifies a run the platform made) and destructive (the harness drives the run). ``None``: that way cannot see
the defect (a drill-only bug is invisible to a read-only verification when the platform's own traffic never
walks its path)."""

from __future__ import annotations

DEFECTS: dict[str, tuple[str | None, str | None]] = {
    # defect: (read-only check, destructive check)
    "receipts_unbalanced": ("P7-receipts_match_objects", "P7-receipts_match_objects"),
    "anchor_past_end": ("P11-replay_anchors_on_broker", "P11-replay_anchors_on_broker"),
    "evidence_of_other_run": ("P1-evidence_of_this_run", "P1-evidence_of_this_run"),
    "commits_lag_outputs": ("P8-lanes_caught_up_observed", "P8-lanes_caught_up_observed"),
    "no_run_completed": ("P11-closure_marker", "P11-closure_marker"),
    "double_publish": ("P7-tuple_published_once", "P7-tuple_published_once"),
    "foreign_run_record": ("P7-traffic_in_run_scope", "P7-traffic_in_run_scope"),
    "snapshot_disagrees": ("P7-offsets_snapshot_matches_broker", "P7-offsets_snapshot_matches_broker"),
    "commit_past_work": ("P8-lane_commits_match_outputs", "P8-lane_commits_match_outputs"),
    "teardown_early": ("P12-nothing_left_running", "P12-nothing_left_running"),
    "quarantine_without_payload": ("P7-quarantine_holds_payload", "P7-quarantine_holds_payload"),
    "stream_sort_drops_rows": ("P3-stream_view_rows_observed", "P3-stream_view_rows_observed"),
    "ready_wrong_offset": ("P5-ready_on_topic", "P5-ready_on_topic"),
    "auth_open": ("P4-writer_boundary_enforced", "P4-writer_boundary_enforced"),
    "scope_open": (None, "P2-run_scope_enforced"),
    "anomaly_as_duplicate": ("P7-payload_anomaly", "P7-payload_anomaly"),
}
# Run destructively in the suite (each costs a platform run): the drill-only defect, the drills' paths, and the
# post-teardown observation; the others take the same observation path as read-only.
DESTRUCTIVE_RUNS = ("scope_open", "anomaly_as_duplicate", "auth_open", "teardown_early")
