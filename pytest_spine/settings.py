"""Turns options into a SpineSession (or a clear usage error before any test runs), and closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import SystemClock, new_platform_run_id
from pytest_spine.errors import EvidenceError, TargetUnavailable
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.options import DEFAULT_SEED, ENV_CHOICES, PROFILE_CHOICES, STACK_CHOICES, parse_duration
from pytest_spine.session import SpineSession, SpineSettings
from pytest_spine.targets import ensure_available


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise pytest.UsageError(f"{name} must be one of {', '.join(choices)}, given: {value!r}")
    return value


def read_settings(config: pytest.Config) -> SpineSettings:
    env = _choice("--spine-env", config.getoption("spine_env") or str(config.getini("spine_env")), ENV_CHOICES)
    profile = _choice("--spine-profile", config.getoption("spine_profile"), PROFILE_CHOICES)
    stack = _choice("--spine-stack", config.getoption("spine_stack"), STACK_CHOICES)
    seed_text = config.getoption("spine_seed")
    try:
        seed = DEFAULT_SEED if seed_text is None else int(seed_text)
    except ValueError:
        raise pytest.UsageError(f"--spine-seed must be an integer, given: {seed_text!r}") from None
    mutant = config.getoption("spine_mutant")
    if mutant is not None:
        if env != "reference":
            raise pytest.UsageError(f"--spine-mutant selects a broken variant of the bundled reference "
                                    f"implementation; it needs --spine-env=reference, given: {env!r}")
        from pytest_spine.targets.reference import MUTANT_NAMES

        if mutant not in MUTANT_NAMES:
            raise pytest.UsageError(f"--spine-mutant must be one of {', '.join(sorted(MUTANT_NAMES))}, "
                                    f"given: {mutant!r}")
    soak = config.getoption("spine_soak")
    try:
        soak_seconds = parse_duration(soak) if soak else None
    except ValueError as bad:
        raise pytest.UsageError(str(bad)) from None
    handles = config.getoption("spine_handles")
    handles_path = Path(handles) if handles else None
    if handles_path is not None and not handles_path.is_file():
        raise pytest.UsageError(f"--spine-handles must name a handles registry file, given: {handles!r} "
                                "(no such file)")

    workerinput = getattr(config, "workerinput", None)
    invocation = Path(config.invocation_params.dir)
    if workerinput is not None and "spine_run_id" in workerinput:
        run_id = workerinput["spine_run_id"]
        evidence_dir = Path(workerinput["spine_evidence_dir"])
        worker_id = str(workerinput.get("workerid", "gw"))
    else:
        evidence_dir = Path(config.getoption("spine_evidence_dir") or str(config.getini("spine_evidence_dir")))
        if not evidence_dir.is_absolute():
            evidence_dir = invocation / evidence_dir
        run_id = config.getoption("spine_run_id") or new_platform_run_id(SystemClock(), seed)
        worker_id = None
    return SpineSettings(
        env=env, evidence_dir=evidence_dir, platform_run_id=run_id, seed=seed, mutant=mutant,
        scenarios=tuple(config.getoption("spine_scenario") or ()), dry_run=bool(config.getoption("spine_dry_run")),
        profile=profile, soak_seconds=soak_seconds, handles=handles_path,
        allow_destructive=bool(config.getoption("spine_allow_destructive")), stack=stack, worker_id=worker_id,
    )


def open_session(config: pytest.Config) -> SpineSession:
    settings = read_settings(config)
    try:
        ensure_available(settings.env)
    except TargetUnavailable as missing:
        raise pytest.UsageError(str(missing)) from None
    try:
        if settings.is_worker:
            bundle = EvidenceBundle.attach(settings.evidence_dir, settings.platform_run_id)
        else:
            bundle = EvidenceBundle.create(settings.evidence_dir, settings.platform_run_id)
    except EvidenceError as bad:
        raise pytest.UsageError(str(bad)) from None
    session = SpineSession(settings, bundle)
    run_id = settings.platform_run_id

    def written(relpath: str, digest: str) -> None:
        session.history.record("harness", "ok", "evidence_write", path=relpath, sha256=digest)
        # Telemetry of the evidence family (the taxonomy's `evidence.*`), correlated by run id.
        session.history.record("harness", "ok", "event", name="evidence.write", category="evidence", version="1",
                               platform_run_id=run_id, scenario_run_id=None, trace_id=None,
                               payload={"path": relpath, "sha256": digest})

    bundle.on_write = written
    return session


def finish_session(config: pytest.Config, spine: SpineSession, exitstatus: int) -> None:
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")

    def complain(message: str) -> None:
        if reporter is not None:
            reporter.write_line(message, red=True)

    if not spine.settings.is_worker:
        # Criteria evaluated for gating but not selected as items still belong in verdicts.json.
        for check_id, verdict in spine.runner.verdicts.items():
            spine.verdicts.setdefault(check_id, verdict)
        _merge_worker_parts(spine)
    spine.finish(interrupted=interrupted, exit_status=int(exitstatus), on_error=complain)


def _merge_worker_parts(spine: SpineSession) -> None:
    from pytest_spine.verdicts import Verdict

    for relpath in spine.bundle.list():
        if relpath.startswith("parts/") and relpath.endswith("/verdicts.json"):
            part = spine.bundle.get(relpath) or {}
            for record in part.get("verdicts", []):
                verdict = Verdict.from_json(record)
                spine.verdicts.setdefault(verdict.check_id, verdict)
        elif relpath.startswith("parts/") and relpath.endswith("/figures.json"):
            spine.figures.update((spine.bundle.get(relpath) or {}).get("figures", {}))


def select_scenarios(config: pytest.Config, items: list[pytest.Item], wanted: tuple[str, ...]) -> None:
    """--spine-scenario narrows the scenario items to the named ids; other kinds of items are untouched."""
    keep, drop = [], []
    for item in items:
        scenario = getattr(item, "callspec", None)
        scenario_id = scenario.params.get("scenario_id") if scenario is not None else None
        not_a_scenario = item.get_closest_marker("spine_scenario") is None or scenario_id is None
        if not_a_scenario or any(str(scenario_id) == w or str(scenario_id).startswith(f"{w}-seed=")
                                 for w in wanted):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
