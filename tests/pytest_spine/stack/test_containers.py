from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spine.errors import TargetUnavailable
from pytest_spine.stack import containers
from pytest_spine.stack.fixture import session_stack


def test_without_a_docker_engine_the_testcontainers_stack_is_refused_with_a_clear_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/var/run/docker.sock").exists():
        pytest.skip("NOT_APPLICABLE: a Docker socket exists on this machine; the no-engine path is not reachable")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    reason = containers.docker_unavailable_reason()
    assert reason == ("no Docker engine: DOCKER_HOST is unset and /var/run/docker.sock does not exist; "
                      "use --spine-stack=native (the default) or start Docker")
    with pytest.raises(TargetUnavailable) as caught, session_stack("testcontainers"):
        pass
    assert str(caught.value) == f"--spine-stack=testcontainers cannot start: {reason}"


def test_an_unreachable_docker_host_is_named_in_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    reason = containers.docker_unavailable_reason(timeout_s=1.0)
    assert reason is not None
    assert reason.startswith("the Docker engine at tcp://127.0.0.1:1 does not answer")
    assert reason.endswith("use --spine-stack=native or fix Docker")


def test_an_unknown_stack_mode_is_refused() -> None:
    with pytest.raises(TargetUnavailable, match="--spine-stack must be one of native, testcontainers, given: 'k8s'"), \
            session_stack("k8s"):
        pass
