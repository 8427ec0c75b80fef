from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from reference_impl.control_plane.memory_store import MemoryStore
from reference_impl.control_plane.store import ControlStore


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> Iterator[ControlStore]:
    """The same tests run on both stores: in-memory and a real PostgreSQL server."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from pytest_spine.stack.shared_postgres import shared_postgres_dsn, unique_schema
    from reference_impl.control_plane.postgres_store import PostgresStore

    pg = PostgresStore(shared_postgres_dsn(), schema=unique_schema("cp"))
    yield pg
    pg.drop()
    pg.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def history(clock: ManualClock) -> History:
    return History(clock)
