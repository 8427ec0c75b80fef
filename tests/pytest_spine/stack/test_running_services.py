"""Consumer and reporter processes left running are found by the run id in their command line, whichever
process started them; P12 on local_parity lists them (nothing_left_running then fails)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_spine.stack.consumers import running_services
from pytest_spine.targets.local_parity import LocalParityTarget
from pytest_spine.targets.reference import ReferenceTarget


@pytest.fixture
def marker() -> str:
    return f"platform_left_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def left_running(marker: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line looks like a consumer service of the run ``marker`` (it only sleeps)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m",
                                "reference_impl.services.rtdl_service", "--config", f"/tmp/{marker}/rtdl.json"])
    yield process
    process.kill()
    process.wait(timeout=10)


def test_a_consumer_process_of_the_run_is_found_until_it_is_gone(marker: str,
                                                                 left_running: subprocess.Popen[bytes]) -> None:
    found = running_services(marker)
    assert [(p["service"], p["pid"]) for p in found] == [("rtdl", left_running.pid)]
    assert running_services(f"{marker}-other") == []
    left_running.kill()
    left_running.wait(timeout=10)
    assert running_services(marker) == []


def test_p12_on_local_parity_lists_a_consumer_process_left_running(marker: str, left_running: subprocess.Popen[bytes],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def platform_daemons(self: Any, name: str, **params: Any) -> dict[str, Any]:
        assert name == "running_daemons"
        return {"running": []}  # the in-process platform's daemons all stopped

    monkeypatch.setattr(ReferenceTarget, "probe", platform_daemons)
    target = LocalParityTarget()
    target.run = SimpleNamespace(platform_run_id=marker)  # type: ignore[assignment]
    found = target.probe("running_daemons")
    assert found["running"] == [f"rtdl pid {left_running.pid}"]
    left_running.kill()
    left_running.wait(timeout=10)
    assert target.probe("running_daemons")["running"] == []
