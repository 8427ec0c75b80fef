"""One scenario item of the packaged suite: choose the driver for the target, run the instance, write its
evidence (result, timeline, compressed history with its size bound) and hand back the verdicts.

Drivers are registered per target name; a target without one makes its scenarios NOT_APPLICABLE, with
the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.clock import ManualClock, SystemClock
from pytest_spine.errors import ScenarioError, SpineError, TargetUnavailable
from pytest_spine.history import History
from pytest_spine.scenarios.driver import ChaosDriver
from pytest_spine.scenarios.loader import LoadReport, load_dir, packaged_dir
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.plan import plan_json
from pytest_spine.scenarios.runner import KIND, ScenarioResult, run_scenario
from pytest_spine.verdicts import Status, Verdict

# (platform_run_id, seed, mutant, history) -> a started driver
DriverFactory = Callable[[str, int, "str | None", History], ChaosDriver]
# The stated bound of a stored scenario history, in JSON-lines bytes before gzip: a full CH-REPLAY-FLOOD
# (about 400,000 operations) fits, so it can be re-checked offline; beyond it the stored file says so.
HISTORY_LIMIT_BYTES = 256 * 2**20


def _reference(platform_run_id: str, seed: int, mutant: str | None, history: History) -> ChaosDriver:
    from pytest_spine.scenarios.reference_driver import ReferenceDriver

    return ReferenceDriver.standalone(platform_run_id, seed, mutant, clock=ManualClock(), history=history)


_DRIVERS: dict[str, DriverFactory] = {"reference": _reference}
# Live environments: a destructive scenario (declared ``target.destructive``) runs there only with
# --spine-allow-destructive. The reference and the throwaway local stack are the harness's own.
LIVE_ENVS = frozenset({"dev_min"})


def register_driver(env: str, factory: DriverFactory) -> None:
    """Let another target (local_parity, dev_min) run the scenarios."""
    _DRIVERS[env] = factory


def scenario_dirs(rootdir: Path | None = None) -> tuple[Path, ...]:
    """The packaged scenarios, plus a project's own ``scenarios/`` folder when it has one."""
    extra = (rootdir / "scenarios",) if rootdir is not None and (rootdir / "scenarios").is_dir() else ()
    return (packaged_dir(), *extra)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The collected scenario instances by test id, and the files that were rejected."""

    instances: Mapping[str, tuple[Scenario, int]]
    rejected: Mapping[str, ScenarioError]


def collect(rootdir: Path | None, seed: int | None) -> Catalogue:
    report: LoadReport = load_dir(*scenario_dirs(rootdir))
    instances: dict[str, tuple[Scenario, int]] = {}
    for scenario in report.scenarios:
        for chosen in ((seed,) if seed is not None else scenario.seeds):
            instances[scenario.instance_id(chosen)] = (scenario, chosen)
    rejected = {f"invalid:{Path(error.path).name}": error for error in report.errors}
    return Catalogue(instances, rejected)


def execute(spine: Any, scenario: Scenario, seed: int) -> tuple[Verdict, ScenarioResult | None]:
    """Run one instance for the ``spine`` session and write its evidence; returns its verdict."""
    black_box = _black_box(spine)
    # The env's (or the black box's) variant is what runs and what the plan shows.
    scenario = scenario.for_target(spine.settings.env, black_box=black_box)
    # A black box is real traffic at real times; the harness's own targets run on its injected clock.
    history = History(SystemClock() if black_box else ManualClock(spine.clock.now()))
    scale = float(getattr(spine.run, "workload_scale", 1.0))
    verdict, result = run_instance(spine, scenario, seed, history,
                                   on_close=lambda: write_evidence(spine, scenario, seed, history, None, scale))
    if result is not None:
        write_evidence(spine, scenario, seed, history, result, scale)
    return verdict, result


def run_instance(spine: Any, scenario: Scenario, seed: int, history: History,
                 on_close: Callable[[], None] | None = None) -> tuple[Verdict, ScenarioResult | None]:
    """Run one instance on a fresh driver of the session's target, writing no evidence. ``on_close`` runs once
    the driver is closed, even when the run raised (KeyboardInterrupt included)."""
    env = spine.settings.env
    black_box = _black_box(spine)
    scenario = scenario.for_target(env, black_box=black_box)
    problem = applicable(spine, scenario)
    if problem is not None:
        return _na(scenario, seed, problem), None
    if black_box:
        from pytest_spine.scenarios.black_box_driver import factory_for

        try:
            factory = factory_for(spine.target)
        except TargetUnavailable as down:
            return Verdict(scenario.id, KIND, Status.BLOCKED, f"{scenario.instance_id(seed)}: {down}",
                           figures={"seed": seed}), None
    else:
        factory = _DRIVERS[env]
    instance = scenario.instance_id(seed)
    run_id = f"{spine.settings.platform_run_id}-{instance}"
    try:
        driver = factory(run_id, seed, spine.settings.mutant, history)
    except (TargetUnavailable, SpineError) as down:
        verdict = Verdict(scenario.id, KIND, Status.BLOCKED, f"{instance}: {down}", figures={"seed": seed})
        return verdict, None
    scale = float(getattr(spine.run, "workload_scale", 1.0))
    try:
        result = run_scenario(scenario, seed, driver, scale=scale)
    finally:
        try:
            driver.close()  # may raise (a consumer process survived): the history is still stored
        finally:
            if on_close is not None:
                on_close()
    return result.verdict, result


def applicable(spine: Any, scenario: Scenario) -> str | None:
    """Why ``scenario`` cannot run on the session's target (None when it can)."""
    env = spine.settings.env
    if _black_box(spine):
        # A platform the harness did not write: only its own driver (a client and observer of the gate), and only
        # when the session may send to it; the bundled drivers fault the reference's components.
        from pytest_spine.scenarios.black_box_driver import not_applicable

        return not_applicable(scenario, env, allow_destructive=bool(spine.settings.allow_destructive))
    if env not in scenario.envs:
        return f"{scenario.id} is declared for {', '.join(scenario.envs)}, not {env!r}{_requirement(scenario)}"
    if scenario.destructive and env in LIVE_ENVS and not spine.settings.allow_destructive:
        return f"{scenario.id} harms the target; pass --spine-allow-destructive to run it on {env!r}"
    if env not in _DRIVERS:
        _import_target(env)
    if env not in _DRIVERS:
        return f"no chaos driver is registered for target {env!r}"
    return None


def _black_box(spine: Any) -> bool:
    try:
        return bool(spine.target.describe().get("black_box"))
    except Exception:  # a target that did not start is reported by its phases; here it is simply not a black box
        return False


# (session, instance) -> what put_history stored: the history is written once, even if the run crashed.
_stored: dict[tuple[int, str], dict[str, Any]] = {}


def write_evidence(spine: Any, scenario: Scenario, seed: int, history: History, result: ScenarioResult | None,
                   scale: float) -> None:
    """The history is stored even when the run crashed (called from ``finally``); the rest once it is known."""
    instance = scenario.instance_id(seed)
    base = f"scenarios/{instance}"
    key = (id(spine), instance)
    if key not in _stored:
        _stored[key] = spine.bundle.put_history(f"{base}/history.jsonl.gz", history.operations(),
                                                limit_bytes=HISTORY_LIMIT_BYTES)
        spine.histories.append(_stored[key])
    if result is None:
        return
    stored = _stored[key]
    header = {"scenario": scenario.id, "instance": instance, "seed": seed}
    spine.bundle.put(f"{base}/timeline.json", {
        **header, "plan": plan_json(scenario, seed, scale), "events": [e.to_json() for e in result.timeline],
        "rolled_back": all(e.ok for e in result.timeline if e.action == "rollback")})
    spine.bundle.put(f"{base}/result.json", {**header, **result.to_json(), "history": stored})
    numeric = {k: v for k, v in result.figures.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    spine.add_figures(**{f"{scenario.id}.{k}": v for k, v in numeric.items()})
    spine.add_figures(**{t.figure: numeric[t.figure] for t in scenario.thresholds if t.figure in numeric})
    for part in result.parts:
        if part.check_id.endswith(("/rollback", "/steady-state-after")):
            spine.record(Verdict(f"{instance}/{part.check_id.split('/', 1)[1]}", part.kind, part.status,
                                 part.reason, figures=part.figures))


def _import_target(env: str) -> None:
    """A target module registers its chaos driver when imported (``targets/local_parity.py``); a session that
    selected only scenarios has not imported it yet."""
    import importlib

    if env.isidentifier():
        try:
            importlib.import_module(f"pytest_spine.targets.{env}")
        except ModuleNotFoundError:
            return


def _requirement(scenario: Scenario) -> str:
    """Why a scenario needs another target, from what its faults and workload need."""
    from pytest_spine.faults.base import fault_kinds
    from pytest_spine.scenarios.workloads import workloads

    kinds = fault_kinds()
    needs = set(workloads()[scenario.workload.generator].needs)
    for fault in scenario.faults:
        needs |= kinds[fault.kind].needs
    if "network_faults" in needs:
        return (": its faults are network faults (Toxiproxy between the platform and Kafka/S3), which need a "
                "target over real services: local_parity, or dev_min with --spine-allow-destructive")
    return ""


def _na(scenario: Scenario, seed: int, reason: str) -> Verdict:
    return Verdict(scenario.id, KIND, Status.NOT_APPLICABLE, reason, figures={"seed": seed})
