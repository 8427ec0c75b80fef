"""One PostgreSQL server per test process, shared by every test that needs one.

``SPINE_POSTGRES_DSN`` names a server that is already running; else the PostgreSQL of the local stack
recorded in ``SPINE_STACK_DIR`` (``./run tests`` starts one) is used when it runs; otherwise the first caller
starts a throwaway cluster under a temporary folder, stopped when the process exits. Each user takes its own
schema (``unique_schema``), so tests never see each other's rows.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path

from pytest_spine.errors import EnvironmentFault
from pytest_spine.stack.postgres import PostgresHandle, start_postgres, stop_postgres
from pytest_spine.stack.state import StackState

_lock = threading.Lock()
_handle: PostgresHandle | None = None
_counter = itertools.count(1)


def _from_stack() -> str | None:
    """The PostgreSQL of a local stack started by ``spine stack up`` (``SPINE_STACK_DIR``), when it runs."""
    folder = os.environ.get("SPINE_STACK_DIR")
    if not folder:
        return None
    try:
        from pytest_spine.stack.state import read_state

        state = read_state(Path(folder))
    except Exception:  # an unreadable stack record just means: start our own
        return None
    service = state.services.get("postgres") if state is not None else None
    if service is None or not service.running():
        return None
    dsn = service.endpoints.get("dsn")
    return str(dsn) if dsn else None


def shared_postgres_dsn() -> str:
    given = os.environ.get("SPINE_POSTGRES_DSN") or _from_stack()
    if given:
        return given
    global _handle
    with _lock:
        if _handle is None:
            base = Path(tempfile.mkdtemp(prefix="spine-pg-"))
            os.chmod(base, 0o755)  # the cluster may belong to another OS user (root runs it as postgres)
            _handle = start_postgres(base)
            atexit.register(_stop, _handle, base)
        return _handle.dsn


def _stop(handle: PostgresHandle, base: Path) -> None:
    try:
        stop_postgres(handle)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def unique_schema(prefix: str = "t") -> str:
    """A schema name unique in this process and across parallel workers (pid in the name)."""
    return f"{prefix}_{os.getpid()}_{next(_counter)}"


def stack_dsn(state: StackState) -> str:
    """The DSN of the stack's own PostgreSQL (what ``local_parity`` runs its control plane on). A stack without
    one is an environment fault naming the fix: there is no fallback to another store."""
    service = state.services.get("postgres")
    restart = (f"restart the stack with PostgreSQL: 'spine stack down --dir {state.stack_dir}' then "
               f"'spine stack up --dir {state.stack_dir}' (postgres is started unless --services leaves it out)")
    if service is None:
        raise EnvironmentFault(f"the local stack in {state.stack_dir} runs no PostgreSQL, and the control plane "
                               f"of local_parity runs on it (never on the in-memory store); {restart}")
    if not service.running():
        pid = service.process.pid if service.process is not None else "?"
        raise EnvironmentFault(f"the PostgreSQL of the local stack in {state.stack_dir} is not running (pid {pid}); "
                               f"{restart}")
    dsn = service.endpoints.get("dsn")
    if not dsn:
        raise EnvironmentFault(f"the PostgreSQL of the local stack in {state.stack_dir} records no 'dsn' endpoint "
                               f"in its state file; {restart}")
    return str(dsn)
