"""The security layer in front of the ingestion gate's control messages (seeds 000 and 002).

Public surface: ``SecurityGate(config, clock, recorder, keys).admit(message_bytes, node) -> Decision``,
``SecurityConfig``, ``Signer`` (Ed25519 keys for senders and drills), ``IngressAuth`` (401/403 boundary),
``is_uuid7`` and the ``SECURITY_MUTANTS`` catalogue."""

from __future__ import annotations

from reference_impl.security.canonical import Rejected, encode, parse, signed_bytes
from reference_impl.security.config import SECURITY_MUTANTS, SecurityConfig, SecurityConfigError
from reference_impl.security.gate import REPLAY_DROPS, SIG_FAILURES, Decision, SecurityGate
from reference_impl.security.ingress import IngressAuth
from reference_impl.security.keys import SignatureVerifier, Signer
from reference_impl.security.lineage import LineageIds, is_uuid7
from reference_impl.security.nonces import NonceTracker
from reference_impl.security.quarantine import Quarantine
from reference_impl.security.ratelimit import TokenBuckets
from reference_impl.security.replay import ReplayWindow

__all__ = [
    "REPLAY_DROPS", "SECURITY_MUTANTS", "SIG_FAILURES", "Decision", "IngressAuth", "LineageIds",
    "NonceTracker", "Quarantine", "Rejected", "ReplayWindow", "SecurityConfig", "SecurityConfigError",
    "SecurityGate", "SignatureVerifier", "Signer", "TokenBuckets", "encode", "is_uuid7", "parse",
    "signed_bytes",
]
