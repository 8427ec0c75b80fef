"""``spine evidence verify``: is this directory a faithful, complete evidence bundle?

Checks, and names the file and the reason for each problem:
- the bundle is sealed (manifest + status) and not marked incomplete;
- every file in the manifest exists with the recorded sha256, and no file is missing from the manifest;
- every JSON file validates against its schema and carries the bundle's ``platform_run_id`` and a
  ``written_at_utc``;
- completeness: every contract file is present, unless the run itself recorded the failure of the phase
  that owes it (then the bundle is a faithful record of a failed run, reported as such).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spine.errors import EvidenceError, SchemaViolation
from pytest_spine.evidence.bundle import MANIFEST, STATUS, sha256_hex
from pytest_spine.evidence.contract import HARNESS_FILES, PHASE_FILES
from pytest_spine.evidence.schemas import validate_evidence


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    bundle: Path
    platform_run_id: str
    problems: tuple[Problem, ...]
    files_checked: int
    failed_phases: tuple[str, ...] = ()
    verdict_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def spine_green(self) -> bool:
        return self.ok and not self.failed_phases


def resolve_bundle(path: Path) -> Path:
    """Accept a run dir, or an evidence dir holding exactly one run."""
    if (path / MANIFEST).exists() or (path / STATUS).exists() or (path / "verdicts.json").exists():
        return path
    runs = path / "evidence" / "runs"
    if runs.is_dir():
        found = sorted(p for p in runs.iterdir() if p.is_dir())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(p.name for p in found[-5:])
            raise EvidenceError(f"{path} holds {len(found)} runs ({names}); pass one run directory "
                                f"(e.g. {found[-1]})")
    return path


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def verify_bundle(path: Path) -> VerifyReport:
    bundle = resolve_bundle(path)
    problems: list[Problem] = []
    run_id = bundle.name
    if not bundle.is_dir():
        return VerifyReport(bundle, run_id, (Problem(str(bundle), "no such bundle directory"),), 0)

    on_disk = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                     if p.is_file() and not p.name.startswith("."))
    for stray in bundle.rglob(".*.tmp"):
        problems.append(Problem(stray.relative_to(bundle).as_posix(), "a temporary file was left behind by an "
                                "interrupted write (the final file was never created)"))

    manifest = _load_harness_doc(bundle, MANIFEST, problems)
    status = _load_harness_doc(bundle, STATUS, problems)
    if status is not None and status.get("status") != "complete":
        problems.append(Problem(STATUS, f"the bundle is marked {status.get('status')!r}: "
                                f"{status.get('reason', 'no reason given')}"))

    listed: dict[str, Any] = {}
    if manifest is not None:
        files = manifest.get("files")
        listed = files if isinstance(files, dict) else {}
        for relpath, entry in sorted(listed.items()):
            file = bundle / relpath
            if not file.is_file():
                problems.append(Problem(relpath, "listed in manifest.json but missing"))
                continue
            digest = sha256_hex(file.read_bytes())
            if not isinstance(entry, dict) or digest != entry.get("sha256"):
                want = entry.get("sha256") if isinstance(entry, dict) else entry
                problems.append(Problem(relpath, f"sha256 is {digest} but manifest.json records {want}: "
                                        "the file changed after the bundle was sealed"))
        for relpath in on_disk:
            if relpath != MANIFEST and relpath not in listed:
                problems.append(Problem(relpath, "present but not in manifest.json (added after sealing?)"))

    for relpath in on_disk:
        if relpath.endswith(".json"):
            problems.extend(_check_json_file(bundle, relpath, run_id))

    verdicts = _load_verdicts(bundle)
    failed_phases = _failed_phases(verdicts)
    order = list(PHASE_FILES)
    # Phases after the first failed one never run (they are blocked by construction), so their files are
    # excused too: the bundle is then a faithful record of a failed run.
    first_failed = min((order.index(p) for p in failed_phases if p in order), default=len(order))
    present = set(on_disk)
    for phase, files in PHASE_FILES.items():
        for relpath in files:
            if relpath in present:
                continue
            if order.index(phase) >= first_failed:
                continue
            problems.append(Problem(relpath, f"required by the evidence contract (phase {phase}) but missing, "
                                    "and verdicts.json does not record that phase as failed"))
    for relpath in HARNESS_FILES:
        if relpath not in present and relpath not in (MANIFEST, STATUS):
            problems.append(Problem(relpath, "required harness file missing"))

    counts: dict[str, int] = {}
    for record in verdicts:
        key = str(record.get("status"))
        counts[key] = counts.get(key, 0) + 1
    return VerifyReport(bundle, run_id, tuple(problems), len(on_disk), tuple(sorted(failed_phases)), counts)


def _load_harness_doc(bundle: Path, name: str, problems: list[Problem]) -> dict[str, Any] | None:
    path = bundle / name
    if not path.is_file():
        problems.append(Problem(name, "missing: the bundle was never sealed (the run was killed before its "
                                "end, or this is not a bundle directory)"))
        return None
    try:
        data = _read_json(path)
    except (OSError, json.JSONDecodeError) as bad:
        problems.append(Problem(name, f"not valid JSON: {bad}"))
        return None
    return data if isinstance(data, dict) else None


def _check_json_file(bundle: Path, relpath: str, run_id: str) -> Iterable[Problem]:
    try:
        document = _read_json(bundle / relpath)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as bad:
        yield Problem(relpath, f"not valid JSON: {bad}")
        return
    if not isinstance(document, dict):
        yield Problem(relpath, "not a JSON object")
        return
    claimed = document.get("platform_run_id")
    if claimed != run_id:
        yield Problem(relpath, f"platform_run_id is {claimed!r} but the bundle directory is run {run_id!r}")
    if not document.get("written_at_utc"):
        yield Problem(relpath, "missing written_at_utc")
    try:
        validate_evidence(relpath, document)
    except SchemaViolation as bad:
        yield Problem(relpath, f"does not validate against {bad.schema}: {'; '.join(bad.problems[:3])}")
    except EvidenceError as bad:
        yield Problem(relpath, str(bad))


def _load_verdicts(bundle: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    paths = [bundle / "verdicts.json", *sorted((bundle / "parts").glob("*/verdicts.json"))]
    for path in paths:
        try:
            data = _read_json(path)
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("verdicts"), list):
            records.extend(r for r in data["verdicts"] if isinstance(r, dict))
    return records


def _failed_phases(verdicts: list[dict[str, Any]]) -> set[str]:
    failed = set()
    for record in verdicts:
        if record.get("kind") != "gate":
            continue
        phase = str(record.get("id", "")).split("-", 1)[0]
        if phase == "P(":  # "P(-1)-entrypoints" splits inside the parenthesis
            phase = "P(-1)"
        if record.get("status") in ("FAIL", "BLOCKED", "UNKNOWN"):
            failed.add(phase)
    return failed
