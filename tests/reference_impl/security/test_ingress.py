from __future__ import annotations

from reference_impl.security import IngressAuth


def test_no_key_is_401_wrong_key_403_right_key_200() -> None:
    auth = IngressAuth(["k-123456"])
    assert auth.authenticate({})[0] == 401
    assert auth.authenticate({"X-IG-Api-Key": ""})[0] == 401
    assert auth.authenticate({"X-IG-Api-Key": "nope"})[0] == 403
    assert auth.authenticate({"x-ig-api-key": "k-123456"}) == (200, "ok")


def test_the_open_mutant_admits_everyone_and_the_leak_mutant_dumps_keys() -> None:
    assert IngressAuth(["k"], open_boundary=True).authenticate({})[0] == 200
    assert "k-123456" not in str(IngressAuth(["k-123456"]).describe())
    assert "k-123456" in str(IngressAuth(["k-123456"], leak_keys=True).describe())
