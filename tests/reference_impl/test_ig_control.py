"""The security layer sits in front of the ingestion gate's control messages: nothing unsigned, replayed or
tampered gets through, and a rejection changes no state."""

from __future__ import annotations

from reference_impl.platform import SpinePlatform
from reference_impl.runtime import PlatformConfig

RUN = "platform_control_test"


def _platform() -> SpinePlatform:
    platform = SpinePlatform.in_memory(PlatformConfig(platform_run_id=RUN, seed=5))
    for phase in ("P(-1)", "P0", "P1", "P2"):
        assert platform.run_phase(phase).completed, phase
    return platform


def test_signed_control_message_is_accepted_once() -> None:
    platform = _platform()
    ig = platform.ig
    assert ig is not None
    now_ms = int(platform.rt.clock.now() * 1000)
    message = platform.control_signer("node-a").message(1, now_ms, payload={"action": "announce"})
    first = ig.control(platform.auth_headers(), message, "node-a")
    assert (first.status_code, first.outcome) == (202, "CONTROL_ACCEPTED")
    replay = ig.control(platform.auth_headers(), message, "node-a")
    assert (replay.status_code, replay.outcome) == (409, "CONTROL_REJECTED")
    assert len(ig.control_log) == 1


def test_unsigned_tampered_and_keyless_messages_change_nothing() -> None:
    platform = _platform()
    ig = platform.ig
    assert ig is not None
    now_ms = int(platform.rt.clock.now() * 1000)
    signed = platform.control_signer("node-a").message(2, now_ms, payload={"action": "announce"})
    tampered = signed.replace(b"announce", b"evictall")
    unsigned = b'{"author":"node-a","kind":"membership.announce","nonce":3,"payload":{},"ts_ms":%d,"v":1}' % now_ms
    stranger = platform.control_signer("mallory").message(4, now_ms)
    assert ig.control(platform.auth_headers(), tampered, "node-a").status_code == 401
    assert ig.control(platform.auth_headers(), unsigned, "node-a").status_code == 401
    assert ig.control(platform.auth_headers(), stranger, "node-a").status_code == 401
    assert ig.control({}, signed, "node-a").status_code == 401
    assert ig.control({platform.rt.handles.ig_auth_header_name: "wrong"}, signed, "node-a").status_code == 403
    assert ig.control(platform.auth_headers(), b"x" * (64 * 1024 + 1), "node-a").status_code == 413
    assert ig.control_log == []


def test_without_a_security_layer_control_messages_fail_closed() -> None:
    platform = _platform()
    ig = platform.ig
    assert ig is not None
    ig.security = None
    response = ig.control(platform.auth_headers(), b"{}", "node-a")
    assert response.status_code == 503
    assert "fail closed" in (response.error or "")
