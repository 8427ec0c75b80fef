"""A throwaway PostgreSQL cluster on 127.0.0.1, from the Debian binaries (``initdb``, ``pg_ctl``).

``start_postgres(base_dir)`` initialises a cluster under ``base_dir`` (once), starts it on a free port,
waits for a real ``SELECT 1`` and returns a handle with the DSN. PostgreSQL refuses to run as root, so
as root the cluster belongs to a non-root OS user (``postgres``, the Debian package's user) and the
binaries run through ``runuser``. Authentication is ``trust`` on loopback only: a test cluster, never a
shared one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import EnvironmentFault

SUPERUSER = "spine"
DATABASE = "postgres"
OS_USER = "postgres"


@dataclass(frozen=True, slots=True)
class PostgresHandle:
    dsn: str
    port: int
    data_dir: Path | str
    pid: int
    log_path: Path | str


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            match = re.match(r"\d+", folder.parent.name)
            candidates.append((int(match.group()) if match else 0, folder))
    return max(candidates)[1] if candidates else None


def ensure_binaries() -> Path:
    """Find the binaries; as root, install the Debian package when they are missing (and say so)."""
    found = find_pg_bin()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise EnvironmentFault("PostgreSQL binaries (initdb, pg_ctl) are not installed and this user cannot "
                               "install them: run `apt-get install -y postgresql` as root, or put them on PATH")
    print("spine: PostgreSQL is not installed; running apt-get install -y postgresql", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise EnvironmentFault(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr[-800:]}")
    found = find_pg_bin()
    if found is None:
        raise EnvironmentFault("apt-get installed postgresql but no initdb/pg_ctl was found under "
                               "/usr/lib/postgresql/*/bin")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owner_of(path: Path) -> str | None:
    """The OS user to run the binaries as: None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    if path.exists():
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
        if owner != "root":
            return owner
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise EnvironmentFault(f"running as root, PostgreSQL needs a non-root OS user {OS_USER!r} to own the "
                               "cluster; create it (`useradd --system postgres`) or run as another user") from None
    return OS_USER


def _run(argv: list[str], user: str | None, timeout: float) -> subprocess.CompletedProcess[str]:
    full = ["runuser", "-u", user, "--", *argv] if user else argv
    try:
        return subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EnvironmentFault(f"`{' '.join(argv[:2])}` did not finish within {timeout:g}s") from None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _give_to(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _ready(dsn: str) -> bool:
    import psycopg  # heavy: imported where used

    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def _pid_of(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def _reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can enter and write ``path`` (every parent must let it through)."""
    return _run(["test", "-x", str(path), "-a", "-w", str(path)], user, 10).returncode == 0


def cluster_home(base_dir: Path, user: str | None) -> Path:
    """Where the cluster lives: ``base_dir``, unless it runs as another OS user who cannot reach it (a checkout
    under a directory only its owner may enter, as ``mktemp -d`` makes). Then a folder of that user's under the
    system's temporary directory, named for ``base_dir`` so a restart finds the same cluster; ``base_dir`` notes
    where it went."""
    if user is None:
        return base_dir
    _give_to(base_dir, user)
    if _reachable_by(user, base_dir):
        return base_dir
    digest = hashlib.sha256(str(base_dir).encode()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"spine-postgres-{digest}"
    home.mkdir(mode=0o700, exist_ok=True)
    _give_to(home, user)
    (base_dir / "cluster-location").write_text(f"{home}\n")
    return home


def start_postgres(base_dir: Path, port: int | None = None, timeout: float = 60.0) -> PostgresHandle:
    """Initialise (once) and start a cluster for ``base_dir``; returns when ``SELECT 1`` answers."""
    bin_dir = ensure_binaries()
    base_dir = Path(base_dir).resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    user = _owner_of(base_dir / "data")
    home = cluster_home(base_dir, user)
    data_dir = home / "data"
    log_path = home / "postgres.log"
    if data_dir.exists():
        user = _owner_of(data_dir)
    if not (data_dir / "PG_VERSION").is_file():
        if data_dir.exists() and any(data_dir.iterdir()):
            raise EnvironmentFault(f"{data_dir} exists but holds no cluster (no PG_VERSION): remove it or give "
                                   "start_postgres an empty base folder")
        done = _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust",
                     "-E", "UTF8", "--no-sync", "--no-instructions"], user, timeout)
        if done.returncode != 0:
            raise EnvironmentFault(f"initdb in {data_dir} failed ({done.returncode}): "
                                   f"{(done.stderr or done.stdout)[-800:]}")
    if _pid_of(data_dir) is not None:
        raise EnvironmentFault(f"a PostgreSQL server already runs on {data_dir} (postmaster.pid exists); "
                               "stop it with stop_postgres or `spine stack down` first")
    port = port or _free_port()
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
    if user is not None and not log_path.exists():
        log_path.touch()
        _give_to(log_path, user)
    done = _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_path), "-o", options,
                 "-w", "-t", str(int(timeout)), "start"], user, timeout + 5)
    dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    if done.returncode != 0:
        raise EnvironmentFault(f"PostgreSQL on {data_dir} (port {port}) did not start ({done.returncode}): "
                               f"{done.stderr.strip()[-300:]}\n--- {log_path} (tail) ---\n{_tail(log_path)}")
    deadline = time.monotonic() + timeout
    while not _ready(dsn):
        if time.monotonic() > deadline:
            with contextlib.suppress(EnvironmentFault):
                stop_postgres(PostgresHandle(dsn, port, data_dir, _pid_of(data_dir) or -1, log_path))
            raise EnvironmentFault(f"PostgreSQL on port {port} started but did not answer SELECT 1 within "
                                   f"{timeout:g}s\n--- {log_path} (tail) ---\n{_tail(log_path)}")
        time.sleep(0.2)
    pid = _pid_of(data_dir)
    if pid is None:
        raise EnvironmentFault(f"PostgreSQL answers on port {port} but {data_dir}/postmaster.pid is unreadable")
    return PostgresHandle(dsn, port, data_dir, pid, log_path)


def stop_postgres(handle: PostgresHandle, timeout: float = 30.0) -> bool:
    """Fast shutdown; False when it was not running. Safe to call twice."""
    data_dir = Path(handle.data_dir)
    if _pid_of(data_dir) is None:
        return False
    bin_dir = ensure_binaries()
    done = _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "-t", str(int(timeout)),
                 "stop"], _owner_of(data_dir), timeout + 5)
    if done.returncode != 0 and _pid_of(data_dir) is not None:
        raise EnvironmentFault(f"pg_ctl stop on {data_dir} failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    return True


def postgres_status(handle: PostgresHandle) -> dict[str, Any]:
    """Whether the cluster's postmaster runs and answers ``SELECT 1``."""
    data_dir = Path(handle.data_dir)
    pid = _pid_of(data_dir)
    alive = pid is not None and Path(f"/proc/{pid}").exists()
    return {"running": alive, "ready": bool(alive and _ready(handle.dsn)), "pid": pid, "port": handle.port,
            "dsn": handle.dsn, "data_dir": str(data_dir), "log_path": str(handle.log_path)}
