"""The soak loop with a fake clock: exactly how many iterations run, that it stops by itself, fresh seeds, and
the window's figures summed from its iterations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from pytest_spine.errors import SpineError
from pytest_spine.gates.v12 import combine
from pytest_spine.scenarios.model import Scenario, Workload
from pytest_spine.scenarios.soak import (
    MAX_BLOCKED_IN_A_ROW,
    Iteration,
    SoakWindow,
    fresh_seeds,
    replay_command,
    run_soak,
)
from pytest_spine.verdicts import Status


def scenario(scenario_id: str) -> Scenario:
    return Scenario(scenario_id, "", f"{scenario_id}.yaml", Workload("control_plane", {}), (), ())


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def runner(clock: FakeClock, seconds_each: float, status: Any = Status.PASS,
           figures: Mapping[str, float] | None = None, measured: Mapping[str, Any] | None = None) -> Any:
    calls: list[tuple[str, int, int]] = []

    def run_one(s: Scenario, seed: int, number: int) -> Iteration:
        calls.append((s.id, seed, number))
        clock.now += seconds_each
        chosen = status(s) if callable(status) and not isinstance(status, Status) else status
        return Iteration(number, s.id, seed, chosen, "why", seconds_each, dict(figures or {}), measured)

    run_one.calls = calls  # type: ignore[attr-defined]
    return run_one


def test_runs_until_the_deadline_then_stops_by_itself() -> None:
    clock = FakeClock()
    run_one = runner(clock, 3.0)
    window = run_soak([scenario("CH-A"), scenario("CH-B")], run_one, seconds=10, monotonic=clock,
                      seeds=fresh_seeds(1))
    # Started at 0, 3, 6 and 9 (all before the 10 s deadline); the check at 12 stops it.
    assert len(window.iterations) == 4
    assert [c[0] for c in run_one.calls] == ["CH-A", "CH-B", "CH-A", "CH-B"]
    assert [i.number for i in window.iterations] == [1, 2, 3, 4]
    assert window.elapsed_seconds == 12.0 and window.stopped == "deadline" and not window.interrupted


def test_seeds_are_fresh_distinct_and_never_the_suites_own() -> None:
    clock = FakeClock()
    taken = {3, 1}
    window = run_soak([scenario("CH-A")], runner(clock, 1.0), seconds=50, monotonic=clock,
                      seeds=fresh_seeds(7, taken))
    seeds = window.seeds
    assert len(seeds) == 50 and len(set(seeds)) == 50 and not set(seeds) & taken
    assert seeds[:5] == tuple(s for s, _ in zip(fresh_seeds(7, taken), range(5), strict=False))  # replayable


def test_an_interrupt_ends_the_window_with_what_ran() -> None:
    clock = FakeClock()
    inner = runner(clock, 1.0)

    def run_one(s: Scenario, seed: int, number: int) -> Iteration:
        if number == 3:
            raise KeyboardInterrupt
        result: Iteration = inner(s, seed, number)
        return result

    window = run_soak([scenario("CH-A")], run_one, seconds=100, monotonic=clock, seeds=fresh_seeds(1))
    assert window.interrupted and window.stopped == "interrupted"
    assert [i.number for i in window.iterations] == [1, 2]


def test_an_interrupt_whose_exception_was_swallowed_still_ends_the_window() -> None:
    clock = FakeClock()
    inner = runner(clock, 1.0)
    signalled: list[int] = []

    def run_one(s: Scenario, seed: int, number: int) -> Iteration:
        if number == 2:
            signalled.append(number)  # Ctrl-C arrived, but its KeyboardInterrupt was lost in a finalizer
        result: Iteration = inner(s, seed, number)
        return result

    window = run_soak([scenario("CH-A")], run_one, seconds=100, monotonic=clock, seeds=fresh_seeds(1),
                      interrupted=lambda: bool(signalled))
    assert window.interrupted and window.stopped == "interrupted"
    assert [i.number for i in window.iterations] == [1, 2]


def test_not_applicable_scenarios_leave_the_rotation_and_an_empty_rotation_stops() -> None:
    clock = FakeClock()
    run_one = runner(clock, 1.0, status=lambda s: Status.NOT_APPLICABLE if s.id == "CH-NA" else Status.PASS)
    window = run_soak([scenario("CH-A"), scenario("CH-NA")], run_one, seconds=4, monotonic=clock,
                      seeds=fresh_seeds(1))
    # The N/A run (1 s here) is not an iteration; CH-A runs at 0, 2 and 3 and the check at 4 stops the window.
    assert [i.scenario for i in window.iterations] == ["CH-A"] * 3
    assert [c[0] for c in run_one.calls] == ["CH-A", "CH-NA", "CH-A", "CH-A"]
    clock = FakeClock()
    window = run_soak([scenario("CH-NA")], runner(clock, 0.0, Status.NOT_APPLICABLE), seconds=4, monotonic=clock,
                      seeds=fresh_seeds(1))
    assert window.iterations == () and window.stopped == "nothing_applicable"


def test_a_target_that_stays_blocked_ends_the_window_instead_of_spinning() -> None:
    clock = FakeClock()
    window = run_soak([scenario("CH-A")], runner(clock, 0.0, Status.BLOCKED), seconds=3600, monotonic=clock,
                      seeds=fresh_seeds(1))
    assert len(window.iterations) == MAX_BLOCKED_IN_A_ROW and window.stopped == "blocked"


def test_the_iteration_bound_holds_whatever_the_duration() -> None:
    clock = FakeClock()
    window = run_soak([scenario("CH-A")], runner(clock, 0.0), seconds=3600, monotonic=clock, seeds=fresh_seeds(1),
                      max_iterations=25)
    assert len(window.iterations) == 25 and window.stopped == "max_iterations"


def test_a_duration_must_be_positive() -> None:
    with pytest.raises(SpineError, match="positive duration"):
        run_soak([scenario("CH-A")], runner(FakeClock(), 1.0), seconds=0, monotonic=FakeClock(),
                 seeds=fresh_seeds(1))


def _measured(updates: int, errors: int, bursts: int, recovered: int, heavy: int, duplicates: int) -> dict[str, Any]:
    return {"command_updates": updates, "command_errors": errors, "poll_timeout_bursts": bursts,
            "poll_timeout_recovered": recovered, "heavy_executions": heavy, "duplicate_heavy_executions": duplicates,
            "incident_recovery_seconds": [60.0], "incidents_unrecovered": [], "sampled_tasks": 1,
            "traceable_tasks": 1, "window_seconds": 10.0}


def test_the_window_figures_are_recomputed_from_summed_counts() -> None:
    iterations = (
        Iteration(1, "CH-POLL-TIMEOUT-BURST", 11, Status.PASS, "", 1.0, {}, _measured(100, 0, 4, 4, 10, 0)),
        Iteration(2, "CH-POLL-TIMEOUT-BURST", 12, Status.FAIL, "lost", 1.0, {}, _measured(300, 6, 4, 2, 10, 1)),
        Iteration(3, "CH-REPLAY-FLOOD", 13, Status.PASS, "", 1.0, {"replays": 1000, "replay_rejection_ratio": 1.0}),
        Iteration(4, "CH-REPLAY-FLOOD", 14, Status.PASS, "", 1.0, {"replays": 3000, "replay_rejection_ratio": 0.99}),
    )
    window = SoakWindow(60.0, 61.5, iterations)
    figures = window.figures()
    assert figures["soak_iterations"] == 4 and figures["soak_failures"] == 1
    assert figures["command_success_rate"] == 394 / 400  # not the mean of 1.0 and 0.98
    assert figures["poll_timeout_recovery_rate"] == 6 / 8
    assert figures["duplicate_heavy_executions"] == 1
    assert figures["replay_rejection_ratio"] == pytest.approx((1000 + 2970) / 4000)
    assert figures["mttr_minutes"] == 1.0
    assert figures["soak_window_seconds"] == 61.5
    assert window.to_json()["failures"] == [{"number": 2, "instance": "CH-POLL-TIMEOUT-BURST-seed=12", "seed": 12,
                                             "status": "FAIL", "reason": "lost", "evidence": []}]
    assert window.to_json()["iterations"][0] == {"number": 1, "scenario": "CH-POLL-TIMEOUT-BURST",
                                                 "instance": "CH-POLL-TIMEOUT-BURST-seed=11", "seed": 11,
                                                 "status": "PASS", "seconds": 1.0}


def test_a_window_without_a_control_plane_or_replays_does_not_invent_figures() -> None:
    figures = SoakWindow(1.0, 1.0, (Iteration(1, "CH-LATE-CONTEXT", 5, Status.PASS, "", 1.0),)).figures()
    assert figures["command_success_rate"] is None
    assert figures["poll_timeout_recovery_rate"] is None
    assert figures["duplicate_heavy_executions"] is None
    assert figures["replay_rejection_ratio"] is None


def test_combine_equals_measuring_everything_at_once() -> None:
    parts = [_measured(100, 1, 2, 2, 5, 0), _measured(50, 0, 1, 0, 5, 2)]
    combined = combine(parts)
    assert combined["command_success_rate"] == 149 / 150
    assert combined["poll_timeout_recovery_rate"] == 2 / 3
    assert combined["duplicate_heavy_executions"] == 2
    assert combined["window_seconds"] == 20.0
    assert combine([])["command_success_rate"] is None


def test_the_replay_command_names_the_scenario_and_the_seed() -> None:
    iteration = Iteration(7, "CH-DUPLICATE-RESUME", 4242, Status.FAIL, "", 0.1)
    assert replay_command(iteration, "reference", "double_dispatch_on_resume") == (
        "pytest --spine-env=reference -k test_scenario --spine-scenario=CH-DUPLICATE-RESUME --spine-seed=4242 "
        "--spine-mutant=double_dispatch_on_resume")


def test_during_the_window_a_signal_raises_the_flag_and_still_interrupts() -> None:
    import os
    import signal

    from pytest_spine.scenarios.soak_session import _interrupt_flag

    # A suite started in the background by a shell inherits SIGINT ignored: set Python's usual handler here.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _interrupt_flag() as interrupted:
            assert interrupted() is False
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # the handler runs at the next bytecode boundary
                    pass
            assert interrupted() is True  # even if that KeyboardInterrupt had been swallowed on its way
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignored by whoever started us: it stays ignored
        with _interrupt_flag() as interrupted:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
            assert interrupted() is False
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)
