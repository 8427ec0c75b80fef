"""Per-env fault variants of a scenario file: same id, workload and checks; the env's faults replace the
default ones there. CH-CONSUMER-CRASH-BEFORE-COMMIT dies in-process on reference and is a real SIGKILL of the
RTDL process on local_parity."""

from __future__ import annotations

import pytest

from pytest_spine.errors import ScenarioError
from pytest_spine.scenarios.loader import load_dir, load_text, packaged_dir
from pytest_spine.scenarios.plan import plan_json, render_plan

BASE = """\
id: CH-CONSUMER-CRASH-BEFORE-COMMIT
description: a consumer crash scenario for the variant tests
target:
  envs: [reference, local_parity]
workload:
  generator: consumer_crash
  params: {flows: 4}
faults:
  - name: crash
    kind: fault_point
    params: {point: rtdl.before_commit, error: crash, times: 1}
    schedule: {start: 0.5, stop: 1.0}
    rollback: disarm
variants:
  {env}:
    faults:
      - name: kill
        kind: process_kill
        params: {process: {process}, point: rtdl.before_state_write, at_hit: 2, times: 1}
        schedule: {start: 0.5, stop: 1.0}
        rollback: disarm_and_stop
invariants: [INV-COMMIT-AFTER-WRITE]
thresholds: ["consumer_crashes >= 1"]
"""
NAME = "CH-CONSUMER-CRASH-BEFORE-COMMIT.yaml"


def _text(env: str = "local_parity", process: str = "rtdl") -> str:
    return BASE.replace("{env}", env).replace("{process}", process)


def test_the_packaged_consumer_crash_runs_in_process_on_reference_and_kills_a_process_on_local_parity() -> None:
    scenario = {s.id: s for s in load_dir(packaged_dir()).scenarios}["CH-CONSUMER-CRASH-BEFORE-COMMIT"]
    reference, local = scenario.for_env("reference"), scenario.for_env("local_parity")
    assert reference.id == local.id == "CH-CONSUMER-CRASH-BEFORE-COMMIT"
    assert [(f.kind, f.params["point"]) for f in reference.faults] == [("fault_point", "rtdl.before_commit")]
    assert [(f.kind, dict(f.params)) for f in local.faults] == [
        ("process_kill", {"process": "rtdl", "point": "rtdl.before_state_write", "match": {"kind": "decision_input"},
                          "at_hit": 2, "times": 2})]
    assert [f.rollback for f in local.faults] == ["disarm_and_stop"]
    assert (local.workload, local.invariants, local.thresholds) == (
        reference.workload, reference.invariants, reference.thresholds)
    assert local.variants == {} and scenario.for_env("dev_min") is scenario


def test_a_variant_replaces_the_faults_on_its_env_only() -> None:
    scenario = load_text(_text(), NAME)
    assert [f.name for f in scenario.faults] == ["crash"]
    assert [f.name for f in scenario.for_env("local_parity").faults] == ["kill"]
    assert [f.name for f in scenario.for_env("reference").faults] == ["crash"]


def test_a_variant_for_an_env_the_scenario_is_not_declared_for_is_rejected() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(_text(env="dev_min"), NAME)
    assert caught.value.place.endswith("(variants.dev_min)")
    assert "declared for reference, local_parity only" in caught.value.reason


def test_a_bad_variant_fault_names_its_place_under_the_variant() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(_text(process="gate"), NAME)
    assert caught.value.place.endswith("(variants.local_parity.faults[0].params.process)")
    assert "must name a consumer process (rtdl, decision_lane), given: 'gate'" in caught.value.reason


def test_an_unknown_env_key_is_a_schema_error() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(_text(env="staging"), NAME)
    assert "staging" in caught.value.reason


def test_the_plan_shows_the_variants() -> None:
    scenario = load_text(_text(), NAME)
    plan = plan_json(scenario, 3)
    assert [f["kind"] for f in plan["variants"]["local_parity"]] == ["process_kill"]
    assert "on local_parity: fault kill: SIGKILL the rtdl process when it reaches rtdl.before_state_write for " \
           "the 2nd time; 1 process(es) in a row" in render_plan(scenario, 3)
    assert "variants" not in plan_json(scenario.for_env("local_parity"), 3)
