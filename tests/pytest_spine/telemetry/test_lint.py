from __future__ import annotations

from pathlib import Path

import pytest
from telemetry_builders import RUN_ID, clean_values, event_value, op_lines, write_jsonl

from pytest_spine.telemetry.events import Event, EventSourceError, load_events, read_event_lines
from pytest_spine.telemetry.lint import (
    family_coverage,
    lint_all,
    lint_correlation,
    lint_families,
    lint_taxonomy,
)
from pytest_spine.telemetry.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
EXERCISED = ["P7-receipts_reconcile", "SEC-REPLAY-REJECT", "CP-STATE-LEGAL", "INV-EVIDENCE-COMPLETE"]


def events(values: list[dict[str, object]], tmp_path: Path) -> list[Event]:
    return load_events(write_jsonl(tmp_path / "history.jsonl", op_lines(values)))


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings]


def test_the_reference_stream_is_clean(tmp_path: Path) -> None:
    stream = events(clean_values(), tmp_path)
    assert len(stream) == 5  # the receipt_append operation is not an event
    assert lint_all(stream, TAXONOMY, platform_run_id=RUN_ID) == []
    coverage = family_coverage(stream, TAXONOMY, EXERCISED)
    assert {c.family: (c.events, c.ok) for c in coverage if c.required} == {
        "ingest": (1, True), "security": (2, True), "control_plane": (1, True), "evidence": (1, True)}
    assert lint_families(coverage) == []


def test_mutant_unknown_family_is_a_finding(tmp_path: Path) -> None:
    stream = events([*clean_values(), event_value("billing.charge", "ingest")], tmp_path)
    found = lint_taxonomy(stream, TAXONOMY)
    assert codes(found) == ["unknown_name"]
    assert found[0].where.endswith("history.jsonl:7") and found[0].name == "billing.charge"


def test_mutant_version_going_down_is_a_finding(tmp_path: Path) -> None:
    stream = events([event_value("security.sig_fail", "security", "3"),
                     event_value("security.sig_fail", "security", "2"),
                     event_value("security.sig_fail", "security", "3")], tmp_path)
    found = lint_taxonomy(stream, TAXONOMY)
    assert codes(found) == ["version_decreased"]
    assert "from '3'" in found[0].message and "to '2'" in found[0].message


@pytest.mark.parametrize(("value", "code"), [
    (event_value("security.sig_fail", "security", None), "missing_version"),
    (event_value("security.sig_fail", "security", "one"), "bad_version"),
    (event_value("security.sig_fail", "security", 0), "version_below_minimum"),
    (event_value("security.sig_fail", "gauge"), "unknown_category"),
    (event_value("security.sig_fail", "evidence"), "category_not_in_family"),
    (event_value("Security SigFail", "security"), "bad_name"),
])
def test_each_taxonomy_rule_can_fail(tmp_path: Path, value: dict[str, object], code: str) -> None:
    assert codes(lint_taxonomy(events([value], tmp_path), TAXONOMY)) == [code]


def test_a_version_only_increases_per_name_not_across_names(tmp_path: Path) -> None:
    stream = events([event_value("security.sig_fail", "security", "2"),
                     event_value("security.replay_drop", "security", "1")], tmp_path)
    assert lint_taxonomy(stream, TAXONOMY) == []


def test_mutant_missing_correlation_field_is_a_finding(tmp_path: Path) -> None:
    stream = events([event_value("control_plane.state_change", "control_plane", trace_id=None),
                     event_value("evidence.write", "evidence", run_id="")], tmp_path)
    found = lint_correlation(stream, TAXONOMY, RUN_ID)
    assert [(f.code, f.name) for f in found] == [("missing_correlation", "control_plane.state_change"),
                                                 ("missing_correlation", "evidence.write")]
    assert "'trace_id'" in found[0].message


def test_run_ids_must_be_this_runs_or_one_per_stream(tmp_path: Path) -> None:
    stream = events([event_value("evidence.write", "evidence"),
                     event_value("evidence.write", "evidence", run_id="platform_other")], tmp_path)
    assert codes(lint_correlation(stream, TAXONOMY, RUN_ID)) == ["run_id_mismatch"]
    assert codes(lint_correlation(stream, TAXONOMY, None)) == ["mixed_run_ids"]


def test_families_absent_or_not_exercised_fail_g1(tmp_path: Path) -> None:
    only_ingest = events([clean_values()[0]], tmp_path)
    found = lint_families(family_coverage(only_ingest, TAXONOMY, ["P7-receipts_reconcile"]))
    assert sorted((f.code, f.name) for f in found) == [
        ("family_absent", "control_plane"), ("family_absent", "evidence"), ("family_absent", "security"),
        ("family_not_exercised", "control_plane"), ("family_not_exercised", "evidence"),
        ("family_not_exercised", "security")]
    emitted_not_tested = family_coverage(events(clean_values(), tmp_path / "b"), TAXONOMY, [])
    assert {f.name for f in lint_families(emitted_not_tested)} == {"ingest", "security", "control_plane",
                                                                     "evidence"}


def test_bare_event_lines_are_linted_too(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "events.jsonl", [event_value("security.sig_fail", "security", trace_id="t"),
                                                   event_value("nope.x", "ingest")])
    assert codes(lint_all(load_events(path), TAXONOMY)) == ["unknown_name"]


@pytest.mark.parametrize(("content", "words"), [
    ('{"name": "a"\n', "not a JSON line"),
    ("[1, 2]\n", "expected a JSON object"),
    ('{"index": 0, "time": 1, "process": "p", "type": "maybe", "f": "event"}\n', "type must be one of"),
    ('{"truncated": true, "kept": 1, "total": 9}\n', "truncated"),
])
def test_bad_event_sources_name_the_file_and_line(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(EventSourceError, match=words) as caught:
        load_events(path)
    assert f"{path}:1" in str(caught.value)


def test_a_truncated_history_can_be_read_up_to_its_cut_when_asked(tmp_path: Path) -> None:
    lines = [*op_lines(clean_values()), {"truncated": True, "kept": 6, "total": 60}]
    path = write_jsonl(tmp_path / "h.jsonl.gz", lines)
    with pytest.raises(EventSourceError, match="truncated"):
        list(read_event_lines(path))
    cut: list[dict[str, object]] = []
    assert len(list(read_event_lines(path, cut))) == 5
    assert cut == [{"path": str(path), "kept": 6, "total": 60}]


def test_a_directory_that_is_not_a_bundle_or_has_no_history_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EventSourceError, match="not an evidence bundle"):
        load_events(tmp_path)
    (tmp_path / "verdicts.json").write_text("{}")
    with pytest.raises(EventSourceError, match="stores no history"):
        load_events(tmp_path)


def test_a_family_that_pins_its_version_refuses_any_change(tmp_path: Path) -> None:
    pinned = tmp_path / "taxonomy.yaml"
    pinned.write_text("taxonomy_version: 1\ncategories: [security]\nfamilies:\n  security:\n"
                      "    patterns: ['security.*']\n    categories: [security]\n"
                      "    version: {required: true, change: constant}\n")
    stream = events([event_value("security.sig_fail", "security", "1"),
                     event_value("security.sig_fail", "security", "2")], tmp_path)
    assert codes(lint_taxonomy(stream, load_taxonomy(pinned))) == ["version_changed"]
    assert lint_taxonomy(stream, TAXONOMY) == []  # the reference taxonomy lets versions go up
