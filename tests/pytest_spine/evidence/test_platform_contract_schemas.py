"""The platform contract's object shapes (schemas/platform/): what the harness sends validates, and the shapes a
platform writes accept the documented examples and refuse the realistic mistakes."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_spine.drive.envelope import envelope, payload_hash
from pytest_spine.evidence.schemas import load_schema, problems

RECEIPT = {"receipt_seq": 1, "platform_run_id": "run", "event_class": "traffic_fraud", "event_id": "e1",
           "outcome": "ADMIT", "payload_hash": "0" * 64, "at_utc": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(("name", "document", "ok"), [
    ("ingest_envelope", envelope("run", "traffic_fraud", "e1", {"flow_id": "f"}, "2026-01-01T00:00:00Z"), True),
    ("ingest_envelope", {"platform_run_id": "run", "event_class": "traffic_fraud", "event_id": "e1"}, False),
    ("ingest_response", {"outcome": "ADMIT", "receipt_seq": 3, "partition": 0, "offset": 12}, True),
    ("ingest_response", {"error": "missing X-IG-Api-Key header"}, True),
    ("ingest_response", {"outcome": "ACCEPTED", "receipt_seq": 3}, False),
    ("kafka_record", {"platform_run_id": "run", "event_class": "c", "event_id": "e", "payload": {}}, True),
    ("kafka_record", {"platform_run_id": "run", "event_id": "e", "payload": {}}, False),
    ("lane_output_record", {"platform_run_id": "run", "event_id": "e",
                            "source": {"topic": "t", "partition": 0, "offset": 4}}, True),
    ("lane_output_record", {"platform_run_id": "run", "event_id": "e"}, False),
    ("receipt_object", RECEIPT, True),
    ("receipt_object", {**RECEIPT, "outcome": "QUARANTINE"}, False),  # a quarantine receipt names its payload
    ("receipt_object", {**RECEIPT, "outcome": "ANOMALY", "payload_key": "quarantine/run/x.json"}, True),
    ("quarantine_object", {"reason": "payload_mismatch", "envelope": {"event_id": "e"},
                           "quarantined_at_utc": "2026-01-01T00:00:00Z"}, True),
    ("quarantine_object", {"reason": "payload_mismatch", "envelope": {}, "quarantined_at_utc": "x"}, False),
])
def test_contract_shapes(name: str, document: dict[str, Any], ok: bool) -> None:
    found = problems(document, load_schema(f"platform/{name}"))
    assert (not found) is ok, found


def test_the_payload_hash_is_the_canonical_json_digest() -> None:
    import hashlib

    assert payload_hash({"b": 1, "a": "é"}) == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
