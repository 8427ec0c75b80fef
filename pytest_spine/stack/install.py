"""Installation of the stack's binaries into a version-keyed cache, so only the first ``spine stack up``
needs the network.

Kafka comes from Maven Central as jars (the broker runs with the installed JDK); Toxiproxy is built with
``go install`` from the Go module proxy. Both installs finish by writing a marker file last, so an
interrupted install is redone instead of half-used, and both hold a file lock so two sessions installing
at once do not trip over each other.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_spine.errors import EnvironmentFault

KAFKA_VERSION = "3.9.1"
SCALA_VERSION = "2.13"
# Kafka 3.9 logs through slf4j 1.7; the simple binding writes to stderr, which the stack sends to the log.
SLF4J_VERSION = "1.7.36"
TOXIPROXY_VERSION = "v2.12.0"
INSTALL_TIMEOUT_S = 900.0
_MARKER = ".installed"


@dataclass(frozen=True, slots=True)
class KafkaInstall:
    version: str
    libs_dir: Path
    java: str

    @property
    def classpath(self) -> str:
        return f"{self.libs_dir}/*"


@dataclass(frozen=True, slots=True)
class InstallReport:
    """What an install call did: whether the cache already held it, and how long it took."""

    name: str
    path: Path
    cached: bool
    seconds: float


def cache_root() -> Path:
    """``$SPINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-spine``, else ``~/.cache/pytest-spine``."""
    explicit = os.environ.get("SPINE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pytest-spine"


@contextmanager
def _install_lock(directory: Path) -> Iterator[None]:
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_tool(name: str, purpose: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise EnvironmentFault(
            f"'{name}' is not on PATH; it is needed to {purpose}. Install it (e.g. apt-get install "
            f"{'maven' if name == 'mvn' else 'golang' if name == 'go' else 'openjdk-17-jre-headless'}) and retry"
        )
    return found


def _run(argv: list[str], *, what: str, env: dict[str, str] | None = None,
         cwd: Path | None = None, timeout: float = INSTALL_TIMEOUT_S) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentFault(f"{what} did not finish within {timeout:.0f}s ({' '.join(argv[:3])} ...); "
                               "check the network access to the package registry and retry") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise EnvironmentFault(f"{what} failed with exit code {done.returncode}:\n{tail}")


def _kafka_pom(version: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pytest-spine</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>{SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def install_kafka(version: str = KAFKA_VERSION) -> tuple[KafkaInstall, InstallReport]:
    """The broker's jars under ``<cache>/kafka-<version>/libs``, fetched with Maven on first use."""
    java = _require_tool("java", "run the Kafka broker")
    home = cache_root() / f"kafka-{version}"
    libs = home / "libs"
    started = time.monotonic()
    with _install_lock(home):
        if (home / _MARKER).exists():
            report = InstallReport("kafka", home, True, time.monotonic() - started)
            return KafkaInstall(version, libs, java), report
        mvn = _require_tool("mvn", "fetch the Kafka broker from Maven Central")
        if home.exists():
            shutil.rmtree(home)  # a previous install was interrupted: start clean
        home.mkdir(parents=True)
        (home / "pom.xml").write_text(_kafka_pom(version))
        _run([mvn, "-q", "-B", f"-Dmaven.repo.local={cache_root() / 'm2'}",
              "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
             what=f"fetching Kafka {version} from Maven Central", cwd=home)
        if not any(libs.glob(f"kafka_{SCALA_VERSION}-{version}*.jar")):
            raise EnvironmentFault(f"Maven finished but {libs} holds no kafka_{SCALA_VERSION}-{version} jar; "
                                   f"delete {home} and retry")
        (home / _MARKER).write_text(version)
    return KafkaInstall(version, libs, java), InstallReport("kafka", home, False, time.monotonic() - started)


def install_toxiproxy(version: str = TOXIPROXY_VERSION) -> tuple[Path, InstallReport]:
    """``toxiproxy-server`` built with ``go install`` into ``<cache>/toxiproxy-<version>/bin``."""
    home = cache_root() / f"toxiproxy-{version}"
    binary = home / "bin" / "toxiproxy-server"
    started = time.monotonic()
    with _install_lock(home):
        if (home / _MARKER).exists() and binary.exists():
            return binary, InstallReport("toxiproxy", home, True, time.monotonic() - started)
        go = _require_tool("go", "build toxiproxy-server")
        if home.exists():
            shutil.rmtree(home)
        (home / "bin").mkdir(parents=True)
        env = dict(os.environ)
        env.update({
            "GOBIN": str(home / "bin"),
            "GOPATH": str(cache_root() / "go"),
            "GOCACHE": str(cache_root() / "go-build"),
            "GOFLAGS": "-modcacherw",
            "CGO_ENABLED": "0",
        })
        _run([go, "install", f"github.com/Shopify/toxiproxy/v2/cmd/server@{version}"],
             what=f"building toxiproxy-server {version} with go install", env=env)
        built = home / "bin" / "server"
        if not built.exists():
            raise EnvironmentFault(f"go install finished but {built} is missing; delete {home} and retry")
        built.rename(binary)
        (home / _MARKER).write_text(version)
    return binary, InstallReport("toxiproxy", home, False, time.monotonic() - started)
