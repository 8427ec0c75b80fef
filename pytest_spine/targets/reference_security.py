"""Security drills for the reference target: each SEC-* check gets a workload run against the bundled security
layer (``reference_impl/security``), on its own injected clock, recorded into its own History.

This is target-side code (it may import reference_impl); the checks that judge a drill live in
``pytest_spine/gates/security.py`` and read only the returned observation and operations. An observation is
JSON-safe and secret-free; planted canaries travel beside it in ``DrillResult.canaries`` and are never written.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.clock import seeded_random
from pytest_spine.history import History, Operation
from reference_impl.security import (
    SECURITY_MUTANTS,
    IngressAuth,
    SecurityConfig,
    SecurityGate,
    Signer,
    encode,
)
from reference_impl.security.canonical import MAX_U64

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z, the ManualClock default
WIDE_OPEN = 10**9        # a burst so large the bucket never interferes with a drill about something else


class DrillClock:
    """An injected clock that, unlike ManualClock, may be set back: the lineage drill needs a clock regress."""

    def __init__(self, start: float = EPOCH) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += max(0.0, seconds)

    def set(self, epoch: float) -> None:
        self._now = epoch

    def ms(self) -> int:
        return int(self._now * 1000)


@dataclass(frozen=True, slots=True)
class DrillResult:
    check_id: str
    observation: Mapping[str, Any]
    operations: tuple[Operation, ...]
    canaries: tuple[str, ...] = field(default=(), repr=False)  # secrets planted by the drill: never written


@dataclass(slots=True)
class _Drill:
    seed: int
    mutant: str | None
    platform_run_id: str | None = None
    clock: DrillClock = field(default_factory=DrillClock)
    history: History = field(init=False)

    def __post_init__(self) -> None:
        self.history = History(self.clock)

    def config(self, **overrides: Any) -> SecurityConfig:
        return SecurityConfig(**overrides).with_mutant(self.mutant)

    def signer(self, author: str) -> Signer:
        return Signer.from_seed(author, self.seed)

    def gate(self, signers: list[Signer], config: SecurityConfig | None = None,
             extra_keys: Mapping[str, bytes] | None = None, **kw: Any) -> SecurityGate:
        keys = {s.author: s.public_key for s in signers}
        keys.update(extra_keys or {})
        return SecurityGate(config or self.config(), self.clock, self.history, keys, seed=self.seed,
                            platform_run_id=self.platform_run_id, **kw)

    def result(self, check_id: str, observation: Mapping[str, Any], canaries: tuple[str, ...] = ()) -> DrillResult:
        self.history.close()
        return DrillResult(check_id, {"seed": self.seed, "mutant": self.mutant, **observation},
                           tuple(self.history.operations()), canaries)


def _unsigned(signer: Signer, nonce: int, ts_ms: int) -> bytes:
    return encode({"v": 1, "author": signer.author, "nonce": nonce, "ts_ms": ts_ms, "kind": "membership.announce",
                   "payload": {}})


def _resign_with(document_bytes: bytes, **changes: Any) -> bytes:
    document = json.loads(document_bytes)
    document.update(changes)
    return encode(document)


def _outcome(decision: Any) -> str:
    return "admitted" if decision.admitted else f"rejected:{decision.reason}"


# -- SEC-UNSIGNED-REJECTED ----------------------------------------------------------------------------------
def drill_unsigned(d: _Drill) -> DrillResult:
    alice = d.signer("alice")
    gate = d.gate([alice])
    nodes = [f"node-{i}" for i in range(5)]
    sent = {"unsigned": 0, "signed": 0}
    for i in range(200):
        d.clock.advance(0.05)
        if i % 2:
            gate.admit(_unsigned(alice, 10_000 + i, d.clock.ms()), nodes[i % 5])
            sent["unsigned"] += 1
        else:
            gate.admit(alice.message(i + 1, d.clock.ms()), nodes[i % 5])
            sent["signed"] += 1
    return d.result("SEC-UNSIGNED-REJECTED", {"sent": sent})


# -- SEC-SIG-TAMPER -----------------------------------------------------------------------------------------
def drill_sig_tamper(d: _Drill) -> DrillResult:
    alice, mallory, bob = d.signer("alice"), d.signer("mallory"), d.signer("bob")
    gate = d.gate([alice], extra_keys={"bob": bob.public_key[:31]})  # bob's registry entry is one byte short
    now = d.clock.ms
    good = alice.message(1, now(), payload={"op": "join"})
    signature = json.loads(good)["sig"]
    cases: dict[str, bytes] = {
        "valid": good,
        "wrong_key": _resign_with(mallory.message(2, now(), payload={"op": "join"}), author="alice"),
        "tampered_payload": _resign_with(alice.message(3, now(), payload={"op": "join"}), payload={"op": "jOin"}),
        "tampered_nonce": _resign_with(alice.message(4, now()), nonce=40),
        "missing": _unsigned(alice, 5, now()),
        "truncated": _resign_with(alice.message(6, now()), sig=signature[:64]),
        "bad_encoding": _resign_with(alice.message(7, now()), sig="zz" * 64),
        "wrong_key_length": bob.message(8, now()),
        "unknown_author": d.signer("eve").message(9, now()),
        "foreign_signature": _resign_with(alice.message(10, now()), sig=signature),
    }
    observed = []
    for index, (case, message) in enumerate(cases.items()):
        d.clock.advance(1.0)
        decision = gate.admit(message, f"node-{index}")  # one node per case: quarantine stays out of the way
        observed.append({"case": case, "outcome": _outcome(decision)})
    return d.result("SEC-SIG-TAMPER", {"cases": observed})


# -- SEC-REPLAY-REJECT --------------------------------------------------------------------------------------
def drill_replay(d: _Drill, originals: int = 1000, replays: int = 10_000, memory_nonces: int = 1_000_000,
                 measure_bytes: bool = True, memory_cap: int | None = None) -> DrillResult:
    rng = seeded_random(d.seed, "SEC-REPLAY-REJECT")
    signers = [d.signer(f"author-{i}") for i in range(20)]
    config = d.config(burst=WIDE_OPEN)
    gate = d.gate(signers, config)
    sent: list[tuple[bytes, float]] = []
    nonce = {s.author: 0 for s in signers}
    for i in range(originals):
        d.clock.advance(0.01)
        signer = signers[i % len(signers)]
        nonce[signer.author] += 1
        message = signer.message(nonce[signer.author], d.clock.ms())
        gate.admit(message, f"node-{i % 7}")
        sent.append((message, d.clock.now()))
    flood_start = d.clock.now()
    # Replays land at random moments, all within the skew window of their original (seed 000: "within 30s
    # skew"), mixed with fresh traffic so the window also has to keep admitting.
    for i in range(replays):
        d.clock.advance(rng.uniform(0.0, 0.002))
        message, _sent_at = sent[rng.randrange(len(sent))]
        gate.admit(message, f"node-{rng.randrange(7)}")
        if i % 10 == 0:
            signer = signers[rng.randrange(len(signers))]
            nonce[signer.author] += 1
            gate.admit(signer.message(nonce[signer.author], d.clock.ms()), "node-fresh")
    flood_span = d.clock.now() - flood_start
    memory = replay_memory(d, memory_nonces, measure_bytes, memory_cap)
    return d.result("SEC-REPLAY-REJECT", {
        "originals": originals, "replays_sent": replays, "flood_span_s": round(flood_span, 3),
        "skew_s": config.skew_s, "memory": memory,
    })


def replay_memory(d: _Drill, nonces: int, measure_bytes: bool, cap: int | None = None) -> dict[str, Any]:
    """Feed ``nonces`` distinct (author, nonce) pairs through the replay window over two skew windows of time.

    ``cap`` lowers the window's hard cap so a small flood can show the bound (tests); the suite uses the default.
    """
    config = d.config() if cap is None else d.config(replay_cap=cap)
    gate = SecurityGate(config, d.clock, None, {}, seed=d.seed)
    window = gate.replay
    start = d.clock.now()
    span_s = 2 * config.skew_s
    if measure_bytes:
        tracemalloc.start()
    peak_entries = 0
    try:
        for i in range(nonces):
            now = start + span_s * i / nonces
            window.seen_or_add(f"flood-{i % 1000}", i, int(now * 1000), now)
            if i % 4096 == 0:
                peak_entries = max(peak_entries, len(window))
        peak_entries = max(peak_entries, len(window))
        _, peak_bytes = tracemalloc.get_traced_memory() if measure_bytes else (0, None)
    finally:
        if measure_bytes:
            tracemalloc.stop()
    return {"distinct_nonces": nonces, "entries_after": len(window), "peak_entries": peak_entries,
            "bound_entries": config.replay_cap, "evicted": window.evicted, "pruned": window.pruned,
            "peak_bytes": peak_bytes}


# -- SEC-NONCE-HWM ------------------------------------------------------------------------------------------
def drill_nonce(d: _Drill) -> DrillResult:
    config = d.config(burst=WIDE_OPEN)
    cases: dict[str, list[str]] = {}

    def run(case: str, author: str, steps: list[int]) -> None:
        signer = d.signer(author)
        gate = d.gate([signer], config)
        cases[case] = []
        for n in steps:
            d.clock.advance(0.01)
            cases[case].append(_outcome(gate.admit(signer.message(n, d.clock.ms()), f"node-{case}")))

    run("duplicate", "dup", [5, 5])
    run("stale", "stale", [10_000, 10_000 - 2 * config.nonce_window])
    run("out_of_order", "ooo", [10, 8, 9, 8])
    run("wraparound", "wrap", [MAX_U64 - 1, MAX_U64, 0, 1, 5])

    # Overflowing and negative nonces cannot be produced by a well-behaved signer: sign them by hand.
    signer = d.signer("overflow")
    gate = d.gate([signer], config)
    cases["overflow"] = []
    for n in (MAX_U64 + 1, -1):
        d.clock.advance(0.01)
        raw = signer.sign({"v": 1, "author": "overflow", "nonce": n, "ts_ms": d.clock.ms(), "kind": "k",
                           "payload": {}})
        cases["overflow"].append(_outcome(gate.admit(raw, "node-overflow")))

    # Replay after restart: the nonce marks are persisted, the replay window is not.
    signer = d.signer("restart")
    first = d.gate([signer], config)
    message = signer.message(42, d.clock.ms())
    steps = [_outcome(first.admit(message, "node-restart"))]
    saved = first.snapshot()
    d.clock.advance(1.0)
    restarted = d.gate([signer], config, nonce_state=saved)
    steps.append(_outcome(restarted.admit(message, "node-restart")))
    steps.append(_outcome(restarted.admit(signer.message(43, d.clock.ms()), "node-restart")))
    cases["replay_after_restart"] = steps

    # Across the skew boundary, both sides.
    signer = d.signer("skew")
    gate = d.gate([signer], config)
    skew_ms = int(config.skew_s * 1000)
    now = d.clock.ms()
    inside = signer.message(3, now - skew_ms + 1000)
    cases["skew_boundary"] = [
        _outcome(gate.admit(signer.message(1, now - skew_ms - 1), "node-skew")),
        _outcome(gate.admit(signer.message(2, now + skew_ms + 1), "node-skew")),
        _outcome(gate.admit(inside, "node-skew")),
        _outcome(gate.admit(inside, "node-skew")),
    ]
    d.clock.advance(2.0)  # the original is now older than the skew: its replay is refused on age alone
    cases["skew_boundary"].append(_outcome(gate.admit(inside, "node-skew")))
    return d.result("SEC-NONCE-HWM", {"nonce_window": config.nonce_window, "cases": cases})


# -- SEC-RATE-LIMIT -----------------------------------------------------------------------------------------
def drill_rate(d: _Drill) -> DrillResult:
    config = d.config()
    signer = d.signer("flood")
    gate = d.gate([signer], config)
    start_us = round(d.clock.now() * 1_000_000)
    schedules: dict[str, dict[str, Any]] = {
        "burst": {"node": "node-burst", "start_us": start_us, "count": 1000, "interval_us": 0},
        "sustained": {"node": "node-sustained", "start_us": start_us, "count": 600, "interval_us": 33_333},
        "trickle": {"node": "node-trickle", "start_us": start_us, "count": 150, "interval_us": 100_000},
    }
    arrivals = sorted((s["start_us"] + i * s["interval_us"], name)
                      for name, s in schedules.items() for i in range(s["count"]))
    for nonce, (at_us, name) in enumerate(arrivals, start=1):
        d.clock.set(at_us / 1_000_000)
        gate.admit(signer.message(nonce, d.clock.ms()), str(schedules[name]["node"]))
    return d.result("SEC-RATE-LIMIT", {"burst": config.burst, "sustain_per_s": config.sustain_per_s,
                                       "schedules": schedules})


# -- SEC-PAYLOAD-CAP (CH-OVERSIZE-FUZZ) ---------------------------------------------------------------------
def drill_payload(d: _Drill, examples: int = 300) -> DrillResult:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    config = d.config(burst=WIDE_OPEN)
    signer = d.signer("fuzz")
    gate = d.gate([signer], config)
    cap = config.max_payload_bytes
    tally: dict[str, Any] = {"examples": 0, "crashes": [], "by_kind": {}, "admitted_bad": []}
    counter = iter(range(1, 10**9))

    def signed(payload: Any, nonce: int | None = None) -> bytes:
        return signer.message(next(counter) if nonce is None else nonce, d.clock.ms(), payload=payload)

    json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20)
    json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
    cases = st.one_of(
        st.tuples(st.just("valid"), st.dictionaries(st.text(max_size=8), json_value, max_size=5)),
        st.tuples(st.just("oversize"), st.integers(cap + 1, 4 * cap)),
        st.tuples(st.just("random_bytes"), st.binary(max_size=512)),
        st.tuples(st.just("deep"), st.integers(config.max_depth + 1, 20_000)),
        st.tuples(st.just("invalid_utf8"), st.binary(min_size=1, max_size=4).filter(_not_utf8)),
        st.tuples(st.just("non_canonical"), st.sampled_from(["space", "reorder", "escape", "float"])),
        st.tuples(st.just("bad_nonce"), st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_U64 + 1))),
        st.tuples(st.just("truncated_sig"), st.integers(0, 127)),
    )

    def build(kind: str, arg: Any) -> bytes:
        if kind == "valid":
            return signed(arg)
        if kind == "oversize":
            return signed({"blob": "x" * int(arg)})
        if kind == "random_bytes":
            return bytes(arg)
        if kind == "deep":
            depth = int(arg)
            return signed({"x": 0})[:-1] + b',"z":' + b"[" * depth + b"]" * depth + b"}"
        if kind == "invalid_utf8":
            good = signed({"note": "ok"})
            return good[:20] + bytes(arg) + good[20:]
        if kind == "non_canonical":
            good = signed({"a": 1, "b": "é"})
            return {"space": good.replace(b'","', b'", "', 1),
                    "reorder": b'{"v":1,' + good[1:].replace(b',"v":1', b""),
                    "escape": good.replace("é".encode(), b"\\u00e9"),
                    "float": good.replace(b'"a":1', b'"a":1.0')}[str(arg)]
        if kind == "bad_nonce":
            return signer.sign({"v": 1, "author": "fuzz", "nonce": int(arg), "ts_ms": d.clock.ms(), "kind": "k",
                                "payload": {}})
        good = signed({"t": 1})
        document = json.loads(good)
        document["sig"] = document["sig"][: int(arg)]
        return encode(document)

    @hypothesis_seed(d.seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def fuzz(case: tuple[str, Any]) -> None:
        kind, arg = case
        d.clock.advance(0.001)
        message = build(kind, arg)
        tally["examples"] += 1
        slot = tally["by_kind"].setdefault(kind, {"sent": 0, "admitted": 0, "largest": 0})
        slot["sent"] += 1
        slot["largest"] = max(slot["largest"], len(message))
        try:
            decision = gate.admit(message, "node-fuzz")
        except Exception as crash:  # the gate promises never to raise: record it as the defect it is
            tally["crashes"].append({"kind": kind, "error": f"{type(crash).__name__}: {crash}"[:200]})
            return
        if decision.reason == "internal_error":
            tally["crashes"].append({"kind": kind, "error": decision.detail})
        if decision.admitted:
            slot["admitted"] += 1
            if kind != "valid":
                tally["admitted_bad"].append({"kind": kind, "bytes": len(message),
                                              "sha256": hashlib.sha256(message).hexdigest()})

    fuzz()
    return d.result("SEC-PAYLOAD-CAP", {"max_payload_bytes": cap, **tally})


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# -- SEC-QUARANTINE-REACTION --------------------------------------------------------------------------------
def drill_quarantine(d: _Drill) -> DrillResult:
    config = d.config(burst=WIDE_OPEN)
    alice, mallory = d.signer("alice"), d.signer("mallory")
    gate = d.gate([alice, mallory], config)
    started_at = d.clock.now() + 5.0
    stop_at = started_at + 20.0
    end_at = started_at + 90.0
    nonce = {"alice": 0, "mallory": 0}
    step = 0.2
    ticks = round((end_at - d.clock.now()) / step)
    base = d.clock.now()
    for tick in range(1, ticks + 1):
        d.clock.set(base + tick * step)
        now = d.clock.now()
        if tick % 5 == 0:
            nonce["alice"] += 1
            gate.admit(alice.message(nonce["alice"], d.clock.ms()), "node-legit")
        if started_at <= now < stop_at:
            nonce["mallory"] += 1
            forged = _resign_with(alice.message(10**6 + tick, d.clock.ms()), author="mallory")
            gate.admit(forged, "node-malicious")
        elif now >= stop_at and tick % 25 == 0:
            nonce["mallory"] += 1
            gate.admit(mallory.message(nonce["mallory"], d.clock.ms()), "node-malicious")
    return d.result("SEC-QUARANTINE-REACTION", {
        "malicious_node": "node-malicious", "legit_node": "node-legit", "started_at": started_at,
        "stopped_at": stop_at, "ended_at": end_at, "release_s": config.quarantine_release_s,
        "threshold": config.quarantine_threshold, "window_s": config.quarantine_window_s,
    })


# -- SEC-INSECURE-FLAG --------------------------------------------------------------------------------------
def drill_insecure(d: _Drill, run_insecure: bool = False) -> DrillResult:
    alice = d.signer("alice")
    gate = d.gate([alice], d.config(insecure=True))
    for i in range(5):
        d.clock.advance(0.1)
        gate.admit(_unsigned(alice, i + 1, d.clock.ms()), "node-0")
    return d.result("SEC-INSECURE-FLAG", {"insecure_gate_built": 1, "run_insecure": run_insecure})


# -- SEC-LINEAGE-UUIDV7 -------------------------------------------------------------------------------------
def drill_lineage(d: _Drill) -> DrillResult:
    alice = d.signer("alice")
    gate = d.gate([alice], d.config(burst=5, sustain_per_s=1.0))
    for i in range(30):
        d.clock.advance(0.05)
        message = alice.message(i + 1, d.clock.ms()) if i % 3 else _unsigned(alice, i + 1, d.clock.ms())
        gate.admit(message, f"node-{i % 2}")
    same_ms = [gate.lineage.new() for _ in range(300)]  # one instant: order must come from the sequence
    d.clock.advance(-5.0)                                  # a clock regress: ids stay ordered, a WARN is emitted
    after_regress = [gate.lineage.new() for _ in range(3)]
    gate.admit(alice.message(500, d.clock.ms()), "node-9")
    return d.result("SEC-LINEAGE-UUIDV7", {"same_ms_ids": same_ms, "after_regress_ids": after_regress})


# -- SEC-AUTH-BOUNDARY --------------------------------------------------------------------------------------
def drill_auth(d: _Drill) -> DrillResult:
    key = _canary(d.seed, "api-key")
    auth = IngressAuth([key], open_boundary=d.mutant == "auth_boundary_open")
    statuses = {
        "no_key": auth.authenticate({})[0],
        "empty_key": auth.authenticate({"X-IG-Api-Key": ""})[0],
        "wrong_key": auth.authenticate({"X-IG-Api-Key": key[::-1]})[0],
        "right_key": auth.authenticate({"X-IG-Api-Key": key})[0],
    }
    return d.result("SEC-AUTH-BOUNDARY", {"statuses": statuses, "source": "reference_impl.security.ingress"},
                    (key,))


# -- SEC-NO-SECRETS-IN-EVIDENCE -----------------------------------------------------------------------------
def drill_secrets(d: _Drill) -> DrillResult:
    """Plant canaries (an API key and a signing key) in the layer and return what it would put in evidence."""
    api_key = _canary(d.seed, "api-key")
    signer = d.signer("canary-author")
    auth = IngressAuth([api_key], leak_keys=d.mutant == "secret_in_evidence")
    gate = d.gate([signer])
    d.clock.advance(0.1)
    gate.admit(signer.message(1, d.clock.ms()), "node-0")
    layer = {"gate": gate.describe(), "ingress": auth.describe(), "counters": dict(gate.counters)}
    return d.result("SEC-NO-SECRETS-IN-EVIDENCE", {"layer": layer},
                    (api_key, signer.private_bytes_hex()))


def _canary(seed: int, what: str) -> str:
    return "spine-canary-" + hashlib.sha256(f"{seed}:{what}".encode()).hexdigest()[:32]


DRILLS: dict[str, Callable[[_Drill], DrillResult]] = {
    "SEC-UNSIGNED-REJECTED": drill_unsigned,
    "SEC-SIG-TAMPER": drill_sig_tamper,
    "SEC-REPLAY-REJECT": drill_replay,
    "SEC-NONCE-HWM": drill_nonce,
    "SEC-RATE-LIMIT": drill_rate,
    "SEC-PAYLOAD-CAP": drill_payload,
    "SEC-QUARANTINE-REACTION": drill_quarantine,
    "SEC-INSECURE-FLAG": drill_insecure,
    "SEC-LINEAGE-UUIDV7": drill_lineage,
    "SEC-AUTH-BOUNDARY": drill_auth,
    "SEC-NO-SECRETS-IN-EVIDENCE": drill_secrets,
}


def run_drill(check_id: str, *, seed: int = 0, mutant: str | None = None, platform_run_id: str | None = None,
              **params: Any) -> DrillResult:
    """Run the reference drill of one SEC-* check; ``mutant`` names a security mutant (others mean none)."""
    if check_id not in DRILLS:
        raise KeyError(f"no security drill for {check_id!r}; known: {', '.join(DRILLS)}")
    drill = _Drill(seed, mutant if mutant in SECURITY_MUTANTS else None, platform_run_id)
    return DRILLS[check_id](drill, **params)


# -- spine bench security -----------------------------------------------------------------------------------
def bench(events: int, seed: int = 0, memory: bool = True) -> dict[str, Any]:
    """Throughput of the reference layer on one core: Ed25519 verify, replay check (window + nonce mark) and the
    whole gate, over ``events`` distinct signed messages; peak memory of the gate pass via tracemalloc."""
    import gc
    import time

    from reference_impl.security import NonceTracker, ReplayWindow, SignatureVerifier, parse

    clock = DrillClock()
    signers = [Signer.from_seed(f"bench-{i}", seed) for i in range(64)]
    keys = {s.author: s.public_key for s in signers}
    started = time.perf_counter()
    messages = []
    for i in range(events):
        clock.advance(0.0001)
        messages.append(signers[i % 64].message(i // 64 + 1, clock.ms(), payload={"i": i}))
    sign_s = time.perf_counter() - started
    envelopes = [parse(m) for m in messages]

    verifier = SignatureVerifier(keys, ttl_s=0.0)
    gc.collect()
    started = time.perf_counter()
    for envelope in envelopes:
        verifier.verify(envelope.author, envelope.signed_bytes, envelope.sig or "", 0.0)
    verify_s = time.perf_counter() - started

    window, nonces = ReplayWindow(), NonceTracker()
    now = clock.now()
    gc.collect()
    started = time.perf_counter()
    for envelope in envelopes:
        window.seen_or_add(envelope.author, envelope.nonce, envelope.ts_ms, now)
        nonces.check(envelope.author, envelope.nonce)
    replay_s = time.perf_counter() - started

    def gate_pass() -> float:
        gate = SecurityGate(SecurityConfig(burst=WIDE_OPEN), clock, None, keys, seed=seed)
        began = time.perf_counter()
        for message in messages:
            gate.admit(message, "bench-node")
        if gate.counters["admitted"] != events:
            raise RuntimeError(f"bench: the gate admitted {gate.counters['admitted']} of {events} valid messages")
        return time.perf_counter() - began

    gc.collect()
    gate_s = gate_pass()
    figures: dict[str, Any] = {
        "events": events,
        "sign_per_s": events / sign_s,
        "verify_per_s_per_core": events / verify_s,
        "replay_check_per_s_per_core": events / replay_s,
        "gate_admit_per_s_per_core": events / gate_s,
        "replay_window_entries": len(window),
        "replay_window_bound_entries": window.bound,
    }
    if memory:
        gc.collect()
        tracemalloc.start()
        gate_pass()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures["gate_peak_memory_mib"] = peak / 2**20
    return figures
