"""The security gate in front of the ingestion gate's control messages: ``admit(bytes, node) -> Decision``.

Order of checks (cheap before expensive, and nothing trusted before its signature is verified):
payload cap -> quarantine -> token bucket -> canonical parse -> signature -> skew -> replay window -> nonce
high-water mark. Every rejection has one counted reason; nothing raises out of ``admit``.

What it records (the ``Recorder`` of ``docs/history-vocabulary.md``):

* one ``control_admit`` operation per message, process ``security``: ``ok`` when admitted, ``fail`` when
  rejected; value ``node, author, nonce, kind, signed, reason, detail, lineage_id`` (author/nonce/kind are null when the
  message could not be parsed);
* ``event`` operations (category ``security`` or ``flow``, version 1) named ``security.sig_fail``,
  ``security.replay_drop``, ``flow.rate.drop``, ``security.quarantine`` (one per state change) and
  ``security.insecure_mode`` (once, when an insecure gate is built); each carries ``lineage_id``, a UUIDv7, at the
  top level and in its payload. A clock regress seen by the lineage generator is a ``security.clock_regress``
  event (once per regress episode) plus a WARNING log line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reference_impl.security.canonical import Envelope, Rejected, parse
from reference_impl.security.config import SecurityConfig
from reference_impl.security.keys import SignatureVerifier
from reference_impl.security.lineage import LineageIds
from reference_impl.security.nonces import NonceTracker
from reference_impl.security.quarantine import Quarantine, StateChange
from reference_impl.security.ratelimit import TokenBuckets
from reference_impl.security.replay import ReplayWindow

log = logging.getLogger("reference_impl.security")

SIG_FAILURES = frozenset({"unsigned", "bad_signature", "truncated_signature", "bad_signature_encoding",
                          "bad_key_length", "unknown_author"})
REPLAY_DROPS = frozenset({"skew", "replay", "nonce_duplicate", "nonce_stale"})
PROCESS = "security"


class Clock(Protocol):
    def now(self) -> float: ...


class Recorder(Protocol):
    def record(self, process: str, type: str, f: str, **value: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    reason: str          # "admitted", "insecure_mode" or the counted rejection reason
    detail: str
    node: str
    lineage_id: str
    author: str | None = None
    nonce: int | None = None
    kind: str | None = None
    signed: bool = False


class SecurityGate:
    def __init__(self, config: SecurityConfig, clock: Clock, recorder: Recorder | None = None,
                 keys: Mapping[str, bytes] | None = None, *, seed: int = 0,
                 nonce_state: Mapping[str, list[int]] | None = None, record_decisions: bool = True,
                 platform_run_id: str | None = None) -> None:
        self.config = config
        self._clock = clock
        self._recorder = recorder
        self._record_decisions = record_decisions
        self._run_id = platform_run_id
        broken = config.broken
        self.verifier = SignatureVerifier(keys, config.sig_cache_ttl_s, config.sig_cache_cap)
        self.replay = ReplayWindow(config.skew_s, config.replay_bucket_s, config.replay_shards, config.replay_cap,
                                   bounded=not broken("unbounded_replay_memory"))
        self.nonces = NonceTracker(config.nonce_window, check_seen=not broken("no_replay_window"),
                                   accept_wraparound=broken("nonce_wraparound_accepts_stale"))
        if nonce_state:
            self.nonces.restore(nonce_state)
        self.buckets = TokenBuckets(config.burst, config.sustain_per_s,
                                    refills=not broken("bucket_never_refills"))
        self.quarantine = Quarantine(config.quarantine_threshold, config.quarantine_window_s,
                                     config.quarantine_release_s,
                                     triggers=not broken("quarantine_never_triggers"),
                                     releases=not broken("quarantine_never_releases"))
        self.lineage = LineageIds(clock, seed, self._clock_regressed, version7=not broken("lineage_not_v7"))
        self.counters: Counter[str] = Counter()
        self._pending: list[dict[str, int]] = []
        if config.insecure:
            # Loud on purpose (seed 000 §5 "Insecure flag misuse"): a log line and a one-shot event.
            log.warning("security gate built in INSECURE mode: signatures, replay, rate and size checks are OFF")
            if not broken("insecure_mode_silent"):
                self._event("security.insecure_mode", "security", enabled=True,
                            disabled_checks=["signature", "replay", "nonce", "rate", "payload_cap", "quarantine"])

    # -- the one entry point ------------------------------------------------------------------------------
    def admit(self, message: bytes, node: str) -> Decision:
        try:
            return self._admit(message, node)
        except Exception as surprise:  # the gate never raises: an unforeseen input is a counted rejection
            return self._reject(node, "internal_error", f"{type(surprise).__name__}: {str(surprise)[:120]}")

    def _admit(self, message: bytes, node: str) -> Decision:
        broken = self.config.broken
        now = self._clock.now()
        if not isinstance(message, bytes | bytearray):
            return self._reject(node, "malformed", f"a message is bytes, given: {type(message).__name__}")
        if self.config.insecure:
            return self._accept(node, "insecure_mode", "checks disabled by the insecure flag", None, False)
        if len(message) > self.config.max_payload_bytes and not broken("no_payload_cap"):
            return self._reject(node, "oversize", f"{len(message)} bytes exceed the cap of "
                                                  f"{self.config.max_payload_bytes}")
        held, change = self.quarantine.status(node, now)
        if change is not None:
            self._state_change(change)
        if held:
            return self._reject(node, "quarantined", f"node {node[:64]!r} is quarantined")
        if not self.buckets.take(node, now):
            if not broken("rate_drop_silent"):
                self._event("flow.rate.drop", "flow", node=node, burst=self.config.burst,
                            sustain_per_s=self.config.sustain_per_s)
            return self._reject(node, "rate_limited", "the node's token bucket is empty")
        try:
            envelope = parse(bytes(message), self.config.max_depth)
        except Rejected as bad:
            if bad.reason in SIG_FAILURES:  # a truncated or mis-encoded signature is a signature failure
                return self._sig_fail(node, None, bad.reason, bad.detail)
            return self._reject(node, bad.reason, bad.detail)
        if envelope.sig is None:
            if not broken("accept_unsigned"):
                return self._sig_fail(node, envelope, "unsigned", "the message carries no signature")
        elif not broken("accept_bad_signature"):
            result = self.verifier.verify(envelope.author, envelope.signed_bytes, envelope.sig, now)
            if not result.ok:
                return self._sig_fail(node, envelope, result.reason, result.detail)
        if abs(envelope.ts_ms - now * 1000) > self.config.skew_s * 1000:
            return self._replay_drop(node, envelope, "skew",
                                     f"ts_ms {envelope.ts_ms} is more than {self.config.skew_s} s from now")
        if not broken("no_replay_window") and self.replay.seen_or_add(envelope.author, envelope.nonce,
                                                                        envelope.ts_ms, now):
            return self._replay_drop(node, envelope, "replay", "(author, nonce) already seen in the window")
        verdict = self.nonces.check(envelope.author, envelope.nonce)
        if verdict in ("duplicate", "stale"):
            return self._replay_drop(node, envelope, f"nonce_{verdict}",
                                     f"nonce {envelope.nonce} against high-water mark "
                                     f"{self.nonces.high_water_mark(envelope.author)}")
        return self._accept(node, "admitted", verdict, envelope, envelope.sig is not None)

    # -- outcomes -----------------------------------------------------------------------------------------
    def _accept(self, node: str, reason: str, detail: str, envelope: Envelope | None, signed: bool) -> Decision:
        decision = Decision(True, reason, detail, node, self.lineage.new(),
                            envelope.author if envelope else None, envelope.nonce if envelope else None,
                            envelope.kind if envelope else None, signed)
        self.counters[reason] += 1
        self._decision("ok", decision)
        self._flush()
        return decision

    def _reject(self, node: str, reason: str, detail: str, envelope: Envelope | None = None) -> Decision:
        decision = Decision(False, reason, detail, node, self.lineage.new(),
                            envelope.author if envelope else None, envelope.nonce if envelope else None,
                            envelope.kind if envelope else None, bool(envelope and envelope.sig))
        self.counters[reason] += 1
        self._decision("fail", decision)
        self._flush()
        return decision

    def _sig_fail(self, node: str, envelope: Envelope | None, reason: str, detail: str) -> Decision:
        now = self._clock.now()
        decision = self._reject(node, reason, detail, envelope)
        self.counters["sig_fail"] += 1
        self._event("security.sig_fail", "security", node=node, author=envelope.author if envelope else None,
                    reason=reason)
        change = self.quarantine.failure(node, now)
        if change is not None:
            self._state_change(change)
        return decision

    def _replay_drop(self, node: str, envelope: Envelope, reason: str, detail: str) -> Decision:
        decision = self._reject(node, reason, detail, envelope)
        self.counters["replay_drop"] += 1
        self._event("security.replay_drop", "security", node=node, author=envelope.author,
                    nonce=envelope.nonce, reason=reason)
        return decision

    def _state_change(self, change: StateChange) -> None:
        self.counters[f"quarantine_{change.state}"] += 1
        self._event("security.quarantine", "security", node=change.node, state=change.state, at=change.at,
                    failures_in_window=change.failures_in_window)

    def _clock_regressed(self, last_ms: int, now_ms: int) -> None:
        log.warning("lineage clock regressed from %d ms to %d ms; ids keep the last timestamp", last_ms, now_ms)
        self.counters["clock_regress"] += 1
        # Emitted after the id being minted is done (see _flush), never from inside the generator.
        self._pending.append({"last_ms": last_ms, "now_ms": now_ms})

    def _flush(self) -> None:
        while self._pending:
            self._event("security.clock_regress", "security", **self._pending.pop(0))

    # -- recording ----------------------------------------------------------------------------------------
    def _decision(self, op_type: str, decision: Decision) -> None:
        if self._recorder is None or not self._record_decisions:
            return
        self._recorder.record(PROCESS, op_type, "control_admit", node=decision.node, author=decision.author,
                              nonce=decision.nonce, kind=decision.kind, signed=decision.signed,
                              reason=decision.reason, detail=decision.detail[:200], lineage_id=decision.lineage_id)

    def _event(self, name: str, category: str, **payload: Any) -> None:
        lineage_id = self.lineage.new()
        if self._recorder is None:
            return
        body = {**payload, "lineage_id": lineage_id}
        self._recorder.record(PROCESS, "ok", "event", name=name, category=category, version=1,
                              platform_run_id=self._run_id, scenario_run_id=None, trace_id=lineage_id,
                              lineage_id=lineage_id, payload=body)

    # -- state --------------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, list[int]]:
        """The nonce high-water marks: persist them and pass them back as ``nonce_state`` after a restart."""
        return self.nonces.snapshot()

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"skew_s": c.skew_s, "replay_cap": self.replay.bound, "replay_shards": c.replay_shards,
                "nonce_window": c.nonce_window, "burst": c.burst, "sustain_per_s": c.sustain_per_s,
                "max_payload_bytes": c.max_payload_bytes, "quarantine_threshold": c.quarantine_threshold,
                "quarantine_window_s": c.quarantine_window_s, "quarantine_release_s": c.quarantine_release_s,
                "insecure": c.insecure, "mutant": c.mutant}
