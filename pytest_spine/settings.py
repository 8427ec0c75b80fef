"""Turns options into a SpineSession (or a clear usage error before any test runs), and closes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import SystemClock, new_platform_run_id
from pytest_spine.errors import EvidenceError, SpineError, TargetUnavailable
from pytest_spine.evidence.bundle import EvidenceBundle
from pytest_spine.gates.kpis import DOCUMENT as KPI_DOC
from pytest_spine.gates.kpis import KpiFileError, load_kpis
from pytest_spine.options import DEFAULT_SEED, ENV_CHOICES, PROFILE_CHOICES, STACK_CHOICES, parse_duration
from pytest_spine.session import GateDecision, SpineSession, SpineSettings, decide_gate, preflight
from pytest_spine.targets import ensure_available
from pytest_spine.verdicts import Status


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise pytest.UsageError(f"{name} must be one of {', '.join(choices)}, given: {value!r}")
    return value


# Targets that run the bundled reference (in-process, or as processes over the local stack): a mutant reaches
# their platform and their consumer processes.
MUTANT_ENVS = ("reference", "local_parity")


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
        if env not in MUTANT_ENVS:
            raise pytest.UsageError(f"--spine-mutant selects a broken variant of the bundled reference "
                                    f"implementation, which runs on {' or '.join(MUTANT_ENVS)} only; {env!r} is a "
                                    f"live environment whose code the harness does not choose: drop --spine-mutant "
                                    f"or use --spine-env=reference / --spine-env=local_parity")
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

    kpis_path = config.getoption("spine_kpis")
    try:
        kpis = load_kpis(kpis_path) if kpis_path else None
    except KpiFileError as bad:
        raise pytest.UsageError(str(bad)) from None

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
        kpis=kpis,
    )


def open_session(config: pytest.Config) -> SpineSession:
    settings = read_settings(config)
    try:
        ensure_available(settings.env)
    except TargetUnavailable as missing:
        raise pytest.UsageError(str(missing)) from None
    if not settings.is_worker and not settings.dry_run:  # a dry run never touches the target
        try:
            preflight(settings)
        except SpineError as missing:
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
    if settings.kpis is not None and not settings.is_worker:
        bundle.put(KPI_DOC, settings.kpis.to_evidence())
    return session


def finish_session(session: pytest.Session, spine: SpineSession, exitstatus: int) -> int:
    """Close the run; on the controller, decide Go/No-Go and return the exit status that says it (a worker
    returns pytest's own). The decision goes into bundle_status.json before the bundle is sealed."""
    config = session.config
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    reporter: Any = config.pluginmanager.get_plugin("terminalreporter")

    def complain(message: str) -> None:
        if reporter is not None:
            reporter.write_line(message, red=True)

    if spine.settings.is_worker:
        spine.finish(interrupted=interrupted, exit_status=int(exitstatus), on_error=complain)
        return int(exitstatus)
    # Criteria evaluated for gating but not selected as items still belong in verdicts.json.
    for check_id, verdict in spine.runner.verdicts.items():
        spine.verdicts.setdefault(check_id, verdict)
    _merge_worker_parts(spine)
    decision = gate_decision(spine, int(exitstatus), int(getattr(session, "testsfailed", 0)))
    if spine.settings.dry_run and not any(v.status is not Status.NOT_APPLICABLE for v in spine.verdicts.values()):
        # A dry run validates and plans: it judges nothing, so it is never Go, and pytest's status stands.
        decision = GateDecision(False, ("dry run: scenarios validated and planned, nothing was judged",),
                                decision.rubric_decision)
        spine.finish(interrupted=interrupted, exit_status=int(exitstatus), on_error=complain,
                     status_extra={"gate_decision": decision.to_json()})
        spine.decision = decision
        return int(exitstatus)
    spine.finish(interrupted=interrupted, exit_status=int(exitstatus), on_error=complain,
                 status_extra={"gate_decision": decision.to_json()})
    if decision.go and not spine.bundle.sealed:
        decision = GateDecision(False, ("the evidence bundle could not be sealed",), decision.rubric_decision)
    spine.decision = decision
    return exit_status_for(decision, int(exitstatus))


_PYTEST_PROBLEMS = {
    int(pytest.ExitCode.INTERRUPTED): "the run was interrupted before it finished (the bundle is sealed incomplete)",
    int(pytest.ExitCode.INTERNAL_ERROR): "pytest stopped on an internal error",
    int(pytest.ExitCode.USAGE_ERROR): "pytest was misused (usage error)",
    int(pytest.ExitCode.NO_TESTS_COLLECTED): "no test was collected: nothing was verified",
}


def gate_decision(spine: SpineSession, exitstatus: int, failed_items: int) -> GateDecision:
    """The run's Go/No-Go from its verdicts, its failed items, pytest's status and the rubric's automatic No-Go
    conditions (scored from what the bundle holds at the end of the run)."""
    rubric_decision: str | None = None
    no_go: list[str] = []
    try:
        from pytest_spine.rubric.bundles import BundleView
        from pytest_spine.rubric.mapping import score_bundle
        from pytest_spine.rubric.scorecard import V12_DOC

        view = BundleView(spine.bundle.root, spine.settings.platform_run_id, tuple(spine.verdicts.values()),
                          dict(spine.figures), tuple(spine.bundle.list()), None, spine.settings.env,
                          spine.bundle.get(V12_DOC), {}, spine.bundle.get(KPI_DOC))
        rubric = score_bundle(view)
        rubric_decision = rubric.decision.value
        no_go.extend(rubric.no_go)
    except Exception as error:  # fail closed: a decision the rubric cannot confirm is No-Go
        no_go.append(f"the rubric could not be scored ({type(error).__name__}: {error})")
    return decide_gate(list(spine.verdicts.values()), failed_items=failed_items,
                       run_problem=_PYTEST_PROBLEMS.get(exitstatus), rubric_decision=rubric_decision,
                       rubric_no_go=no_go)


def exit_status_for(decision: GateDecision, exitstatus: int) -> int:
    """Non-zero exactly when the decision is No-Go: pytest's own non-zero status is kept (interrupted, usage,
    internal error), and a No-Go that pytest would have ended with 0 becomes 1 (TESTS_FAILED)."""
    if decision.go:
        return int(pytest.ExitCode.OK)
    return exitstatus if exitstatus != int(pytest.ExitCode.OK) else int(pytest.ExitCode.TESTS_FAILED)


def arrange_items(config: pytest.Config, items: list[pytest.Item], settings: SpineSettings) -> None:
    """--spine-scenario narrows the scenario items; with --spine-soak the soak item runs first, so the v1.2 gate
    item (same xdist group) measures the window the soak item ran."""
    if settings.scenarios:
        select_scenarios(config, items, settings.scenarios)
    if settings.soak_seconds:
        items.sort(key=lambda item: item.get_closest_marker("spine_soak") is None)
    if settings.is_worker and config.getoption("loadgroup", False):
        tag_xdist_groups(items)


def tag_xdist_groups(items: list[pytest.Item]) -> None:
    """Give each grouped item the ``@group`` suffix xdist's loadgroup scheduler reads from its node id.

    pytest-xdist (3.8) tags items by assigning ``item._nodeid``; since pytest 9.2 a node keeps its id in a
    structured ``_id`` and that assignment is lost, so every group would be split across workers (two phase
    runs writing one bundle). Items xdist did tag are left alone."""
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9.2
    except ImportError:  # older pytest: xdist's own tagging works
        return
    for item in items:
        names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                        for mark in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid.rpartition("::")[2] and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")


def share_xdist_groups(config: pytest.Config, workerinput: dict[str, Any] | None = None) -> None:
    """On the controller (``workerinput`` given): tell a worker the run distributes by xdist group. On a worker:
    group its items as the controller does. The plugin switches ``--dist load`` to ``loadgroup`` on the
    controller only; without this the workers would not tag their items with their group, and the phase run
    would start on two workers at once."""
    if workerinput is not None:
        workerinput["spine_loadgroup"] = getattr(config.option, "dist", "no") == "loadgroup"
        return
    worker = getattr(config, "workerinput", None)
    if isinstance(worker, dict) and worker.get("spine_loadgroup"):
        config.option.loadgroup = True


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
