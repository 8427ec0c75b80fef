from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spine.telemetry.taxonomy import TaxonomyError, load_taxonomy, parse_name, version_key

GOOD = """
taxonomy_version: 1
categories: [counter]
families:
  security:
    required: true
    patterns: ["security.*", "[:tocp,:security,*]"]
    categories: [counter]
    version: {required: true}
    correlation: [platform_run_id]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    return path


def test_packaged_taxonomy_declares_the_four_required_families() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.required_families == ("ingest", "security", "control_plane", "evidence")
    assert taxonomy.families["control_plane"].correlation == ("platform_run_id", "trace_id")


@pytest.mark.parametrize(("name", "family"), [
    ("security.sig_fail", "security"),
    ("[:tocp,:security,:quarantine]", "security"),
    ("[ :tocp , :flow, :rate, :drop ]", "security"),
    ("flow.rate.drop", "security"),
    ("control_plane.state_change", "control_plane"),
    ("evidence.write", "evidence"),
    ("ingest.admit", "ingest"),
])
def test_both_name_styles_resolve_to_a_family(name: str, family: str) -> None:
    found = load_taxonomy().family_of(name)
    assert found is not None and found.name == family


def test_names_in_neither_style_and_unknown_families_resolve_to_none() -> None:
    taxonomy = load_taxonomy()
    assert parse_name("Security.SigFail") is None
    assert parse_name("[:tocp,security]") is None
    assert parse_name(42) is None
    assert taxonomy.family_of("billing.charge") is None
    assert parse_name("[:tocp,:security,:quarantine]") == ("tocp", "security", "quarantine")


def test_versions_compare_as_integers_or_dotted_integers() -> None:
    assert version_key(2) == (2,)
    assert version_key("1.10") > version_key("1.9")  # type: ignore[operator]
    assert version_key("v1") is None
    assert version_key(True) is None


def test_a_small_taxonomy_loads(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(write(tmp_path, GOOD))
    assert taxonomy.family_of("[:tocp,:security,:replay_drop]") is not None
    assert taxonomy.family_of("security.a.b") is None  # * is exactly one segment


@pytest.mark.parametrize(("text", "place", "words"), [
    ("taxonomy_version: 1\ncategories: [counter\n", "line 3, column 1", "not valid YAML"),
    (GOOD.replace("taxonomy_version: 1", "taxonomy_version: 2"), "taxonomy_version", "was expected"),
    (GOOD.replace("patterns: [", "patterns: [\"Bad Pattern\", "), "families/security/patterns/0",
     "not a name pattern"),
    (GOOD.replace("categories: [counter]\n    version", "categories: [gauge]\n    version"),
     "families/security/categories", "not whitelisted"),
    (GOOD.replace("    correlation: [platform_run_id]\n", "    correlation: [platform_run_id]\n    colour: red\n"),
     "families/security", "Additional properties"),
    (GOOD + "pii:\n  detectors:\n    - {id: broken, regex: '(unclosed'}\n", "pii/detectors/0/regex",
     "not a regular expression"),
])
def test_malformed_taxonomies_name_the_file_and_place(tmp_path: Path, text: str, place: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(path)
    assert caught.value.path == str(path)
    assert caught.value.place == place
    assert words in caught.value.reason


def test_a_missing_taxonomy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot be read"):
        load_taxonomy(tmp_path / "absent.yaml")
