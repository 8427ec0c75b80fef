"""Ed25519 signing keys (the ``cryptography`` package), the author key ring and a verifier with a TTL cache.

The cache follows seed 000 §6 ("upsert on verify success; skip re-verify if within TTL"): its key is a digest
of (public key, signed bytes, signature), so a hit can only ever repeat a verification that succeeded.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reference_impl.security.canonical import Rejected, encode, signed_bytes

PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64


class Signer:
    """An author's signing key. ``from_seed`` makes it reproducible from a run seed (drills, tests)."""

    def __init__(self, author: str, private_key: Ed25519PrivateKey) -> None:
        self.author = author
        self._key = private_key

    @classmethod
    def from_seed(cls, author: str, seed: int | str) -> Signer:
        material = hashlib.sha256(f"spine-sec-signer:{seed}:{author}".encode()).digest()
        return cls(author, Ed25519PrivateKey.from_private_bytes(material))

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes_raw()

    def private_bytes_hex(self) -> str:
        """The secret itself: for the canary scanner's list of what must never be written, nothing else."""
        return self._key.private_bytes_raw().hex()

    def sign(self, document: Mapping[str, object]) -> bytes:
        """The canonical wire bytes of ``document`` (without ``sig``) with its signature added."""
        body = {k: v for k, v in document.items() if k != "sig"}
        signature = self._key.sign(signed_bytes(body))
        return encode({**body, "sig": signature.hex()})

    def message(self, nonce: int, ts_ms: int, kind: str = "membership.announce",
                payload: Mapping[str, object] | None = None) -> bytes:
        return self.sign({"v": 1, "author": self.author, "nonce": nonce, "ts_ms": ts_ms, "kind": kind,
                          "payload": dict(payload or {})})


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    cached: bool
    reason: str
    detail: str


class SignatureVerifier:
    """Author -> public key, and Ed25519 verification with a bounded TTL cache of successes."""

    def __init__(self, keys: Mapping[str, bytes] | None = None, ttl_s: float = 2.0, cap: int = 65_536) -> None:
        self._keys: dict[str, bytes] = dict(keys or {})
        self._ttl = ttl_s
        self._cap = cap
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self.cache_hits = 0

    def add(self, author: str, public_key: bytes) -> None:
        # A key of the wrong length is stored as given and rejected, counted, at verification time: bad key
        # material from a registry must not take the gate down.
        self._keys[author] = bytes(public_key)

    def knows(self, author: str) -> bool:
        return author in self._keys

    def verify(self, author: str, message: bytes, signature_hex: str, now: float) -> Verification:
        key = self._keys.get(author)
        if key is None:
            return Verification(False, False, "unknown_author", f"no public key registered for {author[:64]!r}")
        if len(key) != PUBLIC_KEY_LEN:
            return Verification(False, False, "bad_key_length",
                                f"the registered key of {author[:64]!r} has {len(key)} bytes, Ed25519 needs "
                                f"{PUBLIC_KEY_LEN}")
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            return Verification(False, False, "bad_signature_encoding", "sig is not hex")
        if len(signature) != SIGNATURE_LEN:
            return Verification(False, False, "truncated_signature",
                                f"sig has {len(signature)} bytes, Ed25519 signatures have {SIGNATURE_LEN}")
        digest = hashlib.blake2b(key + message + signature, digest_size=16).digest()
        seen = self._cache.get(digest)
        if seen is not None and now - seen <= self._ttl:
            self.cache_hits += 1
            return Verification(True, True, "ok", "cached")
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        except InvalidSignature:
            return Verification(False, False, "bad_signature", f"the signature does not verify under the key "
                                                               f"of {author[:64]!r}")
        except ValueError as bad:
            return Verification(False, False, "bad_key_length", str(bad)[:120])
        self._cache[digest] = now
        self._cache.move_to_end(digest)
        while len(self._cache) > self._cap:
            self._cache.popitem(last=False)
        return Verification(True, False, "ok", "verified")

    def cache_size(self) -> int:
        return len(self._cache)


__all__ = ["PUBLIC_KEY_LEN", "SIGNATURE_LEN", "Rejected", "SignatureVerifier", "Signer", "Verification"]
