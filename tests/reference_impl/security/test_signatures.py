from __future__ import annotations

from reference_impl.security import SignatureVerifier, Signer, parse


def test_verify_ok_then_cached_within_the_ttl_then_verified_again() -> None:
    signer = Signer.from_seed("a", 1)
    envelope = parse(signer.message(1, 10))
    assert envelope.sig is not None
    verifier = SignatureVerifier({"a": signer.public_key}, ttl_s=2.0)
    assert verifier.verify("a", envelope.signed_bytes, envelope.sig, 100.0).cached is False
    assert verifier.verify("a", envelope.signed_bytes, envelope.sig, 101.0).cached is True
    assert verifier.verify("a", envelope.signed_bytes, envelope.sig, 103.5).cached is False
    assert verifier.cache_hits == 1


def test_a_cached_success_never_vouches_for_other_bytes() -> None:
    signer = Signer.from_seed("a", 1)
    envelope = parse(signer.message(1, 10))
    assert envelope.sig is not None
    verifier = SignatureVerifier({"a": signer.public_key})
    verifier.verify("a", envelope.signed_bytes, envelope.sig, 0.0)
    assert verifier.verify("a", envelope.signed_bytes + b" ", envelope.sig, 0.0).reason == "bad_signature"


def test_bad_key_material_is_a_reason_not_an_exception() -> None:
    signer = Signer.from_seed("a", 1)
    envelope = parse(signer.message(1, 10))
    assert envelope.sig is not None
    verifier = SignatureVerifier({"short": signer.public_key[:31], "long": signer.public_key + b"\0"})
    assert verifier.verify("short", envelope.signed_bytes, envelope.sig, 0).reason == "bad_key_length"
    assert verifier.verify("long", envelope.signed_bytes, envelope.sig, 0).reason == "bad_key_length"
    assert verifier.verify("nobody", envelope.signed_bytes, envelope.sig, 0).reason == "unknown_author"
    assert verifier.verify("short", envelope.signed_bytes, "00", 0).reason == "bad_key_length"
    good = SignatureVerifier({"a": signer.public_key})
    assert good.verify("a", envelope.signed_bytes, "00" * 63, 0).reason == "truncated_signature"
    assert good.verify("a", envelope.signed_bytes, "zz", 0).reason == "bad_signature_encoding"


def test_signers_are_reproducible_from_the_seed() -> None:
    assert Signer.from_seed("a", 1).public_key == Signer.from_seed("a", 1).public_key
    assert Signer.from_seed("a", 1).public_key != Signer.from_seed("a", 2).public_key
