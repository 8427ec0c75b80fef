"""The database observer reads, and only reads: counts in one snapshot, writes refused by the server, a bad
table name or an unreachable server one clear error without the DSN."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pytest_spine.errors import EnvironmentFault
from pytest_spine.observe.database import DatabaseObserver
from pytest_spine.stack.fixture import services_stack_dir, session_stack

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def dsn(pytestconfig: pytest.Config) -> Iterator[str]:
    with session_stack("native", stack_dir=services_stack_dir(pytestconfig.rootpath),
                       services=("postgres",)) as stack:
        yield stack.endpoint("postgres.dsn")


def test_counts_are_read_and_writes_are_refused(dsn: str) -> None:
    import psycopg

    table = f"spine_obs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as writer:
        writer.execute(f"CREATE TABLE {table} (id int)")
        writer.execute(f"INSERT INTO {table} VALUES (1), (2), (3)")
    try:
        observer = DatabaseObserver(dsn, timeout_s=5)
        assert observer.table_counts([table]) == {table: 3}
        with observer.session() as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO {table} VALUES (4)")
        assert observer.table_counts([table]) == {table: 3}
        with pytest.raises(EnvironmentFault, match="is not a table name"):
            observer.table_counts(["x; DROP TABLE y"])
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as writer:
            writer.execute(f"DROP TABLE {table}")


def test_an_unreachable_database_names_the_handle_not_the_dsn() -> None:
    secret_dsn = "postgresql://spine:hunter2@127.0.0.1:1/db"
    with pytest.raises(EnvironmentFault, match="is not reachable") as raised:
        DatabaseObserver(secret_dsn, timeout_s=1).table_counts(["t"])
    assert "hunter2" not in str(raised.value)
