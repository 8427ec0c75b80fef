"""The phase runner's rules, on a small fake target (pure logic; the reference target is exercised by the
acceptance tests)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.gates.catalogue import PHASE_NAMES, all_criteria, criterion
from pytest_spine.gates.runner import PhaseRunner
from pytest_spine.history import History
from pytest_spine.targets.base import PHASE_IDS, PhaseOutcome, ProbeNotSupported, RunSpec
from pytest_spine.verdicts import Status

RUN = "platform_fake"


class FakeTarget:
    name = "fake"

    def __init__(self, bundle: EvidenceBundle, digest_ok: bool = True) -> None:
        self.bundle = bundle
        self.digest_ok = digest_ok
        self.ran: list[str] = []

    def start(self, run: RunSpec, evidence: Any, recorder: Any) -> None:
        pass

    def run_phase(self, phase_id: str) -> PhaseOutcome:
        self.ran.append(phase_id)
        if phase_id == "P(-1)":
            return PhaseOutcome(phase_id, True, facts={"entrypoints": {"ig": True, "wsp": True}})
        if phase_id == "P0":
            return PhaseOutcome(phase_id, True, facts={
                "buckets": {"evidence": True}, "topics_expected": {"t": 2}, "topics": {"t": 2},
                "handles_missing": [], "handles_used": 3, "forbidden_infra": []})
        if phase_id == "P1":
            config = {"handles": {}, "image": {"tag": "git-abc"}}
            digest = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
            self.bundle.put("run.json", {
                "env": "fake", "config": config, "config_digest": digest if self.digest_ok else "0" * 64,
                "config_digest_algo": "sha256", "scenario_equivalence_key": "k", "started_at_utc": "x",
                "code_version": "1", "phase_id": "P1"})
            return PhaseOutcome(phase_id, True)
        raise RuntimeError(f"{phase_id} is not implemented by the fake")

    def probe(self, name: str, **params: Any) -> Mapping[str, Any]:
        raise ProbeNotSupported(self.name, name, "the fake runs no drills")

    def not_applicable(self) -> Mapping[str, str]:
        return {"P(-1)-image_in_registry": "no registry in-process", "P(-1)-image_ref_ready": "no task defs"}

    def describe(self) -> Mapping[str, Any]:
        return {}

    def stop(self) -> None:
        pass


def _runner(tmp_path: Path, **kw: Any) -> tuple[PhaseRunner, FakeTarget]:
    bundle = EvidenceBundle.create(tmp_path, RUN, clock=ManualClock(), validate=False)
    target = FakeTarget(bundle, **kw)
    return PhaseRunner(lambda: target, bundle.get, bundle.list, History(ManualClock()), RUN), target


def test_green_phases_pass_and_not_applicable_carries_the_reason(tmp_path: Path) -> None:
    runner, target = _runner(tmp_path)
    runner.ensure("P1")
    assert target.ran == ["P(-1)", "P0", "P1"]
    assert runner.verdicts["P(-1)-entrypoints_importable"].status is Status.PASS
    assert runner.verdicts["P(-1)-image_in_registry"].status is Status.NOT_APPLICABLE
    assert runner.verdicts["P(-1)-image_in_registry"].reason == "no registry in-process"
    assert runner.verdicts["P1-config_digest_stable"].status is Status.PASS
    assert runner.phase_status == {"P(-1)": Status.PASS, "P0": Status.PASS, "P1": Status.PASS}


def test_a_failed_phase_blocks_every_later_phase_with_the_upstream_reason(tmp_path: Path) -> None:
    runner, target = _runner(tmp_path, digest_ok=False)
    runner.ensure_all()
    assert target.ran == ["P(-1)", "P0", "P1"]  # nothing after the failure executes
    assert runner.verdicts["P1-config_digest_stable"].status is Status.FAIL
    for phase in PHASE_IDS[PHASE_IDS.index("P2"):]:
        assert runner.phase_status[phase] is Status.BLOCKED
    blocked = runner.verdicts["P7-receipts_reconcile"]
    assert blocked.status is Status.BLOCKED
    assert blocked.reason.startswith(f"upstream phase P1 {PHASE_NAMES['P1']} failed (P1-config_digest_stable")


def test_phase_that_raises_fails_its_criteria_and_missing_evidence_is_fail(tmp_path: Path) -> None:
    runner, _ = _runner(tmp_path)
    runner.ensure("P2")
    packs = runner.verdicts["P2-packs_running"]
    assert packs.status is Status.FAIL
    assert "missing evidence operate/daemons_ready.json" in packs.reason


def test_a_probe_the_target_cannot_run_is_unknown_not_pass(tmp_path: Path) -> None:
    from pytest_spine.gates.catalogue import CRITERIA, GateContext

    runner, target = _runner(tmp_path)
    outcome = PhaseOutcome("P3", True)
    ctx = GateContext(phase=outcome, outcomes={}, read=target.bundle.get, files=target.bundle.list,
                      probe_fn=lambda name: target.probe(name), platform_run_id=RUN, history=list)
    verdict = runner._decide(CRITERIA["P3-per_output_rerun"], ctx, outcome, {})
    assert verdict.status is Status.UNKNOWN
    assert "the fake runs no drills" in verdict.reason
    assert verdict.status.is_failure


def test_catalogue_covers_every_phase_and_ids_are_unique() -> None:
    criteria = all_criteria()
    assert {c.phase for c in criteria} == set(PHASE_IDS)
    ids = [c.check_id for c in criteria]
    assert len(ids) == len(set(ids))
    assert "P7-receipts_reconcile" in ids


def test_criterion_misuse_fails_at_definition() -> None:
    with pytest.raises(ValueError, match="phase must be one of"):
        criterion("P99", "x", "t")
    with pytest.raises(ValueError, match="snake_case"):
        criterion("P1", "Bad Name", "t")
    with pytest.raises(ValueError, match="defined twice"):
        criterion("P1", "config_digest_stable", "t")(lambda ctx: None)  # type: ignore[arg-type,return-value]
