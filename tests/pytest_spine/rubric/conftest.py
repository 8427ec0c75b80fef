"""Small evidence bundles for scoring tests: plain files (``make_bundle``) or sealed, verifiable bundles written
through the real EvidenceBundle writer (``sealed_bundle``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.evidence.bundle import EvidenceBundle

_KINDS = (("P", "gate"), ("INV-", "invariant"), ("CH-", "scenario"), ("SEC-", "security"), ("CP-", "control_plane"),
          ("TEL-", "telemetry"), ("MET-", "metric"), ("HIST-", "history"))

PHASE_CRITERIA = {
    "P(-1)": ["entrypoints_importable"], "P0": ["topics_exist"], "P1": ["run_json_complete"],
    "P2": ["packs_running"], "P3": ["checker_pass"], "P4": ["ig_healthy"], "P5": ["ready_published"],
    "P6": ["streaming_completed"], "P7": ["receipts_reconcile"], "P8": ["caught_up"], "P9": ["decisions_produced"],
    "P10": ["timelines_and_labels_written"], "P11": ["closure_marker"], "P12": ["nothing_left_running"],
}

# Every check of a strong run, all PASS: rubric rules reach their top rungs with it.
STRONG = [f"{phase}-{name}" for phase, names in PHASE_CRITERIA.items() for name in names] + [
    "INV-DEDUPE-IDENTITY", "INV-APPEND-ONLY", "INV-EVIDENCE-COMPLETE", "INV-HANDLES",
    "CP-STATE-LEGAL", "CP-LEASE-RECOVERY", "CP-TRACEABLE",
    "CH-REPLAY-FLOOD-seed=3", "CH-SIG-TAMPER-FLOOD-seed=3", "CH-OVERSIZE-FUZZ-seed=3", "CH-RATE-BURST-seed=3",
    "CH-RESTART-DURING-RUNNING-seed=3",
    "SEC-UNSIGNED-REJECTED", "SEC-SIG-TAMPER", "SEC-REPLAY-REJECT", "SEC-NONCE-HWM", "SEC-RATE-LIMIT",
    "SEC-PAYLOAD-CAP", "SEC-AUTH-BOUNDARY", "SEC-QUARANTINE-REACTION", "SEC-LINEAGE-UUIDV7",
    "TEL-TAXONOMY", "TEL-FAMILIES", "TEL-CORRELATION", "MET-SIM-SCHEMA",
    "HIST-FLAKE", "HIST-CONSECUTIVE", "HIST-SLO-WINDOW",
]
STRONG_FIGURES = {"command_success_rate": 0.995, "soak_window_seconds": 3600, "mttr_minutes": 4.0,
                  "poll_timeout_recovery_rate": 0.97, "replay_rejection_ratio": 0.9995}


def kind_of(check_id: str) -> str:
    for prefix, kind in _KINDS:
        if check_id.startswith(prefix) and (prefix != "P" or check_id[1:2] in "(0123456789"):
            return kind
    return "gate"


def verdict(check_id: str, status: str = "PASS", reason: str = "", **extra: Any) -> dict[str, Any]:
    return {"id": check_id, "kind": kind_of(check_id), "status": status, "reason": reason or f"{check_id} {status}",
            "evidence": extra.pop("evidence", []), "counterexample": [], "figures": extra.pop("figures", {})}


def verdicts_of(statuses: Mapping[str, str] | None = None, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """STRONG (or ``ids``) all PASS, with ``statuses`` overriding or adding ids."""
    chosen = dict.fromkeys(ids if ids is not None else STRONG, "PASS")
    chosen.update(statuses or {})
    return [verdict(i, s) for i, s in chosen.items() if s != "ABSENT"]


def _doc(run_id: str, when: str, **body: Any) -> dict[str, Any]:
    return {"platform_run_id": run_id, "written_at_utc": when, "schema_version": 1, **body}


MakeBundle = Callable[..., Path]


class Kit:
    """The helpers above, handed to tests as the ``kit`` fixture (tests cannot import conftest under
    --import-mode=importlib)."""

    STRONG = STRONG
    STRONG_FIGURES = STRONG_FIGURES
    PHASE_CRITERIA = PHASE_CRITERIA
    verdict = staticmethod(verdict)
    verdicts_of = staticmethod(verdicts_of)


@pytest.fixture
def kit() -> Kit:
    return Kit()


@pytest.fixture
def make_bundle(tmp_path: Path) -> MakeBundle:
    """Write a bundle's files directly (no sealing): enough for scoring, not for verification."""

    def make(run_id: str = "platform_a", *, verdicts: list[dict[str, Any]] | None = None,
             figures: Mapping[str, Any] | None = None, files: Mapping[str, Mapping[str, Any]] | None = None,
             when: str = "2026-02-17T09:00:00Z") -> Path:
        root = tmp_path / "evidence" / "runs" / run_id
        root.mkdir(parents=True)
        documents = {"verdicts.json": {"verdicts": verdicts if verdicts is not None else verdicts_of()},
                     "figures.json": {"figures": dict(figures if figures is not None else STRONG_FIGURES)},
                     "run.json": {"env": "reference"}, "manifest.json": {"files": {}}, **(files or {})}
        for relpath, body in documents.items():
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(_doc(run_id, when, **body)))
        return root

    return make


@pytest.fixture
def sealed_bundle(tmp_path: Path) -> MakeBundle:
    """A bundle written and sealed by the real writer. Phases P1..P12 owe contract files; a test bundle has
    none, so those phases are recorded FAILed (a faithful record of a failed run, which verification accepts)."""

    def make(run_id: str = "platform_s", *, verdicts: list[dict[str, Any]] | None = None,
             figures: Mapping[str, Any] | None = None, files: Mapping[str, Mapping[str, Any]] | None = None,
             when: str = "2026-02-17T09:00:00Z") -> Path:
        start = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
        bundle = EvidenceBundle.create(tmp_path / run_id, run_id, clock=ManualClock(start))
        if verdicts is None:
            failed = {f"{p}-{n}": "FAIL" for p, names in PHASE_CRITERIA.items() if p not in ("P(-1)", "P0")
                      for n in names}
            verdicts = verdicts_of(failed)
        bundle.put("verdicts.json", {"verdicts": verdicts})
        bundle.put("figures.json", {"figures": dict(figures if figures is not None else STRONG_FIGURES)})
        for relpath, body in (files or {}).items():
            bundle.put(relpath, body)
        bundle.seal("complete", "test bundle")
        return bundle.root

    return make
