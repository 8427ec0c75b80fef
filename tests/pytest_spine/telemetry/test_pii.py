from __future__ import annotations

import pytest
from telemetry_builders import event_value

from pytest_spine.telemetry.events import Event
from pytest_spine.telemetry.lint import lint_pii
from pytest_spine.telemetry.pii import DEFAULT_CANARIES, DEFAULT_DETECTORS, DetectorError, PiiDetector, mask

DEFAULT_DETECTORS_EMAIL = DEFAULT_DETECTORS[0][1]


def as_event(**payload: object) -> Event:
    value = event_value("security.sig_fail", "security", payload=payload)
    return Event(value["name"], value["category"], value["version"], "history#3",
                 fields={k: v for k, v in value.items() if k not in ("name", "category", "version", "payload")},
                 payload=value["payload"])


def test_the_default_detector_catches_every_canary() -> None:
    PiiDetector().self_test()
    detector = PiiDetector()
    for kind, sample in DEFAULT_CANARIES:
        assert kind in {f.detector for f in detector.scan(f"x {sample} y")}, kind


def test_a_detector_that_misses_its_canary_refuses_to_run() -> None:
    broken = PiiDetector(detectors=[("email", r"never-matches-\d{99}", "none")],
                         canaries=[("email", "someone@example.org")])
    with pytest.raises(DetectorError, match="does not catch its canary"):
        broken.self_test()
    with pytest.raises(DetectorError, match="not configured"):
        PiiDetector(detectors=[("email", "x", "none")], canaries=[("jwt", "eyJabc")])


def test_mutant_planted_token_is_found_and_never_quoted() -> None:
    token = "sk_live_0123456789abcdefghij"
    found = lint_pii([as_event(headers={"x-auth": f"Bearer {token}"}, note=token)], PiiDetector())
    # One finding per match: the bearer header (which holds the token) and the bare token in the note.
    assert sorted((f.code, f.where, f.message.split(" at ")[1].split(" ")[0]) for f in found) == [
        ("api_token", "history#3", "payload/note"), ("bearer_token", "history#3", "payload/headers/x-auth")]
    assert all(token not in f.message for f in found)


def test_raw_email_and_card_are_found_but_ids_and_digests_are_not() -> None:
    detector = PiiDetector()
    assert [f.detector for f in detector.scan({"user": "ann.lee@corp.example.com"})] == ["email"]
    assert [f.detector for f in detector.scan("card 4111-1111-1111-1111")] == ["card_number"]
    clean = {"event_id": "0190f1c2-7b1e-7a3d-9c4e-123456789abc", "sha256": "ab" * 32, "offset": "1234567890123456",
             "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "ts": "2026-01-01T00:00:00.000000Z"}
    assert detector.scan(clean) == []


def test_allow_keys_skip_hashed_fields_and_planted_canaries_are_flagged_verbatim() -> None:
    detector = PiiDetector.from_config({"allow_keys": ["email_hash"],
                                        "canaries": [{"detector": "email", "sample": "canary@spine.test"}]})
    assert detector.scan({"email_hash": "ann@example.org"}) == []
    assert [f.detector for f in detector.scan({"note": "canary@spine.test"})] == ["email"]
    assert mask("sk_live_abcdefghijklmnop") == "sk************op"


def test_detectors_that_cannot_be_combined_still_scan_one_by_one() -> None:
    repeated = PiiDetector(detectors=[("doubled", r"(\w{3})-\1", "none"), ("email", DEFAULT_DETECTORS_EMAIL, "none")],
                           canaries=[("doubled", "abc-abc"), ("email", "someone@example.org")])
    repeated.self_test()
    assert [f.detector for f in repeated.scan("xyz-xyz and ann@example.org")] == ["doubled", "email"]


def test_a_luhn_failing_digit_run_still_reveals_other_detectors() -> None:
    assert [f.detector for f in PiiDetector().scan("ssn 078-05-1120 1234")] == ["us_ssn"]  # 13 digits, not Luhn
