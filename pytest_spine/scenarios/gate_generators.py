"""Workload generators that speak the gate's HTTP ingest contract (docs/verifying-your-platform.md, section 3.1),
for platforms the harness did not write: CH-OVERSIZE-FUZZ's ``black_box`` variant.

The reference's security workloads drill its signed control endpoint in process; a black box is reached only over
HTTP, so its fuzz is of ingest envelopes: over the 64 KiB cap (413), unreadable bodies, bodies that are not an
object, missing or mistyped fields, an unknown event class, truncated and invalid UTF-8 bodies, with valid
envelopes mixed in as a control. Figures are counted from what the gate answered; the scenario's SEC-PAYLOAD-CAP
is judged from observation as well (``pytest_spine.invariants.observed``: nothing of them on the topics).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Generator, Mapping
from typing import Any, cast

from pytest_spine.invariants.observed import ENVELOPE_CAP_BYTES
from pytest_spine.scenarios.driver import ChaosDriver, GateClientDriver
from pytest_spine.scenarios.workloads import Figures, Param, workload

# One in this many examples is a valid envelope (the control): the gate must keep admitting real traffic.
CONTROL_EVERY = 5
KINDS = ("oversize", "unreadable", "not_object", "missing_field", "wrong_type", "unknown_class", "truncated",
         "invalid_utf8")


def _example(driver: ChaosDriver, kind: str, number: int, rng: random.Random) -> Mapping[str, Any] | bytes:
    envelope = driver.envelope(f"fuzz-{number}")
    raw = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    if kind == "oversize":
        size = rng.randint(ENVELOPE_CAP_BYTES + 1, 4 * ENVELOPE_CAP_BYTES)
        return {**envelope, "payload": {**envelope["payload"], "blob": "x" * max(1, size - len(raw))}}
    if kind == "unreadable":
        return b"\x00{" + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if kind == "not_object":
        return rng.choice([b"[1,2,3]", b'"an envelope"', b"42", b"null"])
    if kind == "missing_field":
        field = rng.choice(["event_class", "event_id", "ts_utc", "payload"])
        return {k: v for k, v in envelope.items() if k != field}
    if kind == "wrong_type":
        field, value = rng.choice([("payload", ["not", "an", "object"]), ("ts_utc", 1767225600), ("payload", "x")])
        return {**envelope, field: value}
    if kind == "unknown_class":
        return {**envelope, "event_class": f"no_such_class_{number}"}
    if kind == "truncated":
        return raw[: max(1, len(raw) // 2)]
    cut = raw.index(b'"fuzz-')  # invalid_utf8: a byte that is never UTF-8, inside the event id's string
    return raw[:cut + 1] + b"\xff\xfe" + raw[cut + 1:]


@workload("gate_oversize_fuzz", params={
    "examples": Param(int, 300, 10, 100_000, "envelopes sent: oversized, malformed (" + ", ".join(KINDS[1:]) + ") "
                                             f"and, one in {CONTROL_EVERY}, valid ones as a control"),
}, figures=("sec_payload_cap_pass", "fuzz_examples", "fuzz_crashes", "fuzz_bad_admitted", "oversize_sent",
            "oversize_admitted", "oversize_refused", "controls_admitted"), needs=("ingest", "gate_client"))
def gate_oversize_fuzz(driver: ChaosDriver, params: Mapping[str, Any],
                       rng: random.Random) -> Generator[float, None, Figures]:
    """Oversized and malformed envelopes through the gate: each refused or quarantined, never admitted; the gate
    keeps answering and admitting valid traffic."""
    client = cast(GateClientDriver, driver)
    examples = int(params["examples"])
    counts: Counter[str] = Counter()
    for number in range(examples):
        kind = "control" if number % CONTROL_EVERY == CONTROL_EVERY - 1 else KINDS[number % len(KINDS)]
        document = driver.envelope(f"fuzz-{number}") if kind == "control" else _example(driver, kind, number, rng)
        answer = client.send(document, process="client-fuzz", drill=f"fuzz:{kind}")
        refused = answer.kind == "fail" and answer.status_code is not None and 400 <= answer.status_code < 500
        counts["crashes"] += answer.kind == "info" or (answer.status_code or 0) >= 500
        if kind == "control":
            counts["controls"] += 1
            counts["controls_admitted"] += answer.outcome == "ADMIT"
        else:
            counts["bad_admitted"] += answer.outcome == "ADMIT"
        if kind == "oversize":
            counts["oversize"] += 1
            counts["oversize_admitted"] += answer.outcome == "ADMIT"
            counts["oversize_refused"] += refused
        yield (number + 1) / (examples + 1)
    counts["crashes"] += not client.health()  # a gate that stopped answering crashed, whatever it said before
    passed = (counts["crashes"] == 0 and counts["bad_admitted"] == 0 and counts["oversize"] >= 1
              and counts["oversize_refused"] == counts["oversize"]
              and counts["controls_admitted"] == counts["controls"])
    return {"sec_payload_cap_pass": int(passed), "fuzz_examples": examples, "fuzz_crashes": counts["crashes"],
            "fuzz_bad_admitted": counts["bad_admitted"], "oversize_sent": counts["oversize"],
            "oversize_admitted": counts["oversize_admitted"], "oversize_refused": counts["oversize_refused"],
            "controls_admitted": counts["controls_admitted"]}
