from __future__ import annotations

from reference_impl.platform import SpinePlatform
from reference_impl.runtime import DictEvidence, PlatformConfig


def platform(*mutations: str) -> tuple[SpinePlatform, DictEvidence]:
    evidence = DictEvidence()
    p = SpinePlatform.in_memory(PlatformConfig("run-1", seed=3, traffic_events=30, mutations=frozenset(mutations),
                                               api_key="k" * 12), evidence=evidence)
    return p, evidence


def test_daemons_run_one_replica_each_until_teardown_stops_them_all() -> None:
    p, evidence = platform()
    p.run_until("P2")
    ready = evidence.documents["operate/daemons_ready.json"]
    assert [pack["pack_id"] for pack in ready["packs"]] == ["control_ingress", "rtdl_core", "rtdl_decision_lane",
                                                            "case_labels", "obs_gov"]
    assert all(s["running_count"] == s["desired_count"] == 1 and s["required_platform_run_id"] == "run-1"
               for pack in ready["packs"] for s in pack["services"])
    assert ready["consumer_groups"] == {"fp-rtdl-core-v0": 1, "fp-decision-lane-v0": 1, "fp-case-labels-v0": 1}
    assert p.drill("consumer_instances") == ready["consumer_groups"]
    p.run_until("P12")
    proof = evidence.documents["teardown/teardown_proof.json"]
    assert proof["destroy_status"] == "COMPLETED" and proof["running_daemons"] == []
    assert all(proof["confirmed_absent"].values()) and proof["evidence_preserved"] is True
    assert p.drill("running_daemons") == {"running": []}
    assert p.secrets == {}  # the demo key left the secret store
    assert p.sr is not None and not p.store.exists(p.sr.lease_bucket, p.sr.lease_key())


def test_daemon_left_running_mutant_fails_teardown() -> None:
    p, evidence = platform("daemon_left_running")
    report = p.run_until("P12")[-1]
    assert (report.phase_id, report.completed) == ("P12", False)
    assert evidence.documents["teardown/teardown_proof.json"]["running_daemons"] == ["rtdl_core"]


def test_duplicate_consumer_mutant_shows_two_consumers_in_a_group() -> None:
    p, evidence = platform("duplicate_consumer")
    p.run_until("P2")
    assert evidence.documents["operate/daemons_ready.json"]["consumer_groups"]["fp-rtdl-core-v0"] == 2
