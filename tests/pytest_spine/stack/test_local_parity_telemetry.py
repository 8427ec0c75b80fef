"""On local_parity the security items run the platform's security drills (the same in-process layer in front of
the gate's control messages), so every required telemetry family is emitted; the control-plane events of a real
worker process killed on PostgreSQL carry the run's id (TEL-CORRELATION)."""

from __future__ import annotations

import json

import pytest

from pytest_spine.gates.security import SEC_IDS
from pytest_spine.stack.fixture import STACK_DIR_ENV, SessionStack

pytestmark = [pytest.mark.services, pytest.mark.slow]
pytest_plugins = ["pytester"]


def _run(pytester: pytest.Pytester, *args: str) -> dict[str, dict[str, str]]:
    pytester.runpytest_subprocess("--spine-env=local_parity", "--spine-profile=pr", "-p", "no:cacheprovider", *args)
    bundle = next((pytester.path / "reports" / "evidence" / "runs").iterdir())
    return {v["id"]: v for v in json.loads((bundle / "verdicts.json").read_text())["verdicts"]}


def test_security_drills_and_every_telemetry_family_on_the_stack(local_stack: SessionStack,
                                                                 pytester: pytest.Pytester,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    verdicts = _run(pytester, "-k", "not test_scenario")  # the families' checks: gates, invariants, SEC, CP
    assert {check: verdicts[check]["status"] for check in SEC_IDS} == dict.fromkeys(SEC_IDS, "PASS")
    assert verdicts["TEL-FAMILIES"]["status"] == "PASS", verdicts["TEL-FAMILIES"]["reason"]
    assert verdicts["TEL-CORRELATION"]["status"] == "PASS", verdicts["TEL-CORRELATION"]["reason"]


def test_a_security_mutant_fails_its_drill_on_the_stack(local_stack: SessionStack, pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STACK_DIR_ENV, local_stack.state.stack_dir)
    verdicts = _run(pytester, "-k", "test_security", "--spine-mutant=accept_unsigned")
    assert verdicts["SEC-UNSIGNED-REJECTED"]["status"] == "FAIL"
