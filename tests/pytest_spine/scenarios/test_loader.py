from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spine.errors import ScenarioError
from pytest_spine.scenarios.loader import CATALOGUE, load_dir, load_file, load_text, packaged_dir

GOOD = """\
id: CH-PUBLISH-AMBIGUITY
description: a small but valid scenario for the loader tests
workload:
  generator: publish_ambiguity
  params: {events: 10}
faults:
  - name: ack-lost
    kind: fault_point
    params: {point: bus.produce.after_append, error: publish_timeout, times: 2}
    schedule: {start: 0.2, stop: 0.6}
    rollback: disarm
invariants: [INV-NO-PUBLISH-AMBIGUITY]
thresholds: ["publish_ambiguous >= 1"]
gates: {P7-no_publish_ambiguity: FAIL}
"""


def _error(text: str, name: str = "CH-PUBLISH-AMBIGUITY.yaml") -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_text(text, name)
    return caught.value


def test_the_packaged_scenarios_are_valid() -> None:
    report = load_dir(packaged_dir())
    assert report.errors == ()
    ids = {s.id for s in report.scenarios}
    assert {"CH-REPLAY-FLOOD", "CH-PUBLISH-AMBIGUITY", "CH-CONSUMER-CRASH-BEFORE-COMMIT", "CH-LATE-CONTEXT",
            "CH-CONCURRENT-REPORTERS"} <= ids
    assert ids <= set(CATALOGUE)
    flood = next(s for s in report.scenarios if s.id == "CH-REPLAY-FLOOD")
    assert flood.workload.params["replays"] >= 100_000
    assert str(flood.thresholds[0]) == "replay_rejection_ratio >= 0.999"


def test_a_good_file_becomes_frozen_records() -> None:
    scenario = load_text(GOOD, "CH-PUBLISH-AMBIGUITY.yaml")
    assert scenario.faults[0].schedule.start == 0.2
    assert scenario.faults[0].schedule.stop == 0.6
    assert scenario.gates == {"P7-no_publish_ambiguity": "FAIL"}
    assert scenario.instance_id(3) == "CH-PUBLISH-AMBIGUITY-seed=3"
    with pytest.raises(AttributeError):
        scenario.id = "CH-X"  # type: ignore[misc]


def test_yaml_syntax_error_names_line_and_column() -> None:
    error = _error("id: CH-PUBLISH-AMBIGUITY\nworkload: [unclosed\n")
    assert error.path == "CH-PUBLISH-AMBIGUITY.yaml"
    assert error.place.startswith("line 3 column 1") or error.place.startswith("line 2")
    assert "not valid YAML" in error.reason


def test_schema_violation_names_the_field_and_line() -> None:
    error = _error(GOOD.replace("start: 0.2", "start: 1.5"))
    assert error.place == "line 10 (faults[0].schedule.start)"
    assert "1.5 is greater than the maximum of 1" in error.reason


def test_missing_required_field() -> None:
    error = _error(GOOD.replace("invariants: [INV-NO-PUBLISH-AMBIGUITY]\n", ""))
    assert "'invariants' is a required property" in error.reason


def test_unknown_invariant() -> None:
    error = _error(GOOD.replace("[INV-NO-PUBLISH-AMBIGUITY]", "[INV-NO-SUCH-LAW]"))
    assert error.place == "line 12 (invariants[0])"
    assert "no checker is registered for 'INV-NO-SUCH-LAW'" in error.reason


def test_unknown_fault_kind_and_bad_params() -> None:
    assert "unknown fault kind 'meteor'" in _error(GOOD.replace("kind: fault_point", "kind: meteor")).reason
    error = _error(GOOD.replace("error: publish_timeout", "error: gremlins"))
    assert error.place == "line 9 (faults[0].params.error)"
    assert "unknown error 'gremlins'" in error.reason
    assert "rolls back with disarm" in _error(GOOD.replace("rollback: disarm", "rollback: hope")).reason


def test_impossible_schedules() -> None:
    backwards = _error(GOOD.replace("stop: 0.6", "stop: 0.1"))
    assert "impossible schedule" in backwards.reason
    assert backwards.place.endswith("(faults[0].schedule)")
    twin = GOOD.replace("invariants:", """  - name: ack-lost-again
    kind: fault_point
    params: {point: bus.produce.after_append, error: timeout}
    schedule: {start: 0.5}
    rollback: disarm
invariants:""")
    overlap = _error(twin)
    assert "overlaps 'ack-lost'" in overlap.reason


def test_unknown_generator_param_threshold_and_gate() -> None:
    assert "unknown workload generator 'nope'" in _error(GOOD.replace("publish_ambiguity", "nope", 1)).reason
    bad_param = _error(GOOD.replace("{events: 10}", "{events: -4}"))
    assert bad_param.place == "line 5 (workload.params.events)"
    assert "must be >= 1" in bad_param.reason
    figure = _error(GOOD.replace("publish_ambiguous >= 1", "speed >= 1"))
    assert "does not measure 'speed'" in figure.reason
    assert "no gate criterion 'P7-nope'" in _error(GOOD.replace("P7-no_publish_ambiguity", "P7-nope")).reason


def test_id_must_be_in_the_catalogue_and_match_the_file() -> None:
    assert "not a chaos scenario of the catalogue" in _error(GOOD.replace("CH-PUBLISH-AMBIGUITY", "CH-MADE-UP")).reason
    assert "name it CH-PUBLISH-AMBIGUITY.yaml" in _error(GOOD, "other.yaml").reason


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "CH-PUBLISH-AMBIGUITY.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "CH-LATE-CONTEXT.yaml").write_text("id: [", encoding="utf-8")
    report = load_dir(tmp_path)
    assert [s.id for s in report.scenarios] == ["CH-PUBLISH-AMBIGUITY"]
    assert len(report.errors) == 1
    assert report.errors[0].path.endswith("CH-LATE-CONTEXT.yaml")
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_file(tmp_path / "missing.yaml")


def test_a_fault_off_a_phased_generators_boundaries_is_an_impossible_schedule() -> None:
    text = (packaged_dir() / "CH-BROKER-PARTITION.yaml").read_text(encoding="utf-8")
    shifted = _error(text.replace("{start: 0.2, stop: 0.4}", "{start: 0.25, stop: 0.4}"), "CH-BROKER-PARTITION.yaml")
    assert shifted.place.endswith("(faults[0].schedule.start)")
    assert "0.25 is not a phase boundary of generator 'broker_partition' (phases: 5 -> multiples of 0.2)" \
        in shifted.reason


def test_the_pr_profile_scales_counts_but_never_the_phases() -> None:
    from pytest_spine.scenarios.workloads import workloads

    resolved = workloads()["broker_partition"].resolved({"phases": 5, "events_per_phase": 20}, scale=0.1)
    assert resolved == {"phases": 5, "events_per_phase": 2, "resend_rounds": 2}
