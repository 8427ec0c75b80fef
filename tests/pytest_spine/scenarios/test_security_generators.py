from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import pytest_spine.scenarios.security_generators  # noqa: F401  (registers the security workloads)
from pytest_spine.clock import ManualClock
from pytest_spine.history import History
from pytest_spine.scenarios.loader import load_dir
from pytest_spine.scenarios.runner import run_scenario
from pytest_spine.verdicts import Status

STAGED = Path(__file__).resolve().parents[3] / "pytest_spine" / "data" / "scenarios"


class SecurityOnlyDriver:
    """A driver whose ingest admits everything (for the steady-state probes); the workloads bring their own
    security layer."""

    name = "reference"
    capabilities = frozenset({"ingest"})
    platform_run_id = "platform_sec_scenarios"

    def __init__(self, security_mutant: str | None = None) -> None:
        self.clock = ManualClock()
        self.history = History(self.clock)
        self.security_mutant = security_mutant

    def envelope(self, event_id: str, **kw: Any) -> dict[str, Any]:
        return {"platform_run_id": self.platform_run_id, "event_class": "tx", "event_id": event_id}

    def ingest(self, envelope: Mapping[str, Any], process: str = "client-1") -> str | None:
        return "ADMIT"

    def armed(self) -> list[str]:
        return []


def scenarios() -> dict[str, Any]:
    report = load_dir(STAGED)
    assert report.errors == ()
    return {s.id: s for s in report.scenarios}


def test_the_security_scenarios_load() -> None:
    assert {"CH-SIG-TAMPER-FLOOD", "CH-RATE-BURST", "CH-OVERSIZE-FUZZ"} <= set(scenarios())


@pytest.mark.parametrize("scenario_id", ["CH-SIG-TAMPER-FLOOD", "CH-RATE-BURST", "CH-OVERSIZE-FUZZ"])
def test_each_security_scenario_passes_on_the_reference(scenario_id: str) -> None:
    result = run_scenario(scenarios()[scenario_id], 3, SecurityOnlyDriver(), scale=0.2)  # type: ignore[arg-type]
    assert result.verdict.status is Status.PASS, result.verdict.reason
    assert result.figures["sec_" + {"CH-SIG-TAMPER-FLOOD": "sig_tamper", "CH-RATE-BURST": "rate_limit",
                                     "CH-OVERSIZE-FUZZ": "payload_cap"}[scenario_id] + "_pass"] == 1


@pytest.mark.parametrize(("scenario_id", "mutant", "broken"), [
    ("CH-SIG-TAMPER-FLOOD", "accept_bad_signature", "sec_sig_tamper_pass"),
    ("CH-SIG-TAMPER-FLOOD", "quarantine_never_triggers", "sec_quarantine_reaction_pass"),
    ("CH-RATE-BURST", "bucket_never_refills", "rate_sustained_admitted"),
    ("CH-OVERSIZE-FUZZ", "no_payload_cap", "oversize_admitted"),
])
def test_each_security_scenario_fails_on_its_mutant(scenario_id: str, mutant: str, broken: str) -> None:
    result = run_scenario(scenarios()[scenario_id], 3, SecurityOnlyDriver(mutant), scale=0.2)  # type: ignore[arg-type]
    assert result.verdict.status is Status.FAIL
    assert any(part.check_id == f"{scenario_id}/{broken}" and part.status is Status.FAIL for part in result.parts)
