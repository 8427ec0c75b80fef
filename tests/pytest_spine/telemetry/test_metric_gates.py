from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_spine.telemetry.gatefile import (
    PACKAGED_GATES_DIR,
    GateFileError,
    discover_gatefiles,
    evaluate_gate,
    is_packaged,
    load_gatefile,
    load_gates,
)
from pytest_spine.telemetry.metrics import MetricsFileError, load_csv, load_simulator_json
from pytest_spine.verdicts import Status

EXAMPLES = PACKAGED_GATES_DIR / "examples"
PACKAGED = {g.gate_id: g for g in load_gates(discover_gatefiles(PACKAGED_GATES_DIR), EXAMPLES)}
SIMULATOR_GATES = sorted(g for g, gate in PACKAGED.items() if gate.source_kind == "simulator_json")


def test_the_seed_examples_ship_as_packaged_gates() -> None:
    assert sorted(PACKAGED) == ["MET-CONVERGENCE-1K", "MET-QUARANTINE-REACTION", "MET-REPLAY-REJECTION",
                                "MET-STABILIZE-P95", "MET-STABILIZE-P95-SAMPLES", "MET-UNSIGNED-ACCEPTED"]
    assert PACKAGED["MET-CONVERGENCE-1K"].describe() == "metrics.convergence_s < 30 s"
    assert PACKAGED["MET-REPLAY-REJECTION"].window.conditions[0].describe() == "config.skew_window_s <= 30"


@pytest.mark.parametrize("gate_id", sorted(PACKAGED))
def test_packaged_gates_pass_on_the_passing_example(gate_id: str) -> None:
    assert is_packaged(PACKAGED[gate_id])
    assert PACKAGED[gate_id].source_file is not None and PACKAGED[gate_id].source_file.parent == EXAMPLES
    verdict = evaluate_gate(PACKAGED[gate_id])
    assert verdict.status is Status.PASS, verdict.reason
    assert verdict.kind == "metric" and verdict.check_id == gate_id


def test_the_v0_1_example_is_read_through_the_compatibility_step() -> None:
    sim = load_simulator_json(EXAMPLES / "simulator_metrics_v0_1.json")
    assert (sim.original_version, sim.schema_version) == ("0.1", "0.2")
    assert sim.document["metrics"]["convergence_s"] == 23.8
    assert sim.document["metrics"]["security"]["replay_rejection_ratio"] == 0.9995
    assert sim.document["config"]["skew_window_s"] == 30.0
    assert "convergence_ms -> metrics.convergence_s (/1000)" in sim.compat_notes
    for gate_id in SIMULATOR_GATES:
        gate = dataclasses.replace(PACKAGED[gate_id], source_file=EXAMPLES / "simulator_metrics_v0_1.json")
        verdict = evaluate_gate(gate)
        assert verdict.status is Status.PASS, (gate_id, verdict.reason)
        assert verdict.figures["schema_version"] == "0.1"


@pytest.mark.parametrize(("gate_id", "words"), [
    ("MET-CONVERGENCE-1K", "metrics.convergence_s = 41.7 s, gate metrics.convergence_s < 30 s: NOT met"),
    ("MET-STABILIZE-P95", "= 6.3 s"),
    ("MET-REPLAY-REJECTION", "measured outside the gate's window: config.skew_window_s = 45"),
    ("MET-QUARANTINE-REACTION", "= 75 s"),
    ("MET-UNSIGNED-ACCEPTED", "= 2, gate"),
])
def test_the_slow_example_fails_each_gate(gate_id: str, words: str) -> None:
    gate = dataclasses.replace(PACKAGED[gate_id], source_file=EXAMPLES / "simulator_metrics_slow.json")
    verdict = evaluate_gate(gate)
    assert verdict.status is Status.FAIL
    assert words in verdict.reason


def test_mutant_newer_major_schema_is_refused_with_a_clear_message() -> None:
    with pytest.raises(MetricsFileError) as caught:
        load_simulator_json(EXAMPLES / "simulator_metrics_v1_0.json")
    assert caught.value.place == "schema_version"
    assert "'1.0' is a newer major version than this harness reads (up to 0.2)" in caught.value.reason
    verdict = evaluate_gate(dataclasses.replace(PACKAGED["MET-CONVERGENCE-1K"],
                                                source_file=EXAMPLES / "simulator_metrics_v1_0.json"))
    assert verdict.status is Status.FAIL and "Upgrade pytest-spine" in verdict.reason


@pytest.mark.parametrize(("doc", "place", "words"), [
    ({"schema_version": "0.3", "metrics": {}}, "schema_version", "newer breaking version"),
    ({"schema_version": "0.0", "metrics": {}}, "schema_version", "older than any"),
    ({"schema_version": 2, "metrics": {}}, "schema_version", "not of the form MAJOR.MINOR"),
    ({"metrics": {}}, "(document)", "no schema_version field"),
    ({"schema_version": "0.2", "metrics": [1]}, "metrics", "\"metrics\" object"),
    ({"version": "0.1", "convergence_ms": "fast"}, "convergence_ms", "number of milliseconds"),
    ({"version": "0.1", "replay": {"attempted": -1, "dropped": 0}}, "replay.attempted", "expected a count"),
    ([1, 2], "(document)", "expected a JSON object"),
])
def test_wrong_schema_versions_and_shapes_are_named(tmp_path: Path, doc: object, place: str, words: str) -> None:
    path = tmp_path / "sim.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(MetricsFileError) as caught:
        load_simulator_json(path)
    assert (caught.value.path, caught.value.place) == (str(path), place)
    assert words in caught.value.reason


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text('{\n  "schema_version": "0.2",\n  "metrics": {,}\n}')
    with pytest.raises(MetricsFileError) as caught:
        load_simulator_json(path)
    assert caught.value.place == "line 3, column 15"


GATEFILE = """
gatefile_version: 1
gates:
  - id: MET-X
    title: x
    source: {kind: csv, file: data.csv}
    metric: latency_s
    comparator: "<="
    threshold: 2
    window: {last_rows: 3, aggregate: max}
"""


def test_csv_gates_aggregate_over_the_window(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("time,latency_s\n1,9.0\n2,1.0\n3,2.0\n4,1.5\n")
    path = tmp_path / "gates.yaml"
    path.write_text(GATEFILE)
    gate = load_gatefile(path)[0]
    passing = evaluate_gate(gate)
    assert passing.status is Status.PASS and passing.figures["value"] == 2.0
    assert passing.figures["rows_in_window"] == 3
    failing = evaluate_gate(dataclasses.replace(gate, window=dataclasses.replace(gate.window, last_rows=4)))
    assert failing.status is Status.FAIL and failing.figures["value"] == 9.0
    timed = dataclasses.replace(gate.window, last_rows=None, last_seconds=2.0, time_column="time")
    assert evaluate_gate(dataclasses.replace(gate, window=timed)).figures["rows_in_window"] == 2


@pytest.mark.parametrize(("content", "words"), [
    ("", "empty"),
    ("a,a\n1,2\n", "empty or repeated"),
    ("time,latency_s\n1\n", "1 cells for 2 columns"),
])
def test_malformed_csv_files_name_the_line(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(MetricsFileError, match=words):
        load_csv(path)


def test_missing_sources_and_metrics_fail_never_skip(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(GATEFILE)
    gate = load_gatefile(path)[0]
    verdict = evaluate_gate(gate)
    assert verdict.status is Status.FAIL and "no such metrics file" in verdict.reason
    figures_gate = load_gatefile(EXAMPLES / "run_figures.yaml")[0]
    assert evaluate_gate(figures_gate, None).status is Status.FAIL
    assert "absent" in evaluate_gate(figures_gate, {"other": 1.0}).reason
    assert evaluate_gate(figures_gate, {"replay_rejection_ratio": 0.9995}).status is Status.PASS
    assert evaluate_gate(figures_gate, {"replay_rejection_ratio": 0.99}).status is Status.FAIL
    assert "not a number" in evaluate_gate(figures_gate, {"replay_rejection_ratio": "high"}).reason


@pytest.mark.parametrize(("text", "place", "words"), [
    ("gatefile_version: 1\ngates: [\n", "line 3, column 1", "not valid YAML"),
    (GATEFILE.replace("MET-X", "SEC-X"), "gates/0/id", "does not match"),
    (GATEFILE.replace('"<="', '"=<"'), "gates/0/comparator", "is not one of"),
    (GATEFILE.replace("{kind: csv, file: data.csv}", "{kind: csv}"), "gates/0/source", "'file' is a required"),
    (GATEFILE.replace("{kind: csv, file: data.csv}", "{kind: simulator_json, file: s.json}"), "gates/0/window",
     "select rows of a CSV table"),
    (GATEFILE + GATEFILE.split("gates:\n")[1], "gates/1/id", "already used by gates/0"),
])
def test_malformed_gate_files_name_the_file_and_place(tmp_path: Path, text: str, place: str, words: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    with pytest.raises(GateFileError) as caught:
        load_gatefile(path)
    assert (caught.value.path, caught.value.place) == (str(path), place)
    assert words in caught.value.reason


def test_packaged_sources_default_to_nothing_but_user_sources_to_the_gate_file(tmp_path: Path) -> None:
    packaged = load_gates(discover_gatefiles(PACKAGED_GATES_DIR))
    assert {g.source_file.parent for g in packaged if g.source_file} == {PACKAGED_GATES_DIR}
    assert all(evaluate_gate(g).status is Status.FAIL for g in packaged if g.source_file)  # no such file
    path = tmp_path / "gates.yaml"
    path.write_text(GATEFILE)
    assert load_gates([path], EXAMPLES)[0].source_file == tmp_path / "data.csv"


def test_a_gate_id_defined_in_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GATEFILE)
    (tmp_path / "b.yaml").write_text(GATEFILE)
    with pytest.raises(GateFileError, match="also defined in"):
        load_gates(discover_gatefiles(tmp_path))
