"""Workload generators of the network-fault scenarios (CH-BROKER-PARTITION, CH-S3-FAULTS).

Both run in *phases* of equal progress: phase k starts at progress k/phases, so a fault scheduled from
k/phases to (k+1)/phases is active for exactly that phase's sends, whatever the count (a PR-sized run
still puts at least one send under every fault). After the last phase they yield 1.0, which rolls every
fault back (the heal); what follows happens on a healed network: resends, then the truth read over the
direct (unproxied) endpoints. Figures are counted from what the target answered and what the substrate
holds, never assumed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Generator, Mapping
from typing import Any, cast

from pytest_spine.scenarios.driver import ChaosDriver, SubstrateDriver
from pytest_spine.scenarios.workloads import Figures, Param, workload

_SETTLED = frozenset({"ADMIT", "DUPLICATE"})


def _phase_starts(phases: int) -> list[float]:
    return [k / phases for k in range(phases)]


@workload("broker_partition", params={
    "phases": Param(int, 5, 2, 50, "equal slices of the workload; faults are scheduled on their boundaries",
                    scaled=False),
    "events_per_phase": Param(int, 2, 1, 10_000, "events sent in each phase"),
    "resend_rounds": Param(int, 2, 1, 10, "rounds of resending what is not known admitted, after the heal",
                           scaled=False),
}, figures=("events", "admitted", "publish_ambiguous", "refused", "unresolved", "lost_admitted", "double_admits",
            "on_topic"), needs=("ingest", "read_topic"), phased_by="phases")
def broker_partition(driver: ChaosDriver, params: Mapping[str, Any],
                     rng: random.Random) -> Generator[float, None, Figures]:
    """Send events while the link to Kafka is slowed, thinned, partitioned and reset; resend after the heal."""
    phases, per_phase = int(params["phases"]), int(params["events_per_phase"])
    answers: dict[str, list[str | None]] = {}
    envelopes: list[dict[str, Any]] = []
    for phase, start in enumerate(_phase_starts(phases)):
        yield start
        for number in range(per_phase):
            envelope = driver.envelope(f"partition-{phase}-{number}")
            envelopes.append(envelope)
            answers[envelope["event_id"]] = [driver.ingest(envelope, "client-1")]
    yield 1.0  # the heal: every fault is rolled back before what follows
    for _ in range(int(params["resend_rounds"])):
        # The sender resends what it does not know to be admitted (ambiguous, refused, unanswered).
        for envelope in envelopes:
            if not _SETTLED & set(answers[envelope["event_id"]]):
                answers[envelope["event_id"]].append(driver.ingest(envelope, "client-1"))
    flat = Counter(outcome for outcomes in answers.values() for outcome in outcomes)
    admits = {event_id: outcomes.count("ADMIT") for event_id, outcomes in answers.items()}
    on_topic = cast(SubstrateDriver, driver).published_event_ids("traffic")
    admitted = {event_id for event_id, count in admits.items() if count}
    return {"events": len(envelopes), "admitted": len(admitted), "publish_ambiguous": flat["PUBLISH_AMBIGUOUS"],
            "refused": flat[None],
            "unresolved": sum(1 for outcomes in answers.values() if not _SETTLED & set(outcomes)),
            "lost_admitted": len(admitted - on_topic),
            "double_admits": sum(1 for count in admits.values() if count > 1),
            "on_topic": len(on_topic & set(answers))}


def _document(relpath: str, kib: int, rng: random.Random) -> dict[str, Any]:
    # Incompressible filler, so a thin link really carries every byte.
    return {"relpath": relpath, "filler": "".join(rng.choice("0123456789abcdef") for _ in range(kib * 1024))}


def _whole(held: Mapping[str, bytes], expected: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Keys whose object is complete and verifiable: exactly the document meant for the key, or (for the
    run's other evidence, written before the workload) a whole JSON document."""
    found = set()
    for key, body in held.items():
        try:
            parsed = json.loads(body)
        except ValueError:
            continue
        if key not in expected or parsed == dict(expected[key]):
            found.add(key)
    return found


@workload("evidence_writes", params={
    "phases": Param(int, 5, 2, 50, "equal slices of the workload; faults are scheduled on their boundaries",
                    scaled=False),
    "documents_per_phase": Param(int, 2, 1, 10_000, "evidence documents written in each phase"),
    "document_kib": Param(int, 16, 1, 4096, "size of each document", scaled=False),
}, figures=("documents", "writes_failed", "failed_reported_pass", "fail_closed", "half_written",
            "rewritten", "missing_after_rewrite"), needs=("object_evidence",), phased_by="phases")
def evidence_writes(driver: ChaosDriver, params: Mapping[str, Any],
                    rng: random.Random) -> Generator[float, None, Figures]:
    """Write evidence objects while the link to the store is slow, thin, partitioned and reset; after the
    heal, read every object back, then write the failed ones again."""
    store = cast(SubstrateDriver, driver)
    phases, per_phase, kib = int(params["phases"]), int(params["documents_per_phase"]), int(params["document_kib"])
    expected: dict[str, dict[str, Any]] = {}  # key -> the document meant to be there
    documents: dict[str, dict[str, Any]] = {}
    reported: dict[str, bool] = {}  # relpath -> the platform said it was written
    for phase, start in enumerate(_phase_starts(phases)):
        yield start
        for number in range(per_phase):
            relpath = f"chaos/phase-{phase}/document-{number}.json"
            documents[relpath] = _document(relpath, kib, rng)
            expected[store.evidence_key(relpath)] = documents[relpath]
            reported[relpath] = store.write_evidence(relpath, documents[relpath])
    yield 1.0  # the heal
    status_after_faults = dict(store.evidence_status())
    whole = _whole(store.evidence_objects(), expected)
    # A document the platform called written that is not there, whole, is a failed write reported as PASS.
    present = whole & set(expected)
    failed_reported_pass = sum(1 for relpath, ok in reported.items()
                               if ok and store.evidence_key(relpath) not in present)
    truly_failed = sum(1 for relpath in reported if store.evidence_key(relpath) not in present)
    # Fail closed: while documents are missing, the platform's own evidence status must not be PASS.
    fail_closed = int(truly_failed == 0 or status_after_faults.get("status") == "FAIL")
    rewritten = 0
    for relpath, ok in reported.items():
        if not ok:
            rewritten += store.write_evidence(relpath, documents[relpath])
    held = store.evidence_objects()
    whole = _whole(held, expected)
    return {"documents": len(documents), "writes_failed": sum(1 for ok in reported.values() if not ok),
            "failed_reported_pass": failed_reported_pass, "fail_closed": fail_closed,
            # Anything under the run's root that is not exactly a document meant for its key is half-written.
            "half_written": len(set(held) - whole),
            "rewritten": rewritten,
            "missing_after_rewrite": sum(1 for key in expected if key not in held)}
