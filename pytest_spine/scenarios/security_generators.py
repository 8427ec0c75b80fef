"""Workload generators of the security chaos scenarios (CH-SIG-TAMPER-FLOOD, CH-RATE-BURST, CH-OVERSIZE-FUZZ).

Each runs the matching reference security drills on their own injected clock, copies the operations they
recorded into the scenario's history (so the scenario's SEC-* invariants judge them), and returns the drill's
measured figures plus ``sec_<check>_pass`` (1 when the SEC-* gate of ``pytest_spine.gates.security`` holds), so
a scenario file can put thresholds on both. They run the in-process reference layer whatever the driver, so
their scenario files declare ``target.envs: [reference]``.

Registration: ``workloads()`` must import this module (one line beside its import of ``generators``).
"""

from __future__ import annotations

import random
from collections.abc import Generator, Mapping
from typing import Any

from pytest_spine.gates.security import evaluate
from pytest_spine.scenarios.driver import ChaosDriver
from pytest_spine.scenarios.workloads import Figures, Param, workload


def _drill(driver: ChaosDriver, check_id: str, seed: int, **params: Any) -> Figures:
    from pytest_spine.targets.reference_security import run_drill

    # A driver built for a security mutant says so in ``security_mutant``; the spine platform never sees it.
    result = run_drill(check_id, seed=seed, mutant=getattr(driver, "security_mutant", None),
                       platform_run_id=driver.platform_run_id, **params)
    # Keep the drill's spacing in time when the driver's clock is an injected one (quarantine reaction and the
    # bucket are judged on time); a real clock just stamps the copies now.
    advance = getattr(getattr(driver, "clock", None), "advance", None)
    previous = result.operations[0].time if result.operations else 0.0
    for op in result.operations:
        if callable(advance) and op.time > previous:
            advance(op.time - previous)
        previous = max(previous, op.time)
        driver.history.record(op.process, op.type, op.f, **dict(op.value))
    verdict = evaluate(check_id, result.observation, result.operations)
    key = "sec_" + check_id.removeprefix("SEC-").lower().replace("-", "_") + "_pass"
    return {**{k: v for k, v in verdict.figures.items() if v is not None}, key: int(verdict.status.value == "PASS")}


@workload("security_sig_tamper_flood", params={},
          figures=("sec_sig_tamper_pass", "sec_quarantine_reaction_pass", "sec_unsigned_rejected_pass",
                   "quarantine_reaction_s", "quarantine_release_after_s", "sig_fail_events"), needs=())
def security_sig_tamper_flood(driver: ChaosDriver, params: Mapping[str, Any],
                              rng: random.Random) -> Generator[float, None, Figures]:
    """Tampered, forged, truncated and missing signatures, then a forged-signature flood from one node."""
    seed = rng.randrange(2**31)
    figures = _drill(driver, "SEC-SIG-TAMPER", seed)
    yield 0.3
    figures.update(_drill(driver, "SEC-UNSIGNED-REJECTED", seed))
    yield 0.5
    figures.update(_drill(driver, "SEC-QUARANTINE-REACTION", seed))
    yield 1.0
    return figures


@workload("security_rate_burst", params={},
          figures=("sec_rate_limit_pass", "rate_burst_admitted", "rate_burst_expected", "rate_sustained_admitted",
                   "rate_sustained_expected", "rate_trickle_admitted", "rate_trickle_expected"), needs=())
def security_rate_burst(driver: ChaosDriver, params: Mapping[str, Any],
                        rng: random.Random) -> Generator[float, None, Figures]:
    """A 1,000-message burst, a 30/s sustained flood and a 10/s trickle against the per-node token bucket."""
    yield 0.0
    figures = _drill(driver, "SEC-RATE-LIMIT", rng.randrange(2**31))
    yield 1.0
    return figures


@workload("security_oversize_fuzz", params={
    "examples": Param(int, 300, 50, 100_000, "Hypothesis examples: oversized, deep, invalid UTF-8, non-canonical, "
                                             "bad nonces, truncated signatures, random bytes and valid controls"),
}, figures=("sec_payload_cap_pass", "fuzz_examples", "fuzz_crashes", "fuzz_bad_admitted", "oversize_sent",
            "oversize_admitted"), needs=())
def security_oversize_fuzz(driver: ChaosDriver, params: Mapping[str, Any],
                           rng: random.Random) -> Generator[float, None, Figures]:
    """Hypothesis-generated oversized and malformed payloads: each rejected with a diagnostic, none crashes."""
    yield 0.0
    figures = _drill(driver, "SEC-PAYLOAD-CAP", rng.randrange(2**31), examples=int(params["examples"]))
    yield 1.0
    return figures
