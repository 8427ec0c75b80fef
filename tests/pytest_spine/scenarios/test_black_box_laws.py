"""The pieces of black-box chaos that need no services: the observed laws over synthetic sends and observations,
the ``black_box`` variant of a scenario file, the registry's chaos budgets, capability needs of parameters, and
why each scenario is (not) applicable on a black box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spine.errors import ScenarioError
from pytest_spine.handles import load_registry
from pytest_spine.history import History
from pytest_spine.invariants.observed import ENVELOPE_CAP_BYTES, Sight, judge
from pytest_spine.observe.substrate import Observations, TopicView
from pytest_spine.scenarios.black_box_driver import DEFAULT_BUDGETS, budgets_for, not_applicable
from pytest_spine.scenarios.loader import load_dir, load_text, packaged_dir
from pytest_spine.scenarios.plan import plan_json
from pytest_spine.scenarios.reference_driver import ReferenceDriver
from pytest_spine.scenarios.runner import lacks_reason, run_scenario
from pytest_spine.scenarios.workloads import workloads
from pytest_spine.targets.platform_spec import ChaosBudgets, PlatformSpec
from pytest_spine.verdicts import Status

RUN = "platform_20261202T000000Z_0000aaaa-CH-REPLAY-FLOOD-seed=3"
TOPIC = "t.traffic"
CLASSES = {"traffic_fraud": TOPIC}


def _send(history: History, event_id: str, answer: dict[str, Any], *, run: str = RUN, key: str = "own",
          process: str = "client-1", payload_hash: str = "h1", size: int = 200, drill: str | None = None,
          kind: str = "ok") -> None:
    value: dict[str, Any] = {"platform_run_id": run, "event_class": "traffic_fraud", "event_id": event_id,
                             "payload_hash": payload_hash, "key": key, "bytes": size}
    if drill:
        value["drill"] = drill
    history.record(process, "invoke", "ingest", **value)
    history.record(process, kind, "ingest", **value, **answer)


def _sight(records: dict[str, list[tuple[int, int]]], hashes: dict[str, str] | None = None,
           receipts: list[dict[str, Any]] | None = None, foreign: dict[str, int] | None = None) -> Sight:
    obs = Observations(RUN)
    view = obs.topics.setdefault(TOPIC, TopicView(TOPIC))
    for event_id, offsets in records.items():
        ident = (RUN, "traffic_fraud", event_id)
        view.tuples[ident] = len(offsets)
        view.tuple_offsets[ident] = list(offsets)
        view.tuple_hashes[ident] = (hashes or {}).get(event_id, "h1")
        for partition, offset in offsets:
            view.run_offsets.setdefault(partition, []).append(offset)
    obs.receipts = list(receipts or [])
    others = {}
    for run, count in (foreign or {}).items():
        seen = Observations(run)
        other = seen.topics.setdefault(TOPIC, TopicView(TOPIC))
        other.run_offsets[0] = list(range(count))
        others[run] = seen
    return Sight(RUN, obs, None, CLASSES, others)


def _one(check_id: str, history: History, sight: Sight) -> Any:
    return judge([check_id], history.operations(), sight)[0]


def test_without_an_observation_every_law_is_unknown_and_others_not_applicable() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    ids = ["INV-DEDUPE-IDENTITY", "INV-RUN-SCOPE", "SEC-PAYLOAD-CAP", "INV-APPEND-ONLY", "INV-EXPLICIT-DEGRADE"]
    verdicts = judge(ids, history.operations(), Sight(RUN, None, "the broker did not answer", CLASSES))
    assert [v.status for v in verdicts] == [Status.UNKNOWN] * 3 + [Status.NOT_APPLICABLE] * 2
    assert all(v.basis == "observed" for v in verdicts)
    assert "the broker did not answer" in verdicts[0].reason
    assert "degrade" in verdicts[4].reason  # names what it would need


def test_dedupe_finds_a_duplicate_and_a_lost_write() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    _send(history, "e2", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 2, "partition": 0, "offset": 1})
    clean = _one("INV-DEDUPE-IDENTITY", history, _sight({"e1": [(0, 0)], "e2": [(0, 1)]}))
    assert clean.status is Status.PASS, clean.reason
    broken = _one("INV-DEDUPE-IDENTITY", history, _sight({"e1": [(0, 0), (1, 0)]}))
    assert broken.status is Status.FAIL
    assert broken.figures["anomalies"] == {"duplicate": 1, "lost write": 1}
    assert broken.counterexample


def test_a_duplicate_answer_without_an_earlier_send_is_a_phantom() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "DUPLICATE", "receipt_seq": 1})
    verdict = _one("INV-DEDUPE-IDENTITY", history, _sight({}))
    assert verdict.status is Status.FAIL and "phantom duplicate" in verdict.figures["anomalies"]


def test_a_changed_payload_must_be_an_anomaly_and_the_topic_keeps_the_original() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    _send(history, "e1", {"status_code": 200, "outcome": "ANOMALY", "receipt_seq": 2}, payload_hash="h2")
    assert _one("INV-PAYLOAD-ANOMALY", history, _sight({"e1": [(0, 0)]})).status is Status.PASS
    masked = History()
    _send(masked, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    _send(masked, "e1", {"status_code": 200, "outcome": "DUPLICATE", "receipt_seq": 2}, payload_hash="h2")
    verdict = _one("INV-PAYLOAD-ANOMALY", masked, _sight({"e1": [(0, 0)]}, hashes={"e1": "h2"}))
    assert verdict.status is Status.FAIL
    assert verdict.figures["anomalies"] == {"masked anomaly": 1, "overwrite": 1}


def test_receipts_reconcile_with_the_answers_by_outcome() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    _send(history, "e1", {"status_code": 200, "outcome": "DUPLICATE", "receipt_seq": 2})
    receipts = [{"receipt_seq": 1, "outcome": "ADMIT", "event_id": "e1"},
                {"receipt_seq": 2, "outcome": "DUPLICATE", "event_id": "e1"}]
    assert _one("INV-RECEIPTS-RECONCILE", history, _sight({"e1": [(0, 0)]}, receipts=receipts)).status \
        is Status.PASS
    verdict = _one("INV-RECEIPTS-RECONCILE", history, _sight({"e1": [(0, 0)]}, receipts=receipts[:1]))
    assert verdict.status is Status.FAIL and verdict.figures["anomalies"] == {"lost write": 1}


def test_run_scope_needs_wrong_run_traffic_and_fails_on_a_leak() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    assert _one("INV-RUN-SCOPE", history, _sight({"e1": [(0, 0)]})).status is Status.UNKNOWN  # not exercised
    other = f"{RUN}-foreign"
    _send(history, "w1", {"status_code": 409, "error": "not this gate's run"}, run=other, kind="fail")
    assert _one("INV-RUN-SCOPE", history, _sight({"e1": [(0, 0)]}, foreign={other: 0})).status is Status.PASS
    verdict = _one("INV-RUN-SCOPE", history, _sight({"e1": [(0, 0)]}, foreign={other: 1}))
    assert verdict.status is Status.FAIL and verdict.figures["anomalies"] == {"foreign write": 1}


def test_only_admitted_sends_with_the_key_may_be_on_the_bus() -> None:
    history = History()
    _send(history, "e1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0})
    _send(history, "k1", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 2, "partition": 0, "offset": 1},
          key="none", process="client-none-key")
    verdict = _one("INV-IG-ONLY-PUBLISHER", history, _sight({"e1": [(0, 0)], "k1": [(0, 1)], "ghost": [(0, 2)]}))
    assert verdict.status is Status.FAIL
    assert verdict.figures["anomalies"] == {"open writer boundary": 1, "unauthorized write": 2}


def test_an_ambiguous_send_is_published_at_most_once() -> None:
    history = History()
    _send(history, "e1", {"status_code": 202, "outcome": "PUBLISH_AMBIGUOUS", "receipt_seq": 1})
    assert _one("INV-NO-PUBLISH-AMBIGUITY", history, _sight({"e1": [(0, 0)]})).status is Status.PASS
    verdict = _one("INV-NO-PUBLISH-AMBIGUITY", history, _sight({"e1": [(0, 0), (0, 1)]}))
    assert verdict.status is Status.FAIL and verdict.figures["anomalies"] == {"duplicate": 1}


def test_the_size_cap_fails_on_an_admitted_oversize_envelope() -> None:
    history = History()
    _send(history, "o1", {"status_code": 413, "error": "too big"}, size=ENVELOPE_CAP_BYTES + 1, kind="fail",
          drill="fuzz:oversize")
    assert _one("SEC-PAYLOAD-CAP", history, _sight({})).status is Status.PASS
    _send(history, "o2", {"status_code": 200, "outcome": "ADMIT", "receipt_seq": 1, "partition": 0, "offset": 0},
          size=ENVELOPE_CAP_BYTES + 10, drill="fuzz:oversize")
    verdict = _one("SEC-PAYLOAD-CAP", history, _sight({"o2": [(0, 0)]}))
    assert verdict.status is Status.FAIL
    assert verdict.figures["anomalies"] == {"cap not enforced": 1, "malformed on the bus": 1}


# -- scenario files, needs, budgets -----------------------------------------------------------------------------
FLOOD = """\
id: CH-REPLAY-FLOOD
description: a replay flood for the black-box variant tests
target: {envs: [reference]}
workload: {generator: replay_flood, params: {events: 5, replays: 20}}
faults: []
variants:
  black_box:
    workload: {generator: GENERATOR, params: PARAMS}
    faults:
      - {name: race, kind: send_race, params: {copies: 3}, schedule: {start: 0.0, stop: 0.5}, rollback: stop_race}
invariants: [INV-DEDUPE-IDENTITY]
thresholds: ["THRESHOLD"]
"""


def _flood(generator: str = "replay_flood", params: str = "{events: 5, replays: 20, no_key_sends: 2}",
           threshold: str = "double_admits == 0") -> str:
    return FLOOD.replace("GENERATOR", generator).replace("PARAMS", params).replace("THRESHOLD", threshold)


def test_a_black_box_variant_replaces_workload_and_faults_there_only() -> None:
    scenario = load_text(_flood(), "CH-REPLAY-FLOOD.yaml")
    assert scenario.for_target("reference", black_box=False).faults == ()
    variant = scenario.for_target("local_parity", black_box=True)
    assert variant.faults[0].kind == "send_race" and variant.workload.params["no_key_sends"] == 2
    assert variant.for_target("local_parity", black_box=True) == variant  # idempotent
    assert plan_json(scenario, 3)["black_box"]["faults"][0]["name"] == "race"


@pytest.mark.parametrize(("generator", "params", "place"), [
    ("no_such_generator", "{}", "variants.black_box.workload.generator"),
    ("gate_oversize_fuzz", "{events: 5}", "variants.black_box.workload.params.events"),
    ("gate_oversize_fuzz", "{examples: 20}", "thresholds[0]"),  # it does not measure double_admits
])
def test_a_bad_black_box_variant_is_refused_with_its_place(generator: str, params: str, place: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        load_text(_flood(generator, params), "CH-REPLAY-FLOOD.yaml")
    assert place in str(refused.value)


def test_a_parameter_that_needs_a_capability_makes_the_workload_need_it() -> None:
    spec = workloads()["replay_flood"]
    assert spec.needs_for({}) == {"ingest"}
    assert spec.needs_for({"no_key_sends": 2}) == {"ingest", "gate_client"}
    scenario = load_text(_flood(), "CH-REPLAY-FLOOD.yaml").for_target("local_parity", black_box=True)
    driver = ReferenceDriver.standalone("t-needs", 3)
    assert lacks_reason(scenario, driver.name, driver.capabilities) == \
        "target 'reference' cannot run CH-REPLAY-FLOOD: it lacks concurrent_ingest, gate_client"
    assert run_scenario(scenario, 3, driver).verdict.status is Status.NOT_APPLICABLE


def _spec(budgets: ChaosBudgets) -> PlatformSpec:
    return PlatformSpec("p", CLASSES, None, (), chaos_budgets=budgets)


def test_a_registry_lowers_the_budgets_and_cannot_raise_them() -> None:
    assert budgets_for(_spec(ChaosBudgets())) == DEFAULT_BUDGETS
    lowered = budgets_for(_spec(ChaosBudgets(max_events=10, max_rate_per_s=1e9, max_duration_s=5.0)))
    assert lowered == ChaosBudgets(10, DEFAULT_BUDGETS.max_rate_per_s, 5.0)


def test_the_registry_schema_takes_chaos_budgets(tmp_path: Path) -> None:
    import yaml

    from pytest_spine.handles import HandleError
    from pytest_spine.targets.platform_spec import platform_spec

    document = _miniplat_like_registry()
    document["platform"]["chaos_budgets"] = {"max_events": 50, "max_rate_per_s": 5, "max_duration_s": 30}
    path = tmp_path / "handles.yaml"
    path.write_text(yaml.safe_dump(document))
    spec = platform_spec(load_registry(path))
    assert spec is not None and spec.chaos_budgets == ChaosBudgets(50, 5.0, 30.0)
    document["platform"]["chaos_budgets"] = {"max_requests": 5}
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(HandleError):
        load_registry(path)


def _miniplat_like_registry() -> dict[str, Any]:
    """The seed registry with a minimal platform section."""
    import yaml

    from pytest_spine.handles import default_registry_path

    document: dict[str, Any] = yaml.safe_load(default_registry_path().read_text())
    topic = next(iter(document["topics"]))
    group = next(iter(document["consumer_groups"]))
    document["platform"] = {"name": "p", "event_classes": {"traffic_fraud": topic},
                            "lanes": {group: {"inputs": [topic], "output": topic}}}
    return document


def test_which_scenarios_a_black_box_runs_and_why_not_the_others() -> None:
    scenarios = {s.id: s for s in load_dir(packaged_dir()).scenarios}
    read_only = not_applicable(scenarios["CH-REPLAY-FLOOD"], "local_parity", allow_destructive=False)
    assert read_only is not None and "--spine-allow-destructive" in read_only
    runs = {sid for sid, s in scenarios.items() if not_applicable(s, "local_parity", allow_destructive=True) is None}
    assert runs == {"CH-REPLAY-FLOOD", "CH-OVERSIZE-FUZZ"}
    reasons = {sid: not_applicable(s, "local_parity", allow_destructive=True) or "" for sid, s in scenarios.items()}
    assert "token bucket" in reasons["CH-RATE-BURST"]
    assert "signatures" in reasons["CH-SIG-TAMPER-FLOOD"]
    assert reasons["CH-LATE-CONTEXT"].startswith("target 'black_box' cannot run CH-LATE-CONTEXT: it lacks consume")
    assert "lacks control_plane" in reasons["CH-DUPLICATE-COMMAND-REPLAY"]


def test_the_session_path_keeps_a_black_box_variant_applicable() -> None:
    """``execute`` applies the variant before ``applicable`` looks: CH-OVERSIZE-FUZZ is declared for reference only,
    and must still run on a black box of local_parity or dev_min."""
    from types import SimpleNamespace

    from pytest_spine.scenarios.execute import applicable

    scenarios = {s.id: s for s in load_dir(packaged_dir()).scenarios}
    for env in ("local_parity", "dev_min"):
        spine = SimpleNamespace(settings=SimpleNamespace(env=env, allow_destructive=True),
                                target=SimpleNamespace(describe=lambda: {"black_box": True}))
        for scenario_id in ("CH-OVERSIZE-FUZZ", "CH-REPLAY-FLOOD"):
            applied = scenarios[scenario_id].for_target(env, black_box=True)
            assert applicable(spine, applied) is None, (env, scenario_id)
        rate = scenarios["CH-RATE-BURST"].for_target(env, black_box=True)
        assert "token bucket" in (applicable(spine, rate) or "")
