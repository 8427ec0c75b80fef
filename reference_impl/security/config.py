"""Configuration of the security layer, with the guardrails of seed 000 §6 (clamp, never negative) and the
catalogue of deliberately broken variants (mutants) the gates must kill."""

from __future__ import annotations

from dataclasses import dataclass, replace

from reference_impl.errors import PlatformError

MAX_U64 = 2**64 - 1

# Each mutant breaks exactly one defence; the SEC-* check named beside it must FAIL on it.
SECURITY_MUTANTS: dict[str, str] = {
    "accept_unsigned": "messages without a signature are admitted (SEC-UNSIGNED-REJECTED)",
    "accept_bad_signature": "signatures are checked for shape only, never verified (SEC-SIG-TAMPER)",
    "no_replay_window": "no replay window and no seen-set below the nonce high-water mark (SEC-REPLAY-REJECT)",
    "nonce_wraparound_accepts_stale": "a small nonce after a high-water mark near 2**64 is taken as a "
                                      "wraparound and admitted (SEC-NONCE-HWM)",
    "unbounded_replay_memory": "the replay window never prunes and has no cap (SEC-REPLAY-REJECT memory bound)",
    "bucket_never_refills": "the token bucket never refills after the burst (SEC-RATE-LIMIT)",
    "rate_drop_silent": "rate-limited messages are dropped without a flow.rate.drop event (SEC-RATE-LIMIT)",
    "no_payload_cap": "payloads over 64 KiB are admitted (SEC-PAYLOAD-CAP)",
    "quarantine_never_triggers": "signature failures never quarantine a node (SEC-QUARANTINE-REACTION)",
    "quarantine_never_releases": "a quarantined node is never released (SEC-QUARANTINE-REACTION timed release)",
    "insecure_mode_silent": "insecure mode disables the checks without the one-shot event (SEC-INSECURE-FLAG)",
    "lineage_not_v7": "lineage ids are UUIDv4, not UUIDv7 (SEC-LINEAGE-UUIDV7)",
    "auth_boundary_open": "the ingress admits requests without or with a wrong API key (SEC-AUTH-BOUNDARY)",
    "secret_in_evidence": "the signing key is written into the layer's diagnostics (SEC-NO-SECRETS-IN-EVIDENCE)",
}


class SecurityConfigError(PlatformError):
    """A security setting is out of range: the message names the field, quotes the value and says the fix."""


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Every knob of the layer. Defaults are the seeds' numbers (seed 000 §1.1, seed 002 to-do list)."""

    skew_s: float = 30.0                 # accepted |message ts - now|; also the replay window's span
    replay_shards: int = 16
    replay_bucket_s: float = 1.0         # width of one time bucket of the replay window
    replay_cap: int = 262_144            # hard cap on entries across all shards (memory bound)
    nonce_window: int = 1024             # out-of-order nonces accepted below the high-water mark
    sig_cache_ttl_s: float = 2.0
    sig_cache_cap: int = 65_536
    burst: int = 100
    sustain_per_s: float = 10.0
    max_payload_bytes: int = 64 * 1024
    max_depth: int = 32
    quarantine_threshold: int = 3        # more than this many sig failures ...
    quarantine_window_s: float = 1.0     # ... within this window quarantines the node
    quarantine_release_s: float = 30.0   # timed release after this long
    insecure: bool = False
    mutant: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "skew_s": self.skew_s, "replay_bucket_s": self.replay_bucket_s, "sustain_per_s": self.sustain_per_s,
            "quarantine_window_s": self.quarantine_window_s, "quarantine_release_s": self.quarantine_release_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise SecurityConfigError(f"SecurityConfig.{name} must be > 0, given: {value!r}")
        counts = {
            "replay_shards": self.replay_shards, "replay_cap": self.replay_cap, "nonce_window": self.nonce_window,
            "sig_cache_cap": self.sig_cache_cap, "burst": self.burst,
            "max_payload_bytes": self.max_payload_bytes, "max_depth": self.max_depth,
        }
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SecurityConfigError(f"SecurityConfig.{name} must be an integer >= 1, given: {value!r}")
        if self.sig_cache_ttl_s < 0 or self.quarantine_threshold < 0:
            raise SecurityConfigError("SecurityConfig.sig_cache_ttl_s and quarantine_threshold must be >= 0, "
                                      f"given: {self.sig_cache_ttl_s!r}, {self.quarantine_threshold!r}")
        if self.replay_cap < self.replay_shards:
            raise SecurityConfigError(f"SecurityConfig.replay_cap ({self.replay_cap}) must be at least "
                                      f"replay_shards ({self.replay_shards}): each shard holds cap/shards entries")
        if self.mutant is not None and self.mutant not in SECURITY_MUTANTS:
            raise SecurityConfigError(f"SecurityConfig.mutant {self.mutant!r} is not a security mutant; "
                                      f"known: {', '.join(sorted(SECURITY_MUTANTS))}")

    def broken(self, name: str) -> bool:
        """True when this configuration runs the named mutant."""
        return self.mutant == name

    def with_mutant(self, name: str | None) -> SecurityConfig:
        """The same settings with another mutant; names that are not security mutants mean none."""
        return replace(self, mutant=name if name in SECURITY_MUTANTS else None)
