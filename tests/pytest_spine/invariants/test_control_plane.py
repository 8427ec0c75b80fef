"""The CP-* checkers: PASS on every control-plane workload of the reference (both stores), FAIL against
the mutant built to break each one, and FAIL with a minimal counterexample on hand-made bad histories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History, Operation
from pytest_spine.invariants.control_plane import CP_IDS
from pytest_spine.invariants.registry import CheckContext, get, iter_specs, run_checks
from pytest_spine.verdicts import Status, Verdict, merge
from reference_impl.control_plane.memory_store import MemoryStore
from reference_impl.control_plane.mutants import CP_MUTANTS
from reference_impl.control_plane.store import ControlStore
from reference_impl.control_plane.workload import SCENARIOS, run_workload


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory of fresh stores (one per workload), on both stores."""
    made: list[Any] = []

    def make() -> ControlStore:
        if request.param == "memory":
            return MemoryStore()
        from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
        from reference_impl.control_plane.postgres_store import PostgresStore

        store = PostgresStore(shared_postgres_dsn(), schema=unique_schema("inv"))
        made.append(store)
        return store

    yield make
    for store in made:
        store.drop()
        store.close()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def mutant_store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Like new_store; the PostgreSQL mutant sweep is slow (a real worker process per crash), so marked so."""
    made: list[Any] = []

    def make() -> ControlStore:
        if request.param == "memory":
            return MemoryStore()
        from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
        from reference_impl.control_plane.postgres_store import PostgresStore

        store = PostgresStore(shared_postgres_dsn(), schema=unique_schema("mut"))
        made.append(store)
        return store

    yield make
    for store in made:
        store.drop()
        store.close()


def verdicts_of(make: Any, mutant: str | None, seed: int = 3) -> dict[str, list[tuple[str, Verdict]]]:
    out: dict[str, list[tuple[str, Verdict]]] = {}
    specs = list(iter_specs("control_plane"))
    for name in SCENARIOS:
        clock = ManualClock()
        history = History(clock)
        run_workload(name, store=make(), clock=clock, recorder=history, seed=seed, mutant=mutant)
        for verdict in run_checks(history.operations(), CheckContext(), specs):
            out.setdefault(verdict.check_id, []).append((name, verdict))
    return out


def test_every_cp_id_has_a_registered_checker() -> None:
    assert sorted(spec.check_id for spec in iter_specs("control_plane")) == sorted(CP_IDS)
    assert {check for check, _ in CP_MUTANTS.values()} == {*CP_IDS, "V12-GATE"}  # one mutant per check at least


@pytest.mark.parametrize("seed", [3, 11])
def test_every_check_passes_on_every_reference_workload(new_store: Any, seed: int) -> None:
    found = verdicts_of(new_store, None, seed)
    bad = {(check, name): v.reason for check, rows in found.items() for name, v in rows if v.status.is_failure}
    assert bad == {}
    assert {check: merge(v.status for _, v in rows) for check, rows in found.items()} == \
        dict.fromkeys(CP_IDS, Status.PASS)


@pytest.mark.parametrize("mutant", sorted(m for m, (check, _) in CP_MUTANTS.items() if check in CP_IDS))
def test_each_mutant_is_killed_by_its_check(mutant_store: Any, mutant: str) -> None:
    target = CP_MUTANTS[mutant][0]
    found = verdicts_of(mutant_store, mutant)
    failing = [(name, v) for name, v in found[target] if v.status is Status.FAIL]
    assert failing, f"{mutant} survived {target}"
    assert failing[0][1].counterexample, "a FAIL carries its counterexample"


def ops(*rows: tuple[str, str, str, dict[str, Any]]) -> list[Operation]:
    return [Operation(i, float(i), process, op_type, f, value) for i, (process, op_type, f, value) in enumerate(rows)]


def created(job: str, update: int) -> tuple[str, str, str, dict[str, Any]]:
    return ("cp", "ok", "cp_job_created", {"job_id": job, "update_id": update, "trace_id": "tr-1"})


def moved(job: str, src: str, dst: str, **extra: Any) -> tuple[str, str, str, dict[str, Any]]:
    return ("cp", "ok", "cp_transition", {"job_id": job, "from": src, "to": dst, "trace_id": "tr-1",
                                         "cause": "command", "recovery": False, "generation": 0, **extra})


def check(check_id: str, history: list[Operation]) -> Verdict:
    return get(check_id).check(history, CheckContext())


def test_an_illegal_transition_is_a_fail_with_the_two_operations() -> None:
    verdict = check("CP-STATE-LEGAL", ops(created("job-1", 1), moved("job-1", "REQUESTED", "RUNNING")))
    assert verdict.status is Status.FAIL
    assert "illegal transition REQUESTED -> RUNNING" in verdict.reason
    assert [row["index"] for row in verdict.counterexample] == [0, 1]


def test_a_state_change_without_a_transition_is_caught() -> None:
    verdict = check("CP-STATE-LEGAL", ops(created("job-1", 1), moved("job-1", "QUEUED", "RUNNING")))
    assert verdict.status is Status.FAIL
    assert "its last recorded state was REQUESTED" in verdict.reason


def test_a_rejected_command_that_moved_a_job_fails() -> None:
    verdict = check("CP-STATE-LEGAL", ops(
        created("job-1", 1), moved("job-1", "REQUESTED", "CANCELED", actor="update:2"),
        ("poller", "ok", "cp_update", {"update_id": 2, "outcome": "rejected", "reason": "no"})))
    assert verdict.status is Status.FAIL and "rejected" in verdict.reason


def test_leaving_a_terminal_state_without_recovery_fails_and_recovery_passes() -> None:
    base = [created("job-1", 1), moved("job-1", "REQUESTED", "CANCELED")]
    bad = check("CP-TERMINAL-STICKY", ops(*base, moved("job-1", "CANCELED", "QUEUED")))
    good = check("CP-TERMINAL-STICKY", ops(*base, moved("job-1", "CANCELED", "APPROVED", cause="recovery",
                                                        recovery=True)))
    assert (bad.status, good.status) == (Status.FAIL, Status.PASS)


def test_missing_snapshot_is_a_fail_not_a_skip() -> None:
    history = ops(created("job-1", 1))
    for check_id in ("CP-LEASE-RECOVERY", "CP-ATTEMPTS-RECORDED", "CP-NO-SILENT-LOSS", "CP-TRACEABLE"):
        verdict = check(check_id, history)
        assert verdict.status is Status.FAIL, check_id
        assert "missing evidence is a FAIL" in verdict.reason


def test_no_restart_is_not_applicable_with_the_reason() -> None:
    verdict = check("CP-RESTART-STABLE", ops(created("job-1", 1)))
    assert verdict.status is Status.NOT_APPLICABLE
    assert "no control-plane restart" in verdict.reason


def test_a_tight_retry_and_an_uncapped_budget_fail() -> None:
    history = ops(("cp", "ok", "cp_policy", {"retry": {"max_attempts": 1000, "max_delay": 60.0}}),
                  ("w1", "ok", "cp_retry", {"job_id": "job-1", "attempt": 1, "delay": 0.0}))
    verdict = check("CP-RETRY-BUDGET", history)
    assert verdict.status is Status.FAIL
    assert "must be a cap of at most 10 attempts" in verdict.reason
    assert verdict.figures["violations"] == 2


def test_identical_delays_mean_no_jitter() -> None:
    rows = [("w1", "ok", "cp_retry", {"job_id": f"job-{n}", "attempt": 1, "delay": 2.0}) for n in range(3)]
    verdict = check("CP-RETRY-BUDGET", ops(("cp", "ok", "cp_policy", {"retry": {"max_attempts": 4,
                                                                               "max_delay": 60.0}}), *rows))
    assert verdict.status is Status.FAIL and "no jitter" in verdict.reason


def test_a_claim_under_a_live_lease_names_both_owners() -> None:
    lease = {"job_id": "job-1", "action": "claim", "lease_expires_at": 100.0}
    verdict = check("CP-SINGLE-OWNER", ops(("w1", "ok", "cp_lease", {**lease, "worker": "w1", "now": 1.0}),
                                           ("w2", "ok", "cp_lease", {**lease, "worker": "w2", "now": 2.0})))
    assert verdict.status is Status.FAIL
    assert "claimed by w2 at 2.0 while w1's lease ran until 100.0" in verdict.reason
