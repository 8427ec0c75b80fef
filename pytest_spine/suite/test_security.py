"""Security and abuse gates of the packaged suite (seeds 000 and 002): ``test_security[SEC-*]`` and the Θ-03 table.

On the reference target each item runs its drill against the bundled security layer (through the target-side
adapter ``pytest_spine.targets.reference_security``); a target that offers a ``security_drill`` probe is asked
instead, and one that offers neither is NOT_APPLICABLE with that reason. SEC-AUTH-BOUNDARY also asks the target's
own ingress (probes ``unauthenticated_ingest`` / ``wrong_key_ingest``). Each item leaves
``security/<ID>/observation.json``, ``history.jsonl.gz`` and ``figures.json``; SEC-NO-SECRETS-IN-EVIDENCE plants
canaries and scans every file written so far, plus the log of its drill.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_spine.gates.secret_scan import scan
from pytest_spine.gates.security import SEC_CHECKS, SEC_IDS, evaluate, refuse_insecure, theta03_table
from pytest_spine.history import Operation
from pytest_spine.targets.base import ProbeNotSupported
from pytest_spine.verdicts import Status, Verdict, not_applicable

SCAN_ID = "SEC-NO-SECRETS-IN-EVIDENCE"


class _Unavailable(Exception):
    pass


def _drill(spine: Any, check_id: str) -> tuple[Mapping[str, Any], tuple[Operation, ...], tuple[str, ...], str]:
    """(observation, operations, planted canaries, source) from the reference drill or the target's probe."""
    env = getattr(getattr(spine, "settings", None), "env", None) or getattr(spine.target, "name", "")
    if env == "reference":
        from pytest_spine.targets.reference_security import run_drill

        params: dict[str, Any] = {}
        if check_id == "SEC-REPLAY-REJECT" and spine.run.workload_scale < 1.0:
            params["measure_bytes"] = False  # the pr profile keeps the 1,000,000 nonces, skips the slow tracing
        result = run_drill(check_id, seed=spine.seed, mutant=spine.run.mutant,
                           platform_run_id=spine.run.platform_run_id, **params)
        return result.observation, result.operations, result.canaries, "reference drill"
    try:
        found = spine.target.probe("security_drill", check_id=check_id)
    except ProbeNotSupported as unsupported:
        raise _Unavailable(f"target {env!r} runs no security drills in-process and offers no security_drill "
                           f"probe ({unsupported.reason})") from None
    ops = tuple(Operation.from_json(op) for op in found.get("operations", ()))
    return found.get("observation", {}), ops, tuple(found.get("canaries", ())), "target probe security_drill"


def _ingress_statuses(spine: Any) -> dict[str, int]:
    """What the target's own ingress answers without a key and with a wrong one (empty when it cannot say)."""
    statuses: dict[str, int] = {}
    ensure = getattr(spine, "ensure_phases", None)
    try:
        if callable(ensure):
            ensure("P4")  # the IG must be up for the probes
    except Exception:  # a broken phase run is judged by the phase gates; here the probes just cannot run
        return statuses
    for probe, key in (("unauthenticated_ingest", "target_no_key"), ("wrong_key_ingest", "target_wrong_key")):
        try:
            statuses[key] = int(spine.target.probe(probe)["status_code"])
        except (ProbeNotSupported, KeyError, TypeError, ValueError):
            continue
    return statuses


@pytest.mark.spine_security
@pytest.mark.xdist_group("spine-phases")  # SEC-AUTH-BOUNDARY probes the IG of the phase run
@pytest.mark.parametrize("check_id", SEC_IDS)
def test_security(spine: Any, check_id: str, tmp_path: Path) -> None:
    refused = refuse_insecure(dict(spine.run.options))
    if refused is not None:
        spine.report(refused)
    log_file = tmp_path / "drill.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    logging.getLogger().addHandler(handler)
    try:
        observation, ops, canaries, source = _drill(spine, check_id)
    except _Unavailable as unavailable:
        spine.report(not_applicable(check_id, "security", str(unavailable)))
        return
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if check_id == "SEC-AUTH-BOUNDARY":
        observation = {**observation, "statuses": {**observation.get("statuses", {}), **_ingress_statuses(spine)}}
    folder = f"security/{check_id}"
    evidence: tuple[str, ...] = (f"{folder}/observation.json", f"{folder}/history.jsonl.gz",
                                 f"{folder}/figures.json")
    spine.bundle.put(evidence[0], {"check_id": check_id, "source": source, "operations": len(ops),
                                   "observation": dict(observation)})
    stored = spine.bundle.put_history(evidence[1], list(ops))
    histories = getattr(spine, "histories", None)
    if isinstance(histories, list):
        histories.append(stored)
    report = None
    if check_id == SCAN_ID:
        roots = [Path(spine.bundle.root), log_file]
        report = scan(roots, canaries)
        spine.bundle.put(f"{folder}/secret_scan.json", {
            "roots": [str(r) for r in roots], "files_scanned": report.files_scanned,
            "bytes_scanned": report.bytes_scanned, "canaries": report.canaries,
            "leaks": [{"path": leak.path, "canary": leak.canary, "form": leak.form} for leak in report.leaks],
            "unreadable": list(report.unreadable)})
        evidence += (f"{folder}/secret_scan.json",)
    verdict = evaluate(check_id, observation, ops, report, evidence=evidence)
    spine.bundle.put(evidence[2], {"check_id": check_id, "status": verdict.status.value,
                                   "threshold": SEC_CHECKS[check_id].threshold, "figures": dict(verdict.figures)})
    if verdict.figures:
        spine.add_figures(**{k: v for k, v in verdict.figures.items() if v is not None})
    spine.report(verdict)


@pytest.mark.spine_security
@pytest.mark.xdist_group("spine-phases")  # SEC-AUTH-BOUNDARY probes the IG of the phase run
def test_security_theta03(spine: Any) -> None:
    """The Θ-03 acceptance table (seed 000 §3) from the SEC-* verdicts of this run; runs after them."""
    verdicts = [v for v in getattr(spine, "verdicts", {}).values() if isinstance(v, Verdict)]
    rows = theta03_table(verdicts)
    spine.bundle.put("security/THETA03/theta03.json", {"rows": rows})
    failing = [r for r in rows if r["status"] not in (Status.PASS.value, Status.NOT_APPLICABLE.value)]
    status = Status.FAIL if failing else Status.PASS
    reason = ("; ".join(f"{r['gate']}: {r['status']} ({r['reason']})" for r in failing) if failing
              else "every Θ-03 security gate passed (Release Health is scored by P2)")
    spine.report(Verdict("THETA03", "security", status, reason, evidence=("security/THETA03/theta03.json",)))
