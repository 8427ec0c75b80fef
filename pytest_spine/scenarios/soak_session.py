"""The soak window of one ``pytest --spine-soak=DURATION`` session: run once, whichever item asks first (the
soak item, or the v1.2 gate item, which measures its figures over the window), and written to the bundle.

Evidence: ``soak/soak_window.json`` (every iteration with its seed and figures, the failures, the window's
figures) and, for each failing iteration only, ``soak/<instance>/result.json`` and its history, so the bundle
stays bounded over a long night while every failure can be re-checked offline and replayed from its seed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_spine.clock import ManualClock
from pytest_spine.gates.v12 import measure
from pytest_spine.history import History
from pytest_spine.scenarios.execute import HISTORY_LIMIT_BYTES, applicable, collect, run_instance
from pytest_spine.scenarios.model import Scenario
from pytest_spine.scenarios.runner import ScenarioResult
from pytest_spine.scenarios.soak import (
    SOAK_DOC,
    SOAK_ID,
    Iteration,
    SoakWindow,
    fresh_seeds,
    replay_command,
    run_soak,
)
from pytest_spine.scenarios.soak_progress import soak_progress
from pytest_spine.verdicts import Status, Verdict, merge

_WINDOWS: weakref.WeakKeyDictionary[Any, SoakWindow] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def soak_window(spine: Any, config: Any) -> SoakWindow:
    """The session's soak window, run on first use. An interrupted window is written, then the interrupt goes on."""
    with _LOCK:
        window = _WINDOWS.get(spine)
        if window is None:
            window = _run(spine, config)
            _WINDOWS[spine] = window
    if window.interrupted:
        raise KeyboardInterrupt("the soak window was interrupted")
    return window


def soak_scenarios(spine: Any, rootdir: Path | None) -> tuple[list[Scenario], set[int]]:
    """The scenarios the window repeats (those ``--spine-scenario`` names, if any, that apply to the target), and
    every seed the suite's own scenario items use (the window never reuses one)."""
    catalogue = collect(rootdir, None)
    wanted = tuple(spine.settings.scenarios)
    by_id: dict[str, Scenario] = {}
    taken = {int(spine.seed)}
    for scenario, seed in catalogue.instances.values():
        taken.add(seed)
        if wanted and scenario.id not in wanted:
            continue
        if applicable(spine, scenario) is None:
            by_id.setdefault(scenario.id, scenario)
    return [by_id[k] for k in sorted(by_id)], taken


def _run(spine: Any, config: Any) -> SoakWindow:
    seconds = float(spine.settings.soak_seconds)
    scenarios, taken = soak_scenarios(spine, Path(str(config.rootpath)))
    env, mutant = spine.settings.env, spine.settings.mutant

    def replay(iteration: Iteration) -> str:
        return replay_command(iteration, env, mutant)

    with soak_progress(config, seconds, replay) as (on_iteration, on_done), _interrupt_flag() as interrupted:
        window = run_soak(scenarios, lambda s, seed, n: run_one(spine, s, seed, n), seconds=seconds,
                          monotonic=time.monotonic, seeds=fresh_seeds(int(spine.seed), taken),
                          on_iteration=on_iteration, interrupted=interrupted)
        on_done(window)
    write_window(spine, window)
    return window


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[Callable[[], bool]]:
    """While the window runs, SIGINT and SIGTERM also raise a flag the loop reads between executions, then do
    what they did before (raise KeyboardInterrupt). A KeyboardInterrupt can be lost on its way up (raised in a
    ``__del__`` or a callback, Python prints "Exception ignored" and goes on): the flag is not."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        before = previous.get(signum)
        if before == signal.SIG_IGN:  # whoever started us asked for this signal to be ignored
            return
        seen.append(signum)
        if callable(before):
            before(signum, frame)
        else:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    for which in (signal.SIGINT, signal.SIGTERM):
        previous[int(which)] = signal.signal(which, handler)
    try:
        yield lambda: bool(seen)
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def run_one(spine: Any, scenario: Scenario, seed: int, number: int) -> Iteration:
    """One execution; a failing one leaves its result and history under ``soak/<instance>/``."""
    history = History(ManualClock(spine.clock.now()))
    started = time.monotonic()
    result: ScenarioResult | None = None
    try:
        verdict, result = run_instance(spine, scenario, seed, history)
    except Exception as error:  # one broken execution is this iteration's FAIL, not the end of the window
        verdict = Verdict(scenario.id, "scenario", Status.FAIL,
                          f"the execution raised {type(error).__name__}: {error}")
    seconds = time.monotonic() - started
    figures: dict[str, float] = {}
    measured = None
    if result is not None:
        figures = {k: v for k, v in result.figures.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        if any(op.f.startswith("cp_") for op in result.operations):
            measured = measure({scenario.instance_id(seed): result.operations})
    evidence: tuple[str, ...] = ()
    if verdict.status.is_failure:
        evidence = _write_failure(spine, scenario, seed, history, result, verdict)
    return Iteration(number, scenario.id, seed, verdict.status, verdict.reason, seconds, figures, measured, evidence)


def _write_failure(spine: Any, scenario: Scenario, seed: int, history: History, result: ScenarioResult | None,
                   verdict: Verdict) -> tuple[str, ...]:
    base = f"soak/{scenario.instance_id(seed)}"
    stored = spine.bundle.put_history(f"{base}/history.jsonl.gz", history.operations(),
                                      limit_bytes=HISTORY_LIMIT_BYTES)
    header = {"scenario": scenario.id, "instance": scenario.instance_id(seed), "seed": seed}
    if result is not None:
        body = {**header, **result.to_json()}
    else:
        body = {**header, "status": verdict.status.value, "reason": verdict.reason, "figures": {}, "checks": [],
                "steady_state": verdict.to_json()}
    spine.bundle.put(f"{base}/result.json", {**body, "history": stored})
    return f"{base}/result.json", f"{base}/history.jsonl.gz"


def write_window(spine: Any, window: SoakWindow) -> None:
    spine.bundle.put(SOAK_DOC, {"env": spine.settings.env, "profile": spine.settings.profile,
                                "mutant": spine.settings.mutant, "base_seed": int(spine.seed), **window.to_json()})
    figures = window.figures()
    spine.add_figures(**{(k if k.startswith("soak_") else f"soak_{k}"): v for k, v in figures.items()})


def soak_verdict(window: SoakWindow, env: str, mutant: str | None = None) -> Verdict:
    """PASS when the window ran and every iteration held; each failure is named with its seed and replay."""
    figures = {k: v for k, v in window.figures().items() if v is not None}
    if not window.iterations:
        if window.stopped == "nothing_applicable":
            return Verdict(SOAK_ID, "soak", Status.NOT_APPLICABLE,
                           f"no chaos scenario applies to target {env!r}: the soak has nothing to repeat",
                           evidence=(SOAK_DOC,), figures=figures)
        return Verdict(SOAK_ID, "soak", Status.FAIL, "the soak window ran no iteration (missing evidence is FAIL)",
                       evidence=(SOAK_DOC,), figures=figures)
    failures = window.failures
    evidence = (SOAK_DOC, *(e for i in failures for e in i.evidence))
    if failures:
        listed = "; ".join(f"iteration {i.number} {i.instance} {i.status.value} (seed {i.seed}): {i.reason[:200]}"
                           for i in failures[:10])
        more = f" (and {len(failures) - 10} more in {SOAK_DOC})" if len(failures) > 10 else ""
        reason = (f"{len(failures)} of {len(window.iterations)} soak iterations failed: {listed}{more}; replay the "
                  f"first with: {replay_command(failures[0], env, mutant)}")
        if window.stopped == "blocked":
            reason = f"the target became unavailable during the soak; {reason}"
        return Verdict(SOAK_ID, "soak", merge(i.status for i in failures), reason, evidence=evidence,
                       figures=figures)
    return Verdict(SOAK_ID, "soak", Status.PASS,
                   f"{len(window.iterations)} iterations of {len({i.scenario for i in window.iterations})} scenarios "
                   f"with fresh seeds in {window.elapsed_seconds:.1f}s held every check", evidence=evidence,
                   figures=figures)
