"""JSON Schemas (Draft 2020-12) for every evidence file, found by the file's path in the bundle."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_spine.errors import EvidenceError, SchemaViolation

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "schemas"
EVIDENCE_SCHEMA_DIR = SCHEMA_DIR / "evidence"

# Under these folders the second segment names an instance (a scenario run, a security case ...),
# so all instances share one schema: scenarios/CH-X-seed=3/timeline.json -> scenarios__timeline.
COLLECTION_FOLDERS = frozenset({"scenarios", "security", "control_plane", "telemetry", "parts", "soak"})


def schema_name_for(relpath: str) -> str:
    parts = list(PurePosixPath(relpath).parts)
    if len(parts) >= 3 and parts[0] in COLLECTION_FOLDERS:
        del parts[1]
    name = "__".join(parts)
    return name[: -len(".json")] if name.endswith(".json") else name


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as bad:
        raise EvidenceError(f"schema {path} cannot be read: {bad}") from None
    if not isinstance(data, dict):
        raise EvidenceError(f"schema {path} is not a JSON object")
    return data


def schema_path_for(relpath: str) -> Path:
    return EVIDENCE_SCHEMA_DIR / f"{schema_name_for(relpath)}.schema.json"


def load_schema(name: str) -> dict[str, Any]:
    """A schema from ``data/schemas/`` by file stem (``scenario``, ``evidence/verdicts``)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        raise EvidenceError(f"no schema named {name!r}: expected the file {path}")
    return _load(path)


def problems(document: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every violation, each as 'at <json path>: <message>', in a stable order."""
    import jsonschema  # heavy: imported where used

    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        found.append(f"at {where}: {error.message}")
    return found


def validate_evidence(relpath: str, document: Mapping[str, Any]) -> None:
    """Raise SchemaViolation naming the file, or EvidenceError when no schema governs the path."""
    path = schema_path_for(relpath)
    if not path.is_file():
        raise EvidenceError(
            f"evidence file {relpath!r} has no schema: add {path.relative_to(SCHEMA_DIR.parent.parent)} "
            "(every evidence file validates against a JSON Schema when it is written)"
        )
    found = problems(document, _load(path))
    if found:
        raise SchemaViolation(relpath, path.name, found)
