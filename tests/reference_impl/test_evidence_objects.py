"""Evidence objects: whole write-once documents in the evidence bucket; a failed put is reported and keeps
the run's evidence status FAIL until the document is written; the mutant evidence_put_unchecked hides it."""

from __future__ import annotations

import json

import pytest

from reference_impl.evidence_objects import EvidenceObjects, EvidenceWriteFailed
from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig


def writer(*mutants: str) -> EvidenceObjects:
    platform = SpinePlatform.in_memory(PlatformConfig("run-ev", mutations=frozenset(mutants), api_key="k" * 12),
                                       evidence=DictEvidence())
    platform.run_until("P0")  # the buckets exist
    return EvidenceObjects(platform.rt)


def test_a_document_is_one_whole_object_under_the_runs_evidence_root() -> None:
    w = writer()
    key = w.put("chaos/a.json", {"n": 1, "text": "é"})
    assert key == "evidence/runs/run-ev/chaos/a.json"
    assert json.loads(w.rt.store.get(w.bucket, key)) == {"n": 1, "text": "é"}
    assert w.status() == {"status": "PASS", "written": 1, "failed": [], "bucket": w.bucket,
                          "root": "evidence/runs/run-ev/"}


def test_a_failed_put_is_reported_and_the_status_fails_closed_until_it_is_written() -> None:
    w = writer()
    w.rt.faults.arm("store.put.before", ConnectionError("store unreachable"), times=1)
    with pytest.raises(EvidenceWriteFailed, match=r"s3://.*/evidence/runs/run-ev/chaos/b.json was not written: "
                                                  r"ConnectionError: store unreachable"):
        w.put("chaos/b.json", {"n": 2})
    assert w.status()["status"] == "FAIL"
    assert w.status()["failed"] == ["evidence/runs/run-ev/chaos/b.json"]
    w.put("chaos/b.json", {"n": 2})  # written again once the store answers
    assert w.status()["status"] == "PASS"


def test_rewriting_a_landed_document_is_accepted_and_another_body_is_refused() -> None:
    w = writer()
    w.put("chaos/c.json", {"n": 3})
    assert w.put("chaos/c.json", {"n": 3}) == "evidence/runs/run-ev/chaos/c.json"  # a lost answer, then a retry
    with pytest.raises(EvidenceWriteFailed, match="already holds another document"):
        w.put("chaos/c.json", {"n": 4})
    assert json.loads(w.rt.store.get(w.bucket, "evidence/runs/run-ev/chaos/c.json")) == {"n": 3}


def test_the_mutant_reports_a_failed_put_as_written() -> None:
    w = writer("evidence_put_unchecked")
    w.rt.faults.arm("store.put.before", ConnectionError("store unreachable"), times=1)
    w.put("chaos/d.json", {"n": 5})  # no error: the failure is swallowed
    assert w.status()["status"] == "PASS"
    assert w.rt.store.list(w.bucket, "evidence/runs/run-ev/chaos/") == []  # and the document is not there
