"""Test helper: the phase machine over a platform's registry, in-process (what a pytest session's gate items
decide), for the suites that verify a platform the harness did not write."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.gates.runner import PhaseRunner
from pytest_spine.history import History
from pytest_spine.targets import create_target
from pytest_spine.targets.base import RunSpec
from pytest_spine.verdicts import Verdict


def judge_platform(registry: Path, run_id: str, workdir: Path, *, destructive: bool, environ: Mapping[str, str],
                   env: str = "local_parity") -> tuple[dict[str, Verdict], History]:
    bundle = EvidenceBundle.create(workdir / f"reports-{destructive}-{uuid.uuid4().hex[:6]}", run_id)
    history = History()
    target = create_target(env, handles=str(registry), environ=environ)
    target.start(RunSpec(run_id, seed=1, allow_destructive=destructive), bundle, history)
    try:
        runner = PhaseRunner(lambda: target, bundle.get, bundle.list, history, run_id)
        runner.ensure_all()
        return dict(runner.verdicts), history
    finally:
        target.stop()
