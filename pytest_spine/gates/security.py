"""The SEC-* checks and the Θ-03 acceptance-gate table (seed 000 §3), computed from what a security drill
observed, the History it recorded and, for secrets, a scan of the written files.

A check registers with ``@sec_check(ID, title, threshold)``; an unknown or duplicate id fails when it is defined.
Every check needs its evidence: an empty or malformed observation is a FAIL naming what is missing, never a skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pytest_spine.gates.secret_scan import ScanReport
from pytest_spine.history import Operation
from pytest_spine.invariants.security import (
    REPLAY_REASONS,
    SIG_FAILURE_REASONS,
    decisions,
    event_count_mismatch,
    events,
    first_sig_failure,
    is_uuid7,
    lineage_order_violations,
    lineage_violations,
    quarantine_changes,
    replay_tally,
    unsigned_admitted,
)
from pytest_spine.verdicts import Status, Verdict

KIND = "security"
SEC_IDS: tuple[str, ...] = (
    "SEC-UNSIGNED-REJECTED", "SEC-SIG-TAMPER", "SEC-REPLAY-REJECT", "SEC-NONCE-HWM", "SEC-RATE-LIMIT",
    "SEC-PAYLOAD-CAP", "SEC-QUARANTINE-REACTION", "SEC-INSECURE-FLAG", "SEC-LINEAGE-UUIDV7", "SEC-AUTH-BOUNDARY",
    "SEC-NO-SECRETS-IN-EVIDENCE",
)
REPLAY_RATIO_MIN = 0.999
REPLAY_ATTEMPTS_MIN = 1000          # fewer replays than this cannot show 99.9 %
MEMORY_NONCES = 1_000_000
QUARANTINE_REACTION_MAX_S = 60.0
PAYLOAD_EXAMPLES_MIN = 50


class ObservationMissing(Exception):
    """The drill's observation lacks a field the check needs: the verdict is FAIL."""


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    reason: str
    counterexample: tuple[Mapping[str, Any], ...] = ()
    figures: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Inputs:
    observation: Mapping[str, Any]
    ops: Sequence[Operation]
    scan: ScanReport | None = None
    memory_nonces_min: int = MEMORY_NONCES

    def need(self, *path: str) -> Any:
        value: Any = self.observation
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                raise ObservationMissing(f"the observation has no {'.'.join(path)}")
            value = value[key]
        return value


CheckFn = Callable[[Inputs], Finding]


@dataclass(frozen=True, slots=True)
class SecCheck:
    check_id: str
    title: str
    threshold: str
    fn: CheckFn


SEC_CHECKS: dict[str, SecCheck] = {}


def sec_check(check_id: str, title: str, threshold: str) -> Callable[[CheckFn], CheckFn]:
    if check_id not in SEC_IDS:
        raise ValueError(f"@sec_check id must be one of the MISSION catalogue ({', '.join(SEC_IDS)}), "
                         f"given: {check_id!r}")
    if check_id in SEC_CHECKS:
        raise ValueError(f"{check_id} has two checks; each SEC-* id has exactly one")

    def register(fn: CheckFn) -> CheckFn:
        SEC_CHECKS[check_id] = SecCheck(check_id, title, threshold, fn)
        return fn

    return register


def evaluate(check_id: str, observation: Mapping[str, Any] | None, ops: Sequence[Operation],
             scan: ScanReport | None = None, evidence: tuple[str, ...] = (),
             memory_nonces_min: int = MEMORY_NONCES) -> Verdict:
    """The verdict of one SEC-* check; missing or malformed evidence is a FAIL that says what is missing."""
    check = SEC_CHECKS.get(check_id)
    if check is None:
        raise KeyError(f"no security check {check_id!r}; known: {', '.join(SEC_CHECKS)}")
    if not observation:
        return Verdict(check_id, KIND, Status.FAIL, "missing evidence: the drill left no observation",
                       evidence=evidence)
    try:
        found = check.fn(Inputs(observation, ops, scan, memory_nonces_min))
    except ObservationMissing as missing:
        return Verdict(check_id, KIND, Status.FAIL, f"missing evidence: {missing}", evidence=evidence)
    except (KeyError, TypeError, ValueError) as bad:
        return Verdict(check_id, KIND, Status.FAIL, f"malformed evidence: {type(bad).__name__}: {bad}",
                       evidence=evidence)
    status = Status.PASS if found.ok else Status.FAIL
    return Verdict(check_id, KIND, status, found.reason, evidence=evidence,
                   counterexample=tuple(found.counterexample[:20]), figures=dict(found.figures or {}))


def _op(op: Operation) -> dict[str, Any]:
    return op.to_json()


# -- the checks ---------------------------------------------------------------------------------------------
@sec_check("SEC-UNSIGNED-REJECTED", "Unsigned control messages are never admitted", "0 unsigned accepted")
def _unsigned(inp: Inputs) -> Finding:
    sent = inp.need("sent")
    made = decisions(inp.ops)
    expected = int(sent["unsigned"]) + int(sent["signed"])
    if len(made) != expected:
        return Finding(False, f"{expected} messages were sent but the history holds {len(made)} decisions: "
                              "a message without a decision is unaccounted for")
    leaked = unsigned_admitted(inp.ops)
    signed_ok = sum(1 for op in made if op.type == "ok" and op.value.get("signed") is True)
    figures = {"unsigned_sent": int(sent["unsigned"]), "unsigned_admitted": len(leaked)}
    if leaked:
        return Finding(False, f"{len(leaked)} unsigned control message(s) admitted (threshold 0)",
                       tuple(_op(op) for op in leaked), figures)
    if signed_ok == 0:
        return Finding(False, "no signed message was admitted either: a gate that admits nothing proves nothing",
                       figures=figures)
    return Finding(True, f"0 of {sent['unsigned']} unsigned messages admitted; {signed_ok} signed admitted",
                   figures=figures)


TAMPER_EXPECT = {"valid": "admitted"}  # every other case must be rejected with a signature-failure reason


@sec_check("SEC-SIG-TAMPER", "Invalid, missing and tampered signatures are rejected and counted",
           "every tampered case rejected; one security.sig_fail per failure")
def _sig_tamper(inp: Inputs) -> Finding:
    cases = inp.need("cases")
    if not any(c.get("case") == "valid" for c in cases) or len(cases) < 2:
        raise ObservationMissing("the observation needs the valid control case and at least one tampered case")
    wrong = []
    for case in cases:
        outcome = str(case["outcome"])
        if TAMPER_EXPECT.get(case["case"]) == "admitted":
            good = outcome == "admitted"
        else:
            good = outcome.startswith("rejected:") and outcome.split(":", 1)[1] in SIG_FAILURE_REASONS
        if not good:
            wrong.append(dict(case))
    dropped, emitted = event_count_mismatch(inp.ops, SIG_FAILURE_REASONS, "security.sig_fail")
    if wrong:
        return Finding(False, f"{len(wrong)} signature case(s) decided wrongly: "
                              f"{', '.join(c['case'] + '=' + c['outcome'] for c in wrong)}", tuple(wrong))
    if dropped != emitted:
        return Finding(False, f"{dropped} signature failures but {emitted} security.sig_fail events")
    return Finding(True, f"{len(cases) - 1} tampered/missing/invalid cases rejected, valid admitted, "
                         f"{emitted} sig_fail events", figures={"sig_fail_events": emitted})


@sec_check("SEC-REPLAY-REJECT", "Replays are rejected within the skew window under a flood, in bounded memory",
           ">= 99.9 % replays rejected within 30 s skew; replay-window entries <= bound after 1,000,000 nonces")
def _replay(inp: Inputs) -> Finding:
    tally = replay_tally(inp.ops)
    memory = inp.need("memory")
    min_nonces = inp.memory_nonces_min
    figures: dict[str, Any] = {
        "replay_attempts": tally.attempts, "replay_rejected": tally.rejected,
        "replay_rejection_ratio": tally.ratio,
        "replay_window_distinct_nonces": memory["distinct_nonces"],
        "replay_window_entries_after": memory["entries_after"],
        "replay_window_peak_entries": memory["peak_entries"],
        "replay_window_bound_entries": memory["bound_entries"],
        "replay_window_peak_bytes": memory.get("peak_bytes"),
    }
    if tally.attempts < REPLAY_ATTEMPTS_MIN:
        return Finding(False, f"only {tally.attempts} replay attempts in the history; at least "
                              f"{REPLAY_ATTEMPTS_MIN} are needed to measure 99.9 %", figures=figures)
    assert tally.ratio is not None
    if tally.ratio < REPLAY_RATIO_MIN:
        return Finding(False, f"{tally.rejected}/{tally.attempts} replays rejected = {tally.ratio:.4%} "
                              f"(threshold {REPLAY_RATIO_MIN:.1%})", tuple(_op(op) for op in tally.admitted),
                       figures)
    dropped, emitted = event_count_mismatch(inp.ops, REPLAY_REASONS, "security.replay_drop")
    if dropped != emitted:
        return Finding(False, f"{dropped} replay drops but {emitted} security.replay_drop events", figures=figures)
    if int(memory["distinct_nonces"]) < min_nonces:
        return Finding(False, f"the memory flood fed {memory['distinct_nonces']} distinct nonces; the gate needs "
                              f"{min_nonces}", figures=figures)
    bound = int(memory["bound_entries"])
    if int(memory["peak_entries"]) > bound or int(memory["entries_after"]) > bound:
        return Finding(False, f"replay window grew to {memory['peak_entries']} entries after "
                              f"{memory['distinct_nonces']} nonces, over its bound of {bound}", figures=figures)
    return Finding(True, f"{tally.ratio:.4%} of {tally.attempts} replays rejected; window peak "
                         f"{memory['peak_entries']} <= bound {bound} entries after {memory['distinct_nonces']} "
                         "nonces", figures=figures)


ANY_REPLAY = "rejected:<replay>"
NONCE_EXPECT: dict[str, list[str]] = {
    "duplicate": ["admitted", ANY_REPLAY],
    "stale": ["admitted", "rejected:nonce_stale"],
    "out_of_order": ["admitted", "admitted", "admitted", ANY_REPLAY],
    # The documented rule: no wraparound, ever; a small nonce after a mark near 2**64 is stale.
    "wraparound": ["admitted", "admitted", "rejected:nonce_stale", "rejected:nonce_stale", "rejected:nonce_stale"],
    "overflow": ["rejected:bad_nonce", "rejected:bad_nonce"],
    "replay_after_restart": ["admitted", ANY_REPLAY, "admitted"],
    "skew_boundary": ["rejected:skew", "rejected:skew", "admitted", ANY_REPLAY, "rejected:skew"],
}


def _matches(expected: str, observed: str) -> bool:
    if expected == ANY_REPLAY:
        return observed.startswith("rejected:") and observed.split(":", 1)[1] in REPLAY_REASONS
    return expected == observed


@sec_check("SEC-NONCE-HWM", "Per-author u64 nonce high-water mark: duplicate, stale, out-of-order, wraparound",
           "every case decided as the documented rule says")
def _nonce(inp: Inputs) -> Finding:
    cases = inp.need("cases")
    wrong: list[dict[str, Any]] = []
    for name, expected in NONCE_EXPECT.items():
        if name not in cases:
            raise ObservationMissing(f"the observation has no nonce case {name!r}")
        observed = [str(x) for x in cases[name]]
        if len(observed) != len(expected) or not all(map(_matches, expected, observed)):
            wrong.append({"case": name, "expected": expected, "observed": observed})
    if wrong:
        return Finding(False, f"nonce case(s) decided against the rule: {', '.join(w['case'] for w in wrong)}",
                       tuple(wrong))
    return Finding(True, f"all {len(NONCE_EXPECT)} nonce cases decided as the rule says")


def expected_admitted(arrivals_us: Iterable[int], burst: int, sustain_per_s: float) -> int:
    """The oracle: what an exact token bucket (full at the first arrival) admits, in rational arithmetic."""
    tokens = Fraction(burst)
    rate = Fraction(sustain_per_s)
    last: int | None = None
    admitted = 0
    for at in arrivals_us:
        if last is not None and at > last:
            tokens = min(Fraction(burst), tokens + rate * Fraction(at - last, 1_000_000))
        last = at if last is None else max(last, at)
        if tokens >= 1:
            tokens -= 1
            admitted += 1
    return admitted


@sec_check("SEC-RATE-LIMIT", "Token bucket per node: burst, sustain and a drop event per drop",
           "admitted == the exact bucket (burst 100, 10/s); one flow.rate.drop per drop")
def _rate(inp: Inputs) -> Finding:
    schedules = inp.need("schedules")
    burst, sustain = int(inp.need("burst")), float(inp.need("sustain_per_s"))
    made = decisions(inp.ops)
    figures: dict[str, Any] = {}
    wrong = []
    for name, s in schedules.items():
        arrivals = [int(s["start_us"]) + i * int(s["interval_us"]) for i in range(int(s["count"]))]
        expected = expected_admitted(arrivals, burst, sustain)
        node_ops = [op for op in made if op.value.get("node") == s["node"]]
        admitted = sum(1 for op in node_ops if op.type == "ok")
        figures[f"rate_{name}_sent"] = len(arrivals)
        figures[f"rate_{name}_admitted"] = admitted
        figures[f"rate_{name}_expected"] = expected
        if len(node_ops) != len(arrivals) or admitted != expected:
            wrong.append({"schedule": name, "sent": len(arrivals), "decided": len(node_ops),
                          "admitted": admitted, "expected": expected})
    if wrong:
        return Finding(False, "admitted differs from the exact token bucket: " + "; ".join(
            f"{w['schedule']} admitted {w['admitted']} expected {w['expected']}" for w in wrong), tuple(wrong),
            figures)
    dropped, emitted = event_count_mismatch(inp.ops, frozenset({"rate_limited"}), "flow.rate.drop")
    if dropped == 0 or dropped != emitted:
        return Finding(False, f"{dropped} rate drops but {emitted} flow.rate.drop events (every drop emits one, "
                              "and a flood must cause drops)", figures=figures)
    return Finding(True, "admitted == expected for every schedule (" + ", ".join(
        f"{n} {figures[f'rate_{n}_admitted']}/{figures[f'rate_{n}_sent']}" for n in schedules)
        + f"); {emitted} drop events", figures=figures)


@sec_check("SEC-PAYLOAD-CAP", "64 KiB cap; fuzzed oversized and malformed payloads are rejected, never a crash",
           "0 crashes, 0 bad payloads admitted, every rejection with a reason and a diagnostic")
def _payload(inp: Inputs) -> Finding:
    by_kind = inp.need("by_kind")
    crashes, admitted_bad = inp.need("crashes"), inp.need("admitted_bad")
    examples = int(inp.need("examples"))
    figures = {"fuzz_examples": examples, "fuzz_crashes": len(crashes), "fuzz_bad_admitted": len(admitted_bad),
               "oversize_sent": by_kind.get("oversize", {}).get("sent", 0),
               "oversize_admitted": by_kind.get("oversize", {}).get("admitted", 0)}
    if examples < PAYLOAD_EXAMPLES_MIN or not by_kind.get("oversize", {}).get("sent"):
        return Finding(False, f"only {examples} fuzz examples (need {PAYLOAD_EXAMPLES_MIN}, with oversized ones)",
                       figures=figures)
    if crashes:
        return Finding(False, f"{len(crashes)} input(s) crashed the gate", tuple(crashes), figures)
    if admitted_bad:
        kinds = sorted({a["kind"] for a in admitted_bad})
        return Finding(False, f"{len(admitted_bad)} bad payload(s) admitted ({', '.join(kinds)})",
                       tuple(admitted_bad), figures)
    silent = [op for op in decisions(inp.ops)
              if op.type == "fail" and not (op.value.get("reason") and op.value.get("detail"))]
    if silent:
        return Finding(False, f"{len(silent)} rejection(s) without a reason and diagnostic",
                       tuple(_op(op) for op in silent), figures)
    if not by_kind.get("valid", {}).get("admitted"):
        return Finding(False, "no valid fuzz message was admitted: a gate that rejects everything proves nothing",
                       figures=figures)
    return Finding(True, f"{examples} fuzzed messages: 0 crashes, {figures['oversize_sent']} oversized all "
                         "rejected with diagnostics", figures=figures)


@sec_check("SEC-QUARANTINE-REACTION", "> 3 sig_fail/s per node quarantines it in < 60 s; timed release",
           "reaction < 60 s on the injected clock; release after the configured time; bystanders untouched")
def _quarantine(inp: Inputs) -> Finding:
    node, legit = str(inp.need("malicious_node")), str(inp.need("legit_node"))
    started_at, release_s = float(inp.need("started_at")), float(inp.need("release_s"))
    changes = quarantine_changes(inp.ops, node)
    entered = [op for op in changes if op.value["payload"].get("state") == "quarantined"]
    released = [op for op in changes if op.value["payload"].get("state") == "released"]
    first_fail = first_sig_failure(inp.ops, node)
    figures: dict[str, Any] = {"quarantine_reaction_s": None, "quarantine_release_after_s": None}
    if first_fail is None or first_fail.time < started_at:
        return Finding(False, "the malicious pattern left no signature failure after its start in the history",
                       figures=figures)
    if not entered:
        return Finding(False, f"node {node!r} was never quarantined although its signature failures began at "
                              f"{started_at}", figures=figures)
    reaction = entered[0].time - started_at
    figures["quarantine_reaction_s"] = round(reaction, 6)
    if reaction >= QUARANTINE_REACTION_MAX_S:
        return Finding(False, f"quarantine came {reaction:.3f} s after the pattern started (threshold < "
                              f"{QUARANTINE_REACTION_MAX_S:.0f} s)", (_op(entered[0]),), figures)
    after = [op for op in released if op.time >= entered[0].time]
    if not after:
        return Finding(False, f"node {node!r} was never released (timed release after {release_s} s)",
                       figures=figures)
    held = after[0].time - entered[0].time
    figures["quarantine_release_after_s"] = round(held, 6)
    if held < release_s:
        return Finding(False, f"released after {held:.3f} s, before the configured {release_s} s",
                       (_op(after[0]),), figures)
    readmitted = [op for op in decisions(inp.ops)
                  if op.type == "ok" and op.value.get("node") == node and op.time >= after[0].time]
    if not readmitted:
        return Finding(False, f"node {node!r} sent valid messages after its release but none was admitted",
                       figures=figures)
    if quarantine_changes(inp.ops, legit):
        return Finding(False, f"bystander node {legit!r} was quarantined", figures=figures)
    return Finding(True, f"quarantined {reaction:.3f} s after the pattern began; released after {held:.1f} s "
                         "and admitted again; bystander untouched", figures=figures)


def refuse_insecure(run_facts: Mapping[str, Any]) -> Verdict | None:
    """Gate runs refuse insecure mode: a FAIL verdict when the run's security layer is insecure, else None."""
    if run_facts.get("insecure") or run_facts.get("run_insecure"):
        return Verdict("SEC-INSECURE-FLAG", KIND, Status.FAIL,
                       "the run's security layer is in insecure mode; gate runs refuse it (unset the insecure "
                       "flag, FEATURE_TOCP_PRESENCE_INSECURE, for any run whose verdicts count)")
    return None


@sec_check("SEC-INSECURE-FLAG", "Insecure mode is loud (one-shot event) and refused by gate runs",
           "exactly one security.insecure_mode per insecure gate; the gate run itself not insecure")
def _insecure(inp: Inputs) -> Finding:
    refused = refuse_insecure(inp.observation)
    if refused is not None:
        return Finding(False, refused.reason)
    built = int(inp.need("insecure_gate_built"))
    loud = events(inp.ops, "security.insecure_mode")
    if len(loud) != built:
        return Finding(False, f"{built} insecure gate(s) built but {len(loud)} security.insecure_mode event(s): "
                              "insecure mode must announce itself exactly once")
    quiet = [op for op in decisions(inp.ops) if op.type == "ok" and op.value.get("reason") != "insecure_mode"]
    if quiet:
        return Finding(False, "admissions in insecure mode are not marked insecure_mode",
                       tuple(_op(op) for op in quiet))
    return Finding(True, f"{len(loud)} one-shot insecure_mode event(s) for {built} insecure gate(s); the run "
                         "itself is secure")


@sec_check("SEC-LINEAGE-UUIDV7", "Every emitted event carries a valid UUIDv7 lineage id, monotonic within a ms",
           "present and valid UUIDv7 on every event; ordered within a millisecond and across a clock regress")
def _lineage(inp: Inputs) -> Finding:
    emitted = events(inp.ops)
    if not emitted:
        return Finding(False, "the drill emitted no events: nothing to check the lineage of")
    bad = lineage_violations(inp.ops)
    if bad:
        return Finding(False, f"{len(bad)} event(s)/decision(s) without a valid UUIDv7 lineage id",
                       tuple(_op(op) for op in bad))
    same_ms = [str(x) for x in inp.need("same_ms_ids")]
    after = [str(x) for x in inp.need("after_regress_ids")]
    invalid = [x for x in same_ms + after if not is_uuid7(x)]
    disorder = lineage_order_violations(same_ms + after)
    if invalid or disorder:
        return Finding(False, f"{len(invalid)} invalid and {len(disorder)} out-of-order ids minted within one "
                              "millisecond or across a clock regress",
                       tuple({"position": i, "before": a, "after": b} for i, a, b in disorder))
    if not events(inp.ops, "security.clock_regress"):
        return Finding(False, "the clock went back but no security.clock_regress warning was emitted")
    return Finding(True, f"{len(emitted)} events and every decision carry valid UUIDv7 lineage; "
                         f"{len(same_ms)} ids in one ms and across a regress stay ordered")


@sec_check("SEC-AUTH-BOUNDARY", "No key -> 401/403 at the ingress boundary",
           "no key and a wrong key answered 401 or 403; the right key 200")
def _auth(inp: Inputs) -> Finding:
    statuses = inp.need("statuses")
    if "no_key" not in statuses or "wrong_key" not in statuses:
        raise ObservationMissing("the observation needs statuses.no_key and statuses.wrong_key")
    wrong = {k: v for k, v in statuses.items() if k != "right_key" and v not in (401, 403)}
    if wrong:
        return Finding(False, "the ingress answered " + ", ".join(f"{k} with {v}" for k, v in wrong.items())
                       + " (expected 401 or 403)", (dict(statuses),))
    if "right_key" in statuses and statuses["right_key"] != 200:
        return Finding(False, f"the right key was answered {statuses['right_key']}: a closed door proves nothing",
                       (dict(statuses),))
    return Finding(True, "no key / wrong key refused: " + ", ".join(f"{k}={v}" for k, v in statuses.items()))


@sec_check("SEC-NO-SECRETS-IN-EVIDENCE", "No secret, key or token in the evidence bundle, logs or reports",
           "0 planted canaries found in any written file")
def _secrets(inp: Inputs) -> Finding:
    scan = inp.scan
    if scan is None:
        raise ObservationMissing("no scan of the written files was made")
    figures = {"secret_scan_files": scan.files_scanned, "secret_scan_bytes": scan.bytes_scanned,
               "secret_scan_canaries": scan.canaries, "secret_scan_leaks": len(scan.leaks)}
    if scan.canaries == 0 or scan.files_scanned == 0:
        return Finding(False, f"the scan planted {scan.canaries} canaries and read {scan.files_scanned} files: "
                              "nothing was shown", figures=figures)
    if scan.leaks:
        return Finding(False, f"{len(scan.leaks)} planted secret(s) found in written files",
                       tuple({"path": leak.path, "canary": leak.canary, "form": leak.form} for leak in scan.leaks),
                       figures)
    if scan.unreadable:
        return Finding(False, f"{len(scan.unreadable)} file(s) could not be read, so cannot be shown clean",
                       tuple({"unreadable": u} for u in scan.unreadable), figures)
    return Finding(True, f"{scan.canaries} canaries absent from {scan.files_scanned} files "
                         f"({scan.bytes_scanned} bytes)", figures=figures)


# -- Θ-03 acceptance gates (seed 000 §3) --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Theta03Gate:
    gate: str
    source: str
    threshold: str
    check_id: str | None
    not_applicable_reason: str = ""


THETA03_GATES: tuple[Theta03Gate, ...] = (
    Theta03Gate("Unsigned Control", "security.sig_fail & internal flag check", "0 unsigned accepted",
                "SEC-UNSIGNED-REJECTED"),
    Theta03Gate("Replay Rejection", "security.replay_drop / attempted replays", ">=99.9% within 30s skew",
                "SEC-REPLAY-REJECT"),
    Theta03Gate("Anomaly Reaction", "quarantine event timestamp delta", "< 60s", "SEC-QUARANTINE-REACTION"),
    Theta03Gate("Email Lineage", "event payload lineage chain", "present & valid UUID v7", "SEC-LINEAGE-UUIDV7"),
    Theta03Gate("Release Health", "/healthz HTTP 200", "always", None,
                "the /healthz probe is a daemon-readiness criterion of phase P2 (DAEMONS_READY), not a security "
                "check; it is scored there"),
)


def theta03_table(verdicts: Iterable[Verdict]) -> list[dict[str, Any]]:
    """One row per Θ-03 gate with the status of the SEC-* verdict behind it; no verdict is a FAIL."""
    by_id = {v.check_id: v for v in verdicts}
    rows = []
    for gate in THETA03_GATES:
        if gate.check_id is None:
            status, reason = Status.NOT_APPLICABLE, gate.not_applicable_reason
        elif gate.check_id in by_id:
            status, reason = by_id[gate.check_id].status, by_id[gate.check_id].reason
        else:
            status, reason = Status.FAIL, f"missing evidence: no verdict for {gate.check_id}"
        rows.append({"gate": gate.gate, "source": gate.source, "threshold": gate.threshold,
                     "check_id": gate.check_id, "status": status.value, "reason": reason})
    return rows


# Which check each security mutant (reference_impl/security/config.py) must be killed by.
SECURITY_MUTANT_KILLS: dict[str, str] = {
    "accept_unsigned": "SEC-UNSIGNED-REJECTED",
    "accept_bad_signature": "SEC-SIG-TAMPER",
    "no_replay_window": "SEC-REPLAY-REJECT",
    "nonce_wraparound_accepts_stale": "SEC-NONCE-HWM",
    "unbounded_replay_memory": "SEC-REPLAY-REJECT",
    "bucket_never_refills": "SEC-RATE-LIMIT",
    "rate_drop_silent": "SEC-RATE-LIMIT",
    "no_payload_cap": "SEC-PAYLOAD-CAP",
    "quarantine_never_triggers": "SEC-QUARANTINE-REACTION",
    "quarantine_never_releases": "SEC-QUARANTINE-REACTION",
    "insecure_mode_silent": "SEC-INSECURE-FLAG",
    "lineage_not_v7": "SEC-LINEAGE-UUIDV7",
    "auth_boundary_open": "SEC-AUTH-BOUNDARY",
    "secret_in_evidence": "SEC-NO-SECRETS-IN-EVIDENCE",
}
