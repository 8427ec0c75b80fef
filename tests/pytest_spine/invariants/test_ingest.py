from __future__ import annotations

from typing import Any

from pytest_spine.history import History
from pytest_spine.invariants.registry import CheckContext
from pytest_spine.verdicts import Status


def test_dedupe_identity_passes_on_admit_then_duplicate(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")
    ingest(h, "e1", "DUPLICATE")
    ingest(h, "e1", "ADMIT", run="r2")  # another run is another tuple
    ingest(h, "e1", "ADMIT", cls="other")
    verdict = check("INV-DEDUPE-IDENTITY", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["admits"] == 3
    assert verdict.figures["duplicates"] == 1


def test_dedupe_identity_fails_on_double_admit_with_the_two_operations(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")
    ingest(h, "e1", "ADMIT")
    verdict = check("INV-DEDUPE-IDENTITY", h)
    assert verdict.status is Status.FAIL
    assert "admitted twice" in verdict.reason
    assert [op["value"]["outcome"] for op in verdict.counterexample] == ["ADMIT", "ADMIT"]
    assert len(verdict.counterexample) == 2


def test_dedupe_identity_fails_when_run_id_is_ignored(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", run="r1")
    ingest(h, "e1", "DUPLICATE", run="r2")
    verdict = check("INV-DEDUPE-IDENTITY", h)
    assert verdict.status is Status.FAIL
    assert "coarser" in verdict.reason
    assert verdict.counterexample[-1]["value"]["platform_run_id"] == "r2"


def test_dedupe_identity_treats_unknown_outcome_as_possibly_applied(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", None)  # timed out after the request left
    ingest(h, "e1", "DUPLICATE")
    assert check("INV-DEDUPE-IDENTITY", h).status is Status.PASS


def test_payload_anomaly_passes_when_changed_payload_is_anomaly(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", payload="a")
    ingest(h, "e1", "ANOMALY", payload="b")
    ingest(h, "e1", "DUPLICATE", payload="a")
    verdict = check("INV-PAYLOAD-ANOMALY", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["anomalies"] == 1


def test_payload_anomaly_fails_on_overwrite(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", payload="a")
    ingest(h, "e1", "DUPLICATE", payload="b")
    verdict = check("INV-PAYLOAD-ANOMALY", h)
    assert verdict.status is Status.FAIL
    assert "'b'" in verdict.reason and "'a'" in verdict.reason


def test_payload_anomaly_fails_on_false_anomaly(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", payload="a")
    ingest(h, "e1", "ANOMALY", payload="a")
    assert check("INV-PAYLOAD-ANOMALY", h).status is Status.FAIL


def test_receipts_reconcile_passes_and_counts(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")
    ingest(h, "e1", "DUPLICATE")
    ingest(h, "e2", "QUARANTINE", publish=False)
    verdict = check("INV-RECEIPTS-RECONCILE", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["receipts_admit"] == 1
    assert verdict.figures["receipts_total"] == 3
    assert verdict.figures["attempts_answered"] == 3


def test_receipts_reconcile_fails_on_a_missing_receipt(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")
    h.append("client-1", "invoke", "ingest", platform_run_id="r1", event_class="tx", event_id="e2")
    h.append("client-1", "ok", "ingest", platform_run_id="r1", event_class="tx", event_id="e2",
             outcome="DUPLICATE")
    verdict = check("INV-RECEIPTS-RECONCILE", h)
    assert verdict.status is Status.FAIL
    assert "0 DUPLICATE receipts for 1 attempts" in verdict.reason


def test_receipts_reconcile_fails_when_summary_disagrees(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")

    class Bundle:
        def get(self, relpath: str) -> dict[str, object] | None:
            return {"counts": {"ADMIT": 2}} if relpath == "ingest/receipt_summary.json" else None

        def list(self) -> list[str]:
            return []

    verdict = check("INV-RECEIPTS-RECONCILE", h, CheckContext(evidence=Bundle()))
    assert verdict.status is Status.FAIL
    assert "receipt_summary.json says ADMIT=2" in verdict.reason


def test_no_publish_ambiguity_passes_when_recorded(h: History, check: Any, ingest: Any) -> None:
    key = {"platform_run_id": "r1", "event_class": "tx", "event_id": "e1"}
    h.append("client-1", "invoke", "ingest", payload_hash="p", **key)
    h.append("ig", "invoke", "publish", topic="events", **key)
    h.append("ig", "info", "publish", error="timeout")
    h.append("client-1", "ok", "ingest", outcome="PUBLISH_AMBIGUOUS", **key)
    verdict = check("INV-NO-PUBLISH-AMBIGUITY", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["publish_ambiguous"] == 1


def test_no_publish_ambiguity_fails_when_hidden_as_admit(h: History, check: Any, ingest: Any) -> None:
    key = {"platform_run_id": "r1", "event_class": "tx", "event_id": "e1"}
    h.append("client-1", "invoke", "ingest", payload_hash="p", **key)
    h.append("ig", "invoke", "publish", topic="events", **key)
    h.append("ig", "info", "publish", error="timeout")
    h.append("client-1", "ok", "ingest", outcome="ADMIT", **key)
    verdict = check("INV-NO-PUBLISH-AMBIGUITY", h)
    assert verdict.status is Status.FAIL
    assert "PUBLISH_AMBIGUOUS" in verdict.reason
    assert [op["type"] for op in verdict.counterexample] == ["info", "ok"]


def test_no_publish_ambiguity_fails_on_admit_without_publish(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", publish=False)
    assert check("INV-NO-PUBLISH-AMBIGUITY", h).status is Status.FAIL


def test_ig_only_publisher(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT")
    assert check("INV-IG-ONLY-PUBLISHER", h).status is Status.PASS
    h.append("decision_lane", "invoke", "publish", topic="events")
    h.append("decision_lane", "ok", "publish", topic="events", partition=0, offset=9)
    verdict = check("INV-IG-ONLY-PUBLISHER", h)
    assert verdict.status is Status.FAIL
    assert "'decision_lane'" in verdict.reason


def test_run_scope_fails_open_mismatch_and_passes_refusal(h: History, check: Any, ingest: Any) -> None:
    h.append("rtdl", "fail", "scope_check", component="rtdl", required="r1", observed="r2")
    h.append("rtdl", "ok", "scope_check", component="rtdl", required="r1", observed="r1")
    verdict = check("INV-RUN-SCOPE", h)
    assert verdict.status is Status.PASS
    assert verdict.figures["scope_refusals"] == 1
    h.append("ig", "ok", "scope_check", component="ig", required="r1", observed="r2")
    assert check("INV-RUN-SCOPE", h).status is Status.FAIL


def test_run_scope_foreign_admit_only_when_enforced(h: History, check: Any, ingest: Any) -> None:
    ingest(h, "e1", "ADMIT", run="r2")
    assert check("INV-RUN-SCOPE", h, CheckContext(platform_run_id="r1")).status is Status.PASS
    enforced = CheckContext(platform_run_id="r1", options={"run_scope_enforced": True})
    verdict = check("INV-RUN-SCOPE", h, enforced)
    assert verdict.status is Status.FAIL
    assert "'r2'" in verdict.reason


def test_no_publish_ambiguity_treats_ok_without_offset_as_unacknowledged(h: History, check: Any) -> None:
    key = {"platform_run_id": "r1", "event_class": "tx", "event_id": "e1"}
    h.append("client-1", "invoke", "ingest", payload_hash="p", **key)
    h.append("ig", "invoke", "publish", topic="events", **key)
    h.append("ig", "ok", "publish", topic="events", partition=None, offset=None, **key)
    h.append("client-1", "ok", "ingest", outcome="ADMIT", **key)
    verdict = check("INV-NO-PUBLISH-AMBIGUITY", h)
    assert verdict.status is Status.FAIL
    assert "timed out with an unknown outcome" in verdict.reason
