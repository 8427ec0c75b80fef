"""The event taxonomy (seed 000 §1.5): which names exist, in which categories, with which version rules and
correlation fields, grouped in families that must all be instrumented (seed 004 G1).

Names come in two styles that mean the same thing: dotted ``security.sig_fail`` and the telemetry-list
``[:tocp,:security,:quarantine]``. Both parse to a tuple of segments; patterns use ``*`` for one segment
and a final ``**`` for any rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import SpineError

_SEGMENT = r"[a-z][a-z0-9_]*"
_DOTTED = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")
_LISTED = re.compile(rf"^\[\s*:{_SEGMENT}(?:\s*,\s*:{_SEGMENT})*\s*\]$")
_PATTERN_SEGMENT = re.compile(rf"^(?:{_SEGMENT}|\*|\*\*)$")

PACKAGED_TAXONOMY = Path(__file__).resolve().parent.parent / "data" / "taxonomy.yaml"


class TaxonomyError(SpineError):
    """A taxonomy file is malformed; names the file and the place."""

    def __init__(self, path: str, place: str, reason: str) -> None:
        self.path = path
        self.place = place
        self.reason = reason
        super().__init__(f"{path}: at {place}: {reason}")


def parse_name(name: Any) -> tuple[str, ...] | None:
    """Segments of an event name in either style, or None when it is in neither."""
    if not isinstance(name, str):
        return None
    text = name.strip()
    if _DOTTED.match(text):
        return tuple(text.split("."))
    if _LISTED.match(text):
        return tuple(part.strip().lstrip(":") for part in text.strip("[]").split(","))
    return None


def _parse_pattern(pattern: str) -> tuple[str, ...] | None:
    text = pattern.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        parts = [p.strip() for p in text[1:-1].split(",")]
        # Wildcards may be written bare ([:tocp,:security,*]) or as atoms ([:tocp,:security,:*]).
        if not all(p.startswith(":") or p in ("*", "**") for p in parts):
            return None
        parts = [p.removeprefix(":") for p in parts]
    else:
        parts = text.split(".")
    if not parts or not all(_PATTERN_SEGMENT.match(p) for p in parts):
        return None
    if "**" in parts[:-1]:
        return None
    return tuple(parts)


def _matches(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if pattern and pattern[-1] == "**":
        head = pattern[:-1]
        return len(segments) > len(head) and all(p in ("*", s) for p, s in zip(head, segments, strict=False))
    return len(pattern) == len(segments) and all(p in ("*", s) for p, s in zip(pattern, segments, strict=True))


@dataclass(frozen=True, slots=True)
class VersionRule:
    required: bool = False
    minimum: int = 0
    change: str = "non_decreasing"  # non_decreasing | constant


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    patterns: tuple[str, ...]
    categories: frozenset[str]
    required: bool = False
    version: VersionRule = field(default_factory=VersionRule)
    correlation: tuple[str, ...] = ()
    exercised_by: tuple[str, ...] = ()
    description: str = ""
    compiled: tuple[tuple[str, ...], ...] = ()

    def matches(self, segments: tuple[str, ...]) -> bool:
        return any(_matches(p, segments) for p in self.compiled)


@dataclass(frozen=True, slots=True)
class Taxonomy:
    source: str
    categories: frozenset[str]
    families: Mapping[str, Family]
    pii: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    # Streams repeat a handful of names hundreds of thousands of times: resolve each name once.
    _resolved: dict[str, Family | None] = field(default_factory=dict, compare=False, repr=False)

    def family_of(self, name: Any) -> Family | None:
        """The first family (in file order) whose patterns match the name; None for unknown names."""
        if isinstance(name, str) and name in self._resolved:
            return self._resolved[name]
        segments = parse_name(name)
        found = None
        if segments is not None:
            found = next((family for family in self.families.values() if family.matches(segments)), None)
        if isinstance(name, str):
            self._resolved[name] = found
        return found

    @property
    def required_families(self) -> tuple[str, ...]:
        return tuple(name for name, fam in self.families.items() if fam.required)


def _yaml_load(path: Path) -> Any:
    import yaml  # imported where used, like every heavy dependency

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as bad:
        raise TaxonomyError(str(path), "(file)", f"cannot be read: {bad.strerror or bad}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as bad:
        mark = getattr(bad, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        problem = getattr(bad, "problem", None) or str(bad)
        raise TaxonomyError(str(path), place, f"not valid YAML: {problem}") from None


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (the packaged reference taxonomy by default)."""
    path = path or PACKAGED_TAXONOMY
    data = _yaml_load(path)
    return taxonomy_from_mapping(data, str(path))


def taxonomy_from_mapping(data: Any, source: str) -> Taxonomy:
    from pytest_spine.evidence.schemas import load_schema, problems

    found = problems(data, load_schema("taxonomy"))
    if found:
        first = found[0]
        place, _, reason = first.partition(": ")
        more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
        raise TaxonomyError(source, place.removeprefix("at "),
                            f"{reason}{more}; see pytest_spine/data/schemas/taxonomy.schema.json")
    categories = frozenset(data["categories"])
    families: dict[str, Family] = {}
    for fam_name, raw in data["families"].items():
        compiled = []
        for i, pattern in enumerate(raw["patterns"]):
            parsed = _parse_pattern(pattern)
            if parsed is None:
                raise TaxonomyError(source, f"families/{fam_name}/patterns/{i}",
                                    f"{pattern!r} is not a name pattern; write it dotted (security.sig_fail, "
                                    "security.*) or as a list ([:tocp,:security,:quarantine]); ** only last")
            compiled.append(parsed)
        unknown = sorted(set(raw["categories"]) - categories)
        if unknown:
            raise TaxonomyError(source, f"families/{fam_name}/categories",
                                f"{unknown} are not whitelisted categories {sorted(categories)}; add them to "
                                "the top-level categories list or fix the spelling")
        version_raw = raw.get("version") or {}
        families[fam_name] = Family(
            name=fam_name, patterns=tuple(raw["patterns"]), categories=frozenset(raw["categories"]),
            required=bool(raw.get("required", False)),
            version=VersionRule(bool(version_raw.get("required", False)), int(version_raw.get("minimum", 0)),
                                str(version_raw.get("change", "non_decreasing"))),
            correlation=tuple(raw.get("correlation", ())), exercised_by=tuple(raw.get("exercised_by", ())),
            description=str(raw.get("description", "")), compiled=tuple(compiled),
        )
    pii = dict(data.get("pii") or {})
    for i, det in enumerate(pii.get("detectors", ())):
        try:
            re.compile(det["regex"])
        except re.error as bad:
            raise TaxonomyError(source, f"pii/detectors/{i}/regex",
                                f"{det['regex']!r} is not a regular expression ({bad})") from None
    return Taxonomy(source=source, categories=categories, families=families, pii=pii,
                    name=str(data.get("name", "")))


def version_key(version: Any) -> tuple[int, ...] | None:
    """Comparable form of a version: an int, or a dotted string of ints ('2', '1.3'); None if neither."""
    if isinstance(version, bool):
        return None
    if isinstance(version, int):
        return (version,)
    if isinstance(version, str) and re.fullmatch(r"\d+(?:\.\d+)*", version.strip()):
        return tuple(int(p) for p in version.strip().split("."))
    return None
