"""The harness reads a platform's database, where the registry names one (``platform.database``), and only
reads: every session is ``default_transaction_read_only``, with a statement timeout, so an observation can
neither change the platform's state nor hang the run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pytest_spine.errors import EnvironmentFault

_TABLE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")


class DatabaseObserver:
    def __init__(self, dsn: str, *, timeout_s: float = 10.0, name: str = "the platform's database") -> None:
        self._dsn = dsn  # may hold a password: never in a message, a fact or the history
        self.timeout_s = timeout_s
        self.name = name

    @contextmanager
    def session(self) -> Iterator[Any]:
        import psycopg

        options = f"-c default_transaction_read_only=on -c statement_timeout={int(self.timeout_s * 1000)}"
        try:
            conn = psycopg.connect(self._dsn, connect_timeout=max(1, int(self.timeout_s)), options=options,
                                   autocommit=False)
        except psycopg.Error as error:
            raise EnvironmentFault(f"{self.name} (the DSN in the environment variable platform.database.dsn_env "
                                   f"names) is not reachable: {type(error).__name__}") from None
        try:
            conn.read_only = True
            yield conn
        finally:
            conn.rollback()
            conn.close()

    def table_counts(self, tables: Iterable[str]) -> dict[str, int]:
        """Rows per declared table, read in one read-only transaction (one consistent snapshot)."""
        import psycopg
        from psycopg import sql

        counts: dict[str, int] = {}
        with self.session() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in tables:
                if not _TABLE.match(table):
                    raise EnvironmentFault(f"platform.database.tables names {table!r}, which is not a table name "
                                           "(schema.table, lower case)")
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
                try:
                    row = conn.execute(query).fetchone()
                except psycopg.Error as error:
                    raise EnvironmentFault(f"{self.name}: table {table!r} cannot be read: "
                                           f"{type(error).__name__}: {str(error).splitlines()[0]}") from None
                counts[table] = int(row[0]) if row else 0
        return counts
