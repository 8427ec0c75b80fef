"""The evidence bundle contract of seed 003 section 6.3: which phase writes which file."""

from __future__ import annotations

# Phase -> files it must leave (seed 003 §6.3, with the local translation of each phase).
PHASE_FILES: dict[str, tuple[str, ...]] = {
    "P(-1)": (),
    "P0": (),
    "P1": ("run.json",),
    "P2": ("operate/daemons_ready.json",),
    "P3": ("oracle/seed_snapshot.json", "oracle/stream_sort_summary.json", "oracle/checker_pass.json"),
    "P4": ("ingest/ig_ready.json",),
    "P5": ("sr/sr_pass.json", "sr/ready_publish_receipt.json"),
    "P6": ("wsp/wsp_start.json", "wsp/wsp_summary.json"),
    "P7": ("ingest/receipt_summary.json", "ingest/kafka_offsets_snapshot.json", "ingest/quarantine_summary.json"),
    "P8": ("rtdl_core/offsets_snapshot.json", "rtdl_core/caught_up.json"),
    "P9": ("decision_lane/decision_summary.json", "decision_lane/action_summary.json",
           "decision_lane/audit_summary.json"),
    "P10": ("case_labels/case_summary.json", "case_labels/label_summary.json"),
    "P11": ("obs/environment_conformance.json", "obs/anomaly_summary.json", "replay_anchors.json",
            "reconciliation.json", "run_report.json", "run_completed.json"),
    "P12": ("teardown/teardown_proof.json",),
}

# Written by the harness itself for every run.
HARNESS_FILES: tuple[str, ...] = ("verdicts.json", "bundle_status.json", "manifest.json")


def phase_of(relpath: str) -> str | None:
    for phase, files in PHASE_FILES.items():
        if relpath in files:
            return phase
    return None


def required_files() -> tuple[str, ...]:
    return tuple(f for files in PHASE_FILES.values() for f in files) + HARNESS_FILES
