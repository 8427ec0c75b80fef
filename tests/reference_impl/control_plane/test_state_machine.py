"""A Hypothesis state machine against the control plane: random commands, duplicates, replayed updates,
bad input, worker crashes and restarts, control-plane restarts and lease expiries on an injected clock.
Every CP-* law holds after every step (the lease-recovery law, which needs quiescence, at the end)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from pytest_spine.clock import ManualClock
from pytest_spine.history import History, Operation
from pytest_spine.invariants.registry import CheckContext, iter_specs, run_checks
from pytest_spine.verdicts import Status
from reference_impl.control_plane.memory_store import MemoryStore
from reference_impl.control_plane.plane import ControlPlane
from reference_impl.control_plane.store import ControlStore
from reference_impl.control_plane.worker import Worker
from reference_impl.control_plane.workload import SimulatedExecutor

WORKERS = ("w1", "w2", "w3")
BAD_UPDATES: tuple[Any, ...] = (
    None, "text", {"update_id": "7"}, {"update_id": 10_000, "message": {"text": "/nope"}},
    {"update_id": 10_001, "message": {"text": "/approve job-99999"}}, {"update_id": 10_002, "message": {}},
)
NEEDS_QUIESCENCE = frozenset({"CP-LEASE-RECOVERY"})


class _Scratch:
    """Collects the observations the invariant takes, without putting them into the run's history."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, dict[str, Any]]] = []

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        self.rows.append((process, type, f, value))


def make_machine(make_store: Any, mutant: str | None = None) -> type[RuleBasedStateMachine]:
    class ControlPlaneMachine(RuleBasedStateMachine):
        judged: ClassVar[list[int]] = []  # checks judged per verification: the laws were really read
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.clock = ManualClock()
            self.history = History(self.clock)
            self.store: ControlStore = make_store()
            self.plane = ControlPlane(self.store, self.clock, self.history, mutant=mutant)
            self.executor = SimulatedExecutor(self.clock, seed=0, fail_rate=0.3)
            self.sent: list[dict[str, Any]] = []
            self.next_update = 1

        def send(self, text: str) -> Any:
            update = {"update_id": self.next_update, "message": {"text": text}}
            self.next_update += 1
            self.sent.append(update)
            return self.plane.handle_update(update)

        @initialize(target=jobs)
        def first_job(self) -> str:
            return str(self.send("/request steady").job_id)

        @rule(target=jobs, task=st.sampled_from(["build", "flaky", "doomed", "slow", "steady"]))
        def request(self, task: str) -> str:
            return str(self.send(f"/request {task}").job_id)

        @rule(job=jobs, command=st.sampled_from(["/approve", "/resume", "/resume", "/cancel", "/recover",
                                                 "/status"]))
        def command(self, job: str, command: str) -> None:
            self.send(f"{command} {job}")

        @rule(job=jobs)
        def approve_and_resume(self, job: str) -> None:
            self.send(f"/approve {job}")
            self.send(f"/resume {job}")

        @rule(pick=st.integers(min_value=0))
        def replay(self, pick: int) -> None:
            self.plane.handle_update(self.sent[pick % len(self.sent)])

        @rule(update=st.sampled_from(BAD_UPDATES))
        def bad_input(self, update: Any) -> None:
            assert self.plane.handle_update(update).outcome in ("rejected", "duplicate")  # a replay is a duplicate

        @rule(worker=st.sampled_from(WORKERS))
        def work(self, worker: str) -> None:
            Worker(self.plane, worker, self.executor).step()

        @rule(worker=st.sampled_from(WORKERS))
        def crash_mid_execution(self, worker: str) -> None:
            Worker(self.plane, worker, self.executor).claim_and_crash()

        @rule()
        def fail_next_report(self) -> None:
            self.plane.fail_next_reports += 1

        @rule()
        def restart(self) -> None:
            pending = self.plane.fail_next_reports
            self.plane = ControlPlane(self.store, self.clock, self.history, mutant=mutant, restart=True)
            self.plane.fail_next_reports = pending

        @rule(seconds=st.sampled_from([1.0, 30.0, 331.0, 4000.0]))
        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)

        def _verdicts(self, skip: frozenset[str]) -> dict[str, tuple[Status, str]]:
            scratch = _Scratch()
            own = self.plane.recorder
            self.plane.recorder = scratch
            try:
                self.plane.record_snapshot("step")
                self.plane.record_trace_samples([job.job_id for job in self.store.jobs()])
            finally:
                self.plane.recorder = own
            ops = self.history.operations()
            ops += [Operation(len(ops) + n, self.clock.now(), *row) for n, row in enumerate(scratch.rows)]
            specs = [spec for spec in iter_specs("control_plane") if spec.check_id not in skip]
            type(self).judged.append(len(specs))
            return {v.check_id: (v.status, v.reason) for v in run_checks(ops, CheckContext(), specs)
                    if v.status.is_failure}

        @invariant()
        def every_cp_law_holds(self) -> None:
            assert self._verdicts(NEEDS_QUIESCENCE) == {}

        def teardown(self) -> None:
            # Quiescence: the clock moves past every lease and retry, and the workers drain the queue.
            for _ in range(60):
                self.clock.advance(4000.0)
                if all(Worker(self.plane, worker, self.executor).step() is None for worker in WORKERS):
                    break
            assert self._verdicts(frozenset()) == {}

    return ControlPlaneMachine


QUICK = settings(max_examples=40, stateful_step_count=30, deadline=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow])


ALL_CP_CHECKS = len(list(iter_specs("control_plane")))


def test_cp_laws_hold_after_every_step_in_memory() -> None:
    machine = make_machine(MemoryStore)
    run_state_machine_as_test(machine, settings=QUICK)
    assert len(machine.judged) > QUICK.max_examples  # after steps and at every teardown
    assert max(machine.judged) == ALL_CP_CHECKS  # the teardown judged every CP-* law


@pytest.mark.postgres
def test_cp_laws_hold_after_every_step_on_postgres() -> None:
    from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
    from reference_impl.control_plane.postgres_store import PostgresStore

    made: list[PostgresStore] = []

    def make() -> PostgresStore:
        for old in made:
            old.drop()
            old.close()
        made.clear()
        made.append(PostgresStore(shared_postgres_dsn(), schema=unique_schema("sm")))
        return made[0]

    machine = make_machine(make)
    try:
        run_state_machine_as_test(machine, settings=settings(QUICK, max_examples=8, stateful_step_count=20))
        assert len(machine.judged) > 8
        assert max(machine.judged) == ALL_CP_CHECKS
    finally:
        for old in made:
            old.drop()
            old.close()


@pytest.mark.parametrize("mutant", ["two_owners", "double_dispatch_on_resume", "terminal_resumable"])
def test_the_machine_finds_a_broken_control_plane(mutant: str) -> None:
    hunting = settings(QUICK, max_examples=200, phases=[Phase.generate])
    with pytest.raises(AssertionError):
        run_state_machine_as_test(make_machine(MemoryStore, mutant), settings=hunting)
