"""The PostgreSQL store (psycopg 3): the same protocol as the in-memory store, with the durability and
the leases in the database.

Leases are rows, not Python locks: ``claim_next`` selects one claimable job with
``FOR UPDATE SKIP LOCKED`` (two workers never pick the same row, and neither waits for the other) and
writes the new owner and ``lease_expires_at`` in the same transaction. Every job write is a
compare-and-set on ``version``. Each store works inside its own schema, so tests stay isolated.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from reference_impl.control_plane.errors import StoreUnavailable
from reference_impl.control_plane.records import Job
from reference_impl.control_plane.states import JobState
from reference_impl.control_plane.store import LOG_QUERY_LIMIT

_COLUMNS = tuple(f.name for f in dataclasses.fields(Job))
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_DDL = """
CREATE TABLE IF NOT EXISTS updates (
    update_id BIGINT PRIMARY KEY,
    received_at DOUBLE PRECISION NOT NULL,
    reply JSONB
);
CREATE TABLE IF NOT EXISTS jobs (
    seq BIGSERIAL UNIQUE,
    job_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    task TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('REQUESTED','APPROVED','QUEUED','RUNNING','SUCCEEDED','FAILED',
                                         'CANCELED','EXPIRED')),
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    update_id BIGINT NOT NULL,
    timeout_class TEXT NOT NULL,
    generation INTEGER NOT NULL,
    approved BOOLEAN NOT NULL,
    dispatch_key TEXT,
    attempts INTEGER NOT NULL,
    generation_attempts INTEGER NOT NULL,
    last_error TEXT,
    lease_owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claimable ON jobs (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS dispatches (
    dispatch_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    dispatch_key TEXT PRIMARY KEY,
    result TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    seq BIGSERIAL PRIMARY KEY,
    trace_id TEXT,
    record JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_trace ON logs (trace_id, seq);
"""


def _redacted(dsn: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


class PostgresStore:
    kind = "postgres"

    def __init__(self, dsn: str, *, schema: str = "control_plane", connect_timeout: float = 5.0) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema name {schema!r} must match {_SCHEMA_NAME.pattern}")
        import psycopg  # heavy: imported where used

        self._psycopg = psycopg
        self.dsn = dsn
        self.schema = schema
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=int(connect_timeout),
                                         options=f"-c search_path={schema}")
        except psycopg.Error as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL at {_redacted(dsn)}: {error}; start it "
                                   "(`spine stack up --services postgres`) or fix the DSN") from None
        with self._guard("create the schema"):
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            with self._conn.transaction():
                # Concurrent stores creating one schema would race on CREATE TABLE IF NOT EXISTS.
                self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema,))
                self._conn.execute(_DDL)

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (self._psycopg.OperationalError, self._psycopg.InterfaceError) as error:
            raise StoreUnavailable(f"PostgreSQL at {_redacted(self.dsn)} failed while trying to {doing}: "
                                   f"{str(error).strip()[:300]}") from None

    @staticmethod
    def _job(row: tuple[Any, ...]) -> Job:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["state"] = JobState(values["state"])
        return Job(**values)

    @staticmethod
    def _row(job: Job) -> tuple[Any, ...]:
        return tuple(job.state.value if name == "state" else getattr(job, name) for name in _COLUMNS)

    def register_update(self, update_id: int, received_at: float) -> Mapping[str, Any] | None:
        with self._guard("register an update"):
            inserted = self._conn.execute(
                "INSERT INTO updates (update_id, received_at) VALUES (%s, %s) ON CONFLICT DO NOTHING "
                "RETURNING update_id", (update_id, received_at)).fetchone()
            if inserted is not None:
                return None
            row = self._conn.execute("SELECT reply FROM updates WHERE update_id = %s", (update_id,)).fetchone()
        return dict(row[0]) if row and row[0] else {}

    def store_reply(self, update_id: int, reply: Mapping[str, Any]) -> None:
        with self._guard("store a reply"):
            self._conn.execute("UPDATE updates SET reply = %s WHERE update_id = %s",
                               (json.dumps(dict(reply)), update_id))

    def insert_job(self, job: Job) -> bool:
        columns = ", ".join(_COLUMNS)
        marks = ", ".join(["%s"] * len(_COLUMNS))
        with self._guard("insert a job"):
            done = self._conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING "
                                      "RETURNING job_id", self._row(job)).fetchone()
        return done is not None

    def get_job(self, job_id: str) -> Job | None:
        with self._guard("read a job"):
            row = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE job_id = %s",
                                     (job_id,)).fetchone()
        return self._job(row) if row else None

    def jobs(self) -> list[Job]:
        with self._guard("list jobs"):
            rows = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs ORDER BY created_at, job_id"
                                      ).fetchall()
        return [self._job(row) for row in rows]

    def write_job(self, expected_version: int, job: Job) -> bool:
        sets = ", ".join(f"{name} = %s" for name in _COLUMNS if name != "job_id")
        values = tuple(v for name, v in zip(_COLUMNS, self._row(job), strict=True) if name != "job_id")
        with self._guard("write a job"):
            cursor = self._conn.execute(f"UPDATE jobs SET {sets} WHERE job_id = %s AND version = %s",
                                        (*values, job.job_id, expected_version))
        return cursor.rowcount == 1

    def delete_job(self, job_id: str) -> None:
        with self._guard("delete a job"):
            self._conn.execute("DELETE FROM jobs WHERE job_id = %s", (job_id,))

    def claim_next(self, now: float, reclaim_cutoff: float,
                   build: Callable[[Job], Job]) -> tuple[Job, Job] | None:
        with self._guard("claim a job"), self._conn.transaction():
            row = self._conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs "
                "WHERE (state = 'QUEUED' AND next_attempt_at <= %s) "
                "   OR (state = 'RUNNING' AND lease_expires_at <= %s) "
                "ORDER BY next_attempt_at, created_at, job_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                (now, reclaim_cutoff)).fetchone()
            if row is None:
                return None
            before = self._job(row)
            after = build(before)
            sets = ", ".join(f"{name} = %s" for name in _COLUMNS if name != "job_id")
            values = tuple(v for name, v in zip(_COLUMNS, self._row(after), strict=True) if name != "job_id")
            self._conn.execute(f"UPDATE jobs SET {sets} WHERE job_id = %s", (*values, before.job_id))
        return before, after

    def put_dispatch(self, key: str, job_id: str, at: float) -> bool:
        with self._guard("record a dispatch"):
            done = self._conn.execute("INSERT INTO dispatches (dispatch_key, job_id, at) VALUES (%s, %s, %s) "
                                      "ON CONFLICT DO NOTHING RETURNING dispatch_key", (key, job_id, at)).fetchone()
        return done is not None

    def record_execution(self, key: str, result: str, at: float) -> bool:
        with self._guard("record an execution"):
            done = self._conn.execute("INSERT INTO executions (dispatch_key, result, at) VALUES (%s, %s, %s) "
                                      "ON CONFLICT DO NOTHING RETURNING dispatch_key", (key, result, at)).fetchone()
        return done is not None

    def execution_result(self, key: str) -> str | None:
        with self._guard("read an execution"):
            row = self._conn.execute("SELECT result FROM executions WHERE dispatch_key = %s", (key,)).fetchone()
        return str(row[0]) if row else None

    def append_log(self, record: Mapping[str, Any]) -> None:
        with self._guard("append a log record"):
            self._conn.execute("INSERT INTO logs (trace_id, record) VALUES (%s, %s)",
                               (record.get("trace_id"), json.dumps(dict(record), default=str)))

    def logs(self, limit: int = LOG_QUERY_LIMIT, trace_id: str | None = None) -> list[dict[str, Any]]:
        limit = max(0, min(limit, LOG_QUERY_LIMIT))
        with self._guard("query the logs"):
            if trace_id is None:
                rows = self._conn.execute("SELECT seq, record FROM logs ORDER BY seq DESC LIMIT %s",
                                          (limit,)).fetchall()
            else:
                rows = self._conn.execute("SELECT seq, record FROM logs WHERE trace_id = %s ORDER BY seq DESC "
                                          "LIMIT %s", (trace_id, limit)).fetchall()
        return [{"seq": seq, **record} for seq, record in reversed(rows)]

    def drop(self) -> None:
        """Remove this store's schema (tests clean up with it)."""
        with self._guard("drop the schema"):
            self._conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def close(self) -> None:
        if not self._conn.closed:
            self._conn.close()
