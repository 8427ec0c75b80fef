"""The soak loop (``--spine-soak=DURATION``): the chaos scenarios again and again, each time with a fresh seed,
until a wall-clock deadline; and the soak window's figures for the v1.2 gate.

The deadline is checked between executions and every execution is bounded by its workload, so the loop stops
by itself at most one execution after the deadline. Ctrl-C (or SIGTERM, which the plugin turns into one) ends
the window early: what ran is kept and the window says it was interrupted. The clock and the seeds are
injected, so a test drives the loop with a fake clock and a failing iteration replays from its seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.clock import seeded_random
from pytest_spine.errors import SpineError
from pytest_spine.gates.v12 import combine
from pytest_spine.scenarios.model import Scenario
from pytest_spine.verdicts import Status

SOAK_ID = "SOAK-WINDOW"
SOAK_DOC = "soak/soak_window.json"
MAX_ITERATIONS = 100_000  # a bound on the evidence a window writes, whatever the duration
MAX_BLOCKED_IN_A_ROW = 3  # the target is gone: stop instead of spinning until the deadline


@dataclass(frozen=True, slots=True)
class Iteration:
    """One execution of the window: which scenario, with which seed, how it came out."""

    number: int
    scenario: str
    seed: int
    status: Status
    reason: str
    seconds: float
    figures: Mapping[str, float] = field(default_factory=dict)  # the scenario's numeric figures
    measured: Mapping[str, Any] | None = None  # the v1.2 gate's ``measure`` of its history, if it ran a control plane
    evidence: tuple[str, ...] = ()

    @property
    def instance(self) -> str:
        return f"{self.scenario}-seed={self.seed}"

    def to_json(self) -> dict[str, Any]:
        """Compact for a passing iteration (a night holds thousands); a failing one keeps its reason and figures."""
        line: dict[str, Any] = {"number": self.number, "scenario": self.scenario, "instance": self.instance,
                                "seed": self.seed, "status": self.status.value, "seconds": round(self.seconds, 3)}
        if self.status is not Status.PASS:
            line.update(reason=self.reason, figures=dict(self.figures), evidence=list(self.evidence))
        return line


@dataclass(frozen=True, slots=True)
class SoakWindow:
    requested_seconds: float
    elapsed_seconds: float
    iterations: tuple[Iteration, ...]
    interrupted: bool = False
    stopped: str = "deadline"  # deadline | interrupted | max_iterations | blocked | nothing_applicable

    @property
    def failures(self) -> tuple[Iteration, ...]:
        return tuple(i for i in self.iterations if i.status.is_failure)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(i.seed for i in self.iterations)

    def measured(self) -> list[Mapping[str, Any]]:
        """The v1.2 gate's figures of every iteration that ran a control plane (for ``v12.combine``)."""
        return [i.measured for i in self.iterations if i.measured is not None]

    def figures(self) -> dict[str, Any]:
        """The window's figures: every rate recomputed from the summed counts, None when nothing measured it."""
        control = combine(self.measured())
        replays = sum(float(i.figures.get("replays", 0)) for i in self.iterations)
        rejected = sum(float(i.figures.get("replays", 0)) * float(i.figures.get("replay_rejection_ratio", 0))
                       for i in self.iterations if "replay_rejection_ratio" in i.figures)
        mttr = control["mttr_minutes"]
        return {
            "soak_iterations": len(self.iterations),
            "soak_failures": len(self.failures),
            "soak_window_seconds": round(self.elapsed_seconds, 3),
            "soak_requested_seconds": self.requested_seconds,
            "command_updates": control["command_updates"],
            "command_success_rate": control["command_success_rate"],
            "poll_timeout_bursts": control["poll_timeout_bursts"],
            "poll_timeout_recovery_rate": control["poll_timeout_recovery_rate"],
            "heavy_executions": control["heavy_executions"],
            "duplicate_heavy_executions": control["duplicate_heavy_executions"],
            "incidents": control["incidents"],
            "mttr_minutes": None if mttr is None or mttr == float("inf") else mttr,
            "replays": int(replays),
            "replay_rejection_ratio": (rejected / replays) if replays else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "requested_seconds": self.requested_seconds,
            "window_seconds": round(self.elapsed_seconds, 3),
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "scenarios": sorted({i.scenario for i in self.iterations}),
            "seeds": list(self.seeds),
            "figures": self.figures(),
            "failures": [{"number": i.number, "instance": i.instance, "seed": i.seed, "status": i.status.value,
                          "reason": i.reason, "evidence": list(i.evidence)} for i in self.failures],
            "iterations": [i.to_json() for i in self.iterations],
        }


def fresh_seeds(base_seed: int, taken: Iterable[int] = ()) -> Iterator[int]:
    """Seeds derived from ``base_seed`` (so a window replays from ``--spine-seed``), never one in ``taken``
    and never the same twice."""
    rng = seeded_random(base_seed, "soak")
    seen = set(taken)
    while True:
        seed = rng.randrange(1, 2**31)
        if seed not in seen:
            seen.add(seed)
            yield seed


RunOne = Callable[[Scenario, int, int], Iteration]  # (scenario, seed, iteration number) -> what happened
OnIteration = Callable[[Iteration, float], None]  # (iteration, seconds left)


def run_soak(scenarios: Sequence[Scenario], run_one: RunOne, *, seconds: float, monotonic: Callable[[], float],
             seeds: Iterator[int], on_iteration: OnIteration | None = None,
             max_iterations: int = MAX_ITERATIONS, interrupted: Callable[[], bool] = lambda: False) -> SoakWindow:
    """Round-robin over ``scenarios`` with fresh seeds until ``seconds`` of ``monotonic`` time have passed.

    A scenario that turns out NOT_APPLICABLE leaves the rotation; three BLOCKED iterations in a row end the
    window (the target is unavailable). KeyboardInterrupt ends it too, and is *not* re-raised here: the caller
    writes the window first, then re-raises. ``interrupted()`` is asked between executions: a Ctrl-C whose
    KeyboardInterrupt was swallowed on its way (raised inside a finalizer, say) still ends the window.
    """
    if seconds <= 0:
        raise SpineError(f"a soak window needs a positive duration, given: {seconds!r} seconds")
    rotation = list(scenarios)
    start = monotonic()
    deadline = start + seconds
    done: list[Iteration] = []
    stopped = "deadline"
    blocked_in_a_row = 0
    position = 0
    try:
        while True:
            if interrupted():
                stopped = "interrupted"
                break
            if not rotation:
                stopped = "nothing_applicable"
                break
            if len(done) >= max_iterations:
                stopped = "max_iterations"
                break
            if monotonic() >= deadline:
                break
            scenario = rotation[position % len(rotation)]
            iteration = run_one(scenario, next(seeds), len(done) + 1)
            if iteration.status is Status.NOT_APPLICABLE:
                rotation.remove(scenario)
                continue
            done.append(iteration)
            position += 1
            blocked_in_a_row = blocked_in_a_row + 1 if iteration.status is Status.BLOCKED else 0
            if on_iteration is not None:
                on_iteration(iteration, max(0.0, deadline - monotonic()))
            if blocked_in_a_row >= MAX_BLOCKED_IN_A_ROW:
                stopped = "blocked"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    return SoakWindow(float(seconds), monotonic() - start, tuple(done), stopped == "interrupted", stopped)


def replay_command(iteration: Iteration, env: str, mutant: str | None = None) -> str:
    """The command that runs this one iteration again."""
    extra = f" --spine-mutant={mutant}" if mutant else ""
    return (f"pytest --spine-env={env} -k test_scenario --spine-scenario={iteration.scenario} "
            f"--spine-seed={iteration.seed}{extra}")
