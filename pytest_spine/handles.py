"""The handles registry (seed 003, ``dev_min_handles.registry.v0``) as a validated file, and INV-HANDLES.

A registry is YAML (``local_parity.yaml`` ships with the package) or the Markdown table form of the seed
(rows ``| HANDLE_KEY | value | ... |``). Either is turned into one document and validated by
``data/schemas/handles.schema.json``; every error names the handle and what is wrong with it.
Code refers to resources by handle key; INV-HANDLES checks that every name a target used resolves here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import ConfigError
from pytest_spine.verdicts import Status, Verdict

SECTIONS = ("buckets", "prefixes", "topics", "consumer_groups", "ssm", "db", "fields", "ig", "kafka", "roles",
            "aws")
# A value the local stack fills in when it starts (ports are chosen free at start-up).
FROM_STACK = "from-stack"
CHECK_ID = "INV-HANDLES"
_DATA = Path(__file__).parent / "data"


class HandleError(ConfigError):
    """A handle is missing, misspelled or malformed; the message names the handle and the registry file."""


@dataclass(frozen=True, slots=True)
class TopicHandle:
    key: str
    name: str
    partitions: int
    retention_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HandlesRegistry:
    source: str
    environment: str
    registry_version: str
    sections: Mapping[str, Mapping[str, str]]
    topics: Mapping[str, TopicHandle]
    document: Mapping[str, Any] = field(repr=False)

    def handle_keys(self) -> list[str]:
        return [*self.topics, *(k for section in self.sections.values() for k in section)]

    def resolve(self, key: str) -> str:
        """The value of any handle key (a topic key gives the topic name)."""
        if key in self.topics:
            return self.topics[key].name
        for section in self.sections.values():
            if key in section:
                return section[key]
        hint = _did_you_mean(key, self.handle_keys())
        raise HandleError(f"handle {key!r} is not in the registry {self.source}{hint}; "
                          "add it to the registry or fix the spelling")

    def topic(self, key: str) -> TopicHandle:
        if key not in self.topics:
            raise HandleError(f"topic handle {key!r} is not in the topic map of {self.source}"
                              f"{_did_you_mean(key, list(self.topics))}; add it under 'topics:'")
        return self.topics[key]

    def bucket(self, key: str) -> str:
        return self._in("buckets", key)

    def prefix(self, key: str, **params: str) -> str:
        pattern = self._in("prefixes", key)
        try:
            return pattern.format(**params)
        except KeyError as missing:
            raise HandleError(f"prefix handle {key!r} ({pattern!r}) needs the parameter {missing.args[0]!r}; "
                              f"pass it to prefix({key!r}, {missing.args[0]}=...)") from None

    def section(self, name: str) -> Mapping[str, str]:
        return self.sections.get(name, {})

    def _in(self, section: str, key: str) -> str:
        values = self.sections.get(section, {})
        if key not in values:
            raise HandleError(f"handle {key!r} is not in section '{section}' of {self.source}"
                              f"{_did_you_mean(key, list(values))}; add it under '{section}:'")
        return values[key]

    def with_values(self, section: str, values: Mapping[str, str]) -> HandlesRegistry:
        """A copy with handles filled in (the stack's endpoints replacing ``from-stack``)."""
        document = json.loads(json.dumps(self.document))
        document.setdefault(section, {}).update(values)
        return registry_from_document(document, self.source)


def _did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _schema() -> Mapping[str, Any]:
    text = (_DATA / "schemas" / "handles.schema.json").read_text()
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


def default_registry_path(environment: str = "local_parity") -> Path:
    return _DATA / "handles" / f"{environment}.yaml"


def load_registry(path: str | Path | None = None) -> HandlesRegistry:
    """Read and validate a registry file (``.yaml``/``.yml``/``.json`` or Markdown ``.md``)."""
    source = Path(path) if path is not None else default_registry_path()
    try:
        text = source.read_text()
    except OSError as error:
        raise HandleError(f"cannot read the handles registry {source}: {error.strerror}; "
                          "pass an existing file with --spine-handles PATH") from None
    if source.suffix.lower() in (".md", ".markdown"):
        document = parse_markdown_registry(text, str(source))
    else:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise HandleError(f"the handles registry {source} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise HandleError(f"the handles registry {source} must be a mapping of sections "
                          f"({', '.join(SECTIONS)}), got {type(document).__name__}")
    return registry_from_document(document, str(source))


def registry_from_document(document: Mapping[str, Any], source: str) -> HandlesRegistry:
    problems = validate_document(document)
    if problems:
        listed = "\n  ".join(problems)
        raise HandleError(f"the handles registry {source} is invalid ({len(problems)} problems):\n  {listed}")
    topics = {key: TopicHandle(key, spec["name"], int(spec["partitions"]), spec.get("retention_ms"))
              for key, spec in document["topics"].items()}
    sections = {name: {k: str(v) for k, v in document.get(name, {}).items()}
                for name in SECTIONS if name != "topics"}
    names = [t.name for t in topics.values()]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise HandleError(f"the handles registry {source} maps several topic handles to {duplicated}; "
                          "each topic handle needs its own topic")
    return HandlesRegistry(source, str(document["environment"]), str(document["registry_version"]), sections,
                           topics, document)


def validate_document(document: Mapping[str, Any]) -> list[str]:
    """Schema problems, each naming the handle (or section) and what is wrong."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    problems: list[str] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        where = list(map(str, error.absolute_path))
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            section = where[-1] if where else "(top level)"
            present = list(document.get(section, {})) if where and isinstance(document.get(section), dict) else []
            problems.append(f"missing handle {missing!r} in section '{section}'"
                            f"{_did_you_mean(missing, present)}")
        elif error.validator == "propertyNames":
            problems.append(f"handle {error.instance!r} in section '{where[0] if where else '?'}' is not a valid "
                            f"key for that section ({error.message})")
        elif len(where) >= 2:
            detail = f" field '{'.'.join(where[2:])}'" if len(where) > 2 else ""
            problems.append(f"handle {where[1]!r} in section '{where[0]}'{detail}: {error.message}")
        else:
            problems.append(f"{'.'.join(where) or '(top level)'}: {error.message}")
    return problems


_MD_SECTION_HINTS = (
    ("FP_BUS_", "topics"), ("SSM_", "ssm"), ("FIELD_", "fields"), ("ROLE_", "roles"), ("DB_", "db"),
    ("RDS_", "db"), ("IG_", "ig"), ("REQUIRED_", "ig"), ("KAFKA_", "kafka"), ("CONFLUENT_", "kafka"),
    ("AWS_", "aws"),
)


def _md_section(key: str) -> str:
    if key.startswith("S3_") and key.endswith("_BUCKET"):
        return "buckets"
    if key.endswith("_CONSUMER_GROUP_ID"):
        return "consumer_groups"
    for prefix, section in _MD_SECTION_HINTS:
        if key.startswith(prefix):
            return section
    if key.endswith(("_PATTERN", "_KEY")):
        return "prefixes"
    return "other"


def parse_markdown_registry(text: str, source: str) -> dict[str, Any]:
    """The seed's Markdown form: ``key: value`` header lines and tables with ``handle`` and ``value`` columns
    (optional ``partitions`` and ``retention_ms`` for topics). Values may be wrapped in backticks."""
    document: dict[str, Any] = {}
    header: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        meta = re.match(r"^(registry_version|environment)\s*:\s*`?([^`]+?)`?\s*$", line)
        if meta:
            document[meta.group(1)] = meta.group(2)
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip().strip("`").strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            if "handle" not in header or "value" not in header:
                raise HandleError(f"{source}:{number}: a registry table needs 'handle' and 'value' columns, "
                                  f"found {cells}")
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue
        if len(cells) != len(header):
            raise HandleError(f"{source}:{number}: the row has {len(cells)} cells but the table header has "
                              f"{len(header)}: {line!r}")
        row = dict(zip(header, cells, strict=True))
        key, value = row["handle"], row["value"]
        section = _md_section(key)
        if section == "other":
            raise HandleError(f"{source}:{number}: handle {key!r} belongs to no registry section (its name must "
                              "start or end like the seed's handles: FP_BUS_, S3_..._BUCKET, ..._PATTERN, SSM_, "
                              "FIELD_, DB_, IG_, KAFKA_, ROLE_, AWS_ or ..._CONSUMER_GROUP_ID)")
        if section == "topics":
            entry: dict[str, Any] = {"name": value}
            for column in ("partitions", "retention_ms"):
                if row.get(column):
                    try:
                        entry[column] = int(row[column])
                    except ValueError:
                        raise HandleError(f"{source}:{number}: handle {key!r}: {column} must be an integer, "
                                          f"given: {row[column]!r}") from None
            document.setdefault("topics", {})[key] = entry
        else:
            document.setdefault(section, {})[key] = value
    return document


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", pattern)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts))


def handle_names(registry: HandlesRegistry) -> dict[str, set[str]]:
    """Every concrete name the registry allows, by kind (topic, bucket, group, ssm, field, ig)."""
    return {
        "topic": {t.name for t in registry.topics.values()},
        "bucket": set(registry.section("buckets").values()),
        "ssm": set(registry.section("ssm").values()),
        "field": set(registry.section("fields").values()),
    }


def resolves(kind: str, name: str, registry: HandlesRegistry) -> bool:
    if name in registry.handle_keys():
        return True  # a handle key is always a registered name
    if kind in ("prefix", "key", "object"):
        return any(_pattern_regex(p).match(name) for p in registry.section("prefixes").values())
    if kind == "group":
        return any(_pattern_regex(p).fullmatch(name) or _pattern_regex(p).match(name)
                   for p in registry.section("consumer_groups").values())
    known = handle_names(registry).get(kind)
    if known is None:
        return any(name in values for values in handle_names(registry).values())
    return name in known


def check_handles(used_names: Iterable[str | tuple[str, str] | Mapping[str, Any]],
                  registry: HandlesRegistry) -> Verdict:
    """INV-HANDLES: every name the target used (topic, bucket, prefix/key, group, SSM path, field) resolves in
    the registry. ``used_names`` holds ``(kind, name)`` pairs, ``handle_use`` history values
    (``{"kind", "name"}``) or bare names (matched against every kind). Nothing used is FAIL: missing
    evidence is never a pass."""
    seen: list[tuple[str, str]] = []
    for item in used_names:
        if isinstance(item, str):
            seen.append(("any", item))
        elif isinstance(item, tuple):
            seen.append((str(item[0]), str(item[1])))
        else:
            seen.append((str(item.get("kind", "any")), str(item.get("name", ""))))
    if not seen:
        return Verdict(CHECK_ID, "invariant", Status.FAIL,
                       f"no handle uses were recorded, so nothing shows the target used registered names "
                       f"(registry {registry.source}); record handle_use operations")
    unique = list(dict.fromkeys(seen))
    unresolved = [(kind, name) for kind, name in unique if not resolves(kind, name, registry)]
    figures = {"handles_used": len(unique), "handles_unresolved": len(unresolved)}
    if unresolved:
        everything = sorted(set().union(*handle_names(registry).values()))
        counterexample = tuple(
            {"kind": kind, "name": name, "hint": _did_you_mean(name, everything).strip(" ()") or None}
            for kind, name in unresolved)
        names = ", ".join(f"{kind} {name!r}" for kind, name in unresolved[:5])
        return Verdict(CHECK_ID, "invariant", Status.FAIL,
                       f"{len(unresolved)} of {len(unique)} names used do not resolve in the registry "
                       f"{registry.source}: {names}", counterexample=counterexample, figures=figures)
    return Verdict(CHECK_ID, "invariant", Status.PASS,
                   f"all {len(unique)} names used resolve in the registry {registry.source}", figures=figures)


def substrate_problems(registry: HandlesRegistry, topics: Mapping[str, int] | None = None,
                       buckets: Iterable[str] | None = None) -> list[str]:
    """What the real substrate lacks compared with the registry: a missing topic, a topic with the wrong
    partition count, a missing bucket. Each problem names the handle."""
    problems: list[str] = []
    if topics is not None:
        for handle in registry.topics.values():
            if handle.name not in topics:
                problems.append(f"topic handle {handle.key}: topic {handle.name!r} does not exist on the broker")
            elif topics[handle.name] != handle.partitions:
                problems.append(f"topic handle {handle.key}: topic {handle.name!r} has {topics[handle.name]} "
                                f"partitions, the registry pins {handle.partitions}")
    if buckets is not None:
        present = set(buckets)
        for key, bucket in registry.section("buckets").items():
            if bucket not in present:
                problems.append(f"bucket handle {key}: bucket {bucket!r} does not exist")
    return problems
