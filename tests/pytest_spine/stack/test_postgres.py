"""The throwaway PostgreSQL cluster: start, readiness, status, stop (twice), bad folders, and a database
that goes down mid-run reported as an environment fault."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.errors import EnvironmentFault
from pytest_spine.history import History
from pytest_spine.stack.postgres import PostgresHandle, find_pg_bin, postgres_status, start_postgres, stop_postgres
from pytest_spine.targets.reference_control_plane import run_control_plane
from reference_impl.control_plane.errors import StoreUnavailable
from reference_impl.control_plane.postgres_store import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pg")
    # Root runs the cluster as the postgres user, who must be able to reach the folder.
    for parent in (folder, *folder.parents):
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, 0o755)
    return folder


@pytest.fixture
def server(base: Path) -> Iterator[PostgresHandle]:
    handle = start_postgres(base)
    yield handle
    stop_postgres(handle)


def test_the_binaries_are_found() -> None:
    found = find_pg_bin()
    assert found is not None and (found / "initdb").is_file() and (found / "pg_ctl").is_file()


def test_start_answers_select_1_and_stop_is_idempotent(base: Path) -> None:
    handle = start_postgres(base)
    try:
        assert handle.dsn == f"postgresql://spine@127.0.0.1:{handle.port}/postgres"
        status = postgres_status(handle)
        assert (status["running"], status["ready"], status["pid"]) == (True, True, handle.pid)
        assert Path(handle.data_dir, "PG_VERSION").is_file()
    finally:
        assert stop_postgres(handle) is True
    assert stop_postgres(handle) is False
    assert postgres_status(handle)["running"] is False
    again = start_postgres(base)  # the same folder starts again (the cluster is kept)
    assert postgres_status(again)["ready"] is True
    stop_postgres(again)


def test_a_second_server_on_the_same_folder_is_refused(server: PostgresHandle, base: Path) -> None:
    with pytest.raises(EnvironmentFault, match=r"already runs on .*postmaster.pid exists"):
        start_postgres(base)


def test_a_folder_with_something_else_in_it_is_refused(base: Path) -> None:
    (base / "data").mkdir()
    (base / "data" / "notes.txt").write_text("not a cluster")
    with pytest.raises(EnvironmentFault, match=r"exists but holds no cluster \(no PG_VERSION\)"):
        start_postgres(base)


def test_a_database_that_goes_down_mid_run_is_an_environment_fault(server: PostgresHandle) -> None:
    store = PostgresStore(server.dsn, schema="down_mid_run")
    assert store.jobs() == []
    stop_postgres(server)
    with pytest.raises(StoreUnavailable, match=r"PostgreSQL at postgresql://spine@127.0.0.1:.* failed while trying "
                                               r"to list jobs"):
        store.jobs()
    store.close()
    with pytest.raises(EnvironmentFault, match="cannot connect to PostgreSQL"):
        run_control_plane("CP-BASELINE", seed=3, store="postgres", dsn=server.dsn)


class _StopsTheDatabase(History):
    """A history that shuts the database down once the run has recorded ``after`` operations."""

    def __init__(self, handle: PostgresHandle, after: int) -> None:
        super().__init__(ManualClock())
        self.handle = handle
        self.after = after

    def record(self, process: str, type: str, f: str, **value: Any) -> None:
        super().record(process, type, f, **value)
        if len(self) == self.after:
            stop_postgres(self.handle)


def test_the_database_dying_during_a_workload_keeps_what_was_recorded(server: PostgresHandle) -> None:
    history = _StopsTheDatabase(server, after=40)
    with pytest.raises(EnvironmentFault, match="the control-plane store failed during CP-BASELINE: PostgreSQL at "):
        run_control_plane("CP-BASELINE", seed=3, store="postgres", dsn=server.dsn, history=history)
    kept = history.operations()
    assert len(kept) >= 40 and kept[0].f == "cp_policy"
