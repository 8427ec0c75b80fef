"""Reading a sealed evidence bundle for scoring: verdicts, figures, the v1.2 gate document, timelines.

A scorecard is never made from a bundle that evidence verification rejects; ``load_verified`` is the only
way the scorecard command opens a bundle.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import EvidenceError
from pytest_spine.verdicts import Verdict


class BundleRejected(EvidenceError):
    """Evidence verification rejected the bundle, or it cannot be verified at all."""


@dataclass(frozen=True, slots=True)
class BundleView:
    root: Path
    platform_run_id: str
    verdicts: tuple[Verdict, ...]
    figures: Mapping[str, Any]
    files: tuple[str, ...]
    run_at: _dt.datetime | None
    env: str
    v12_gate: Mapping[str, Any] | None
    timelines: Mapping[str, Mapping[str, Any]]  # scenario instance id -> timeline.json
    kpis: Mapping[str, Any] | None = None  # operate/kpis.json: the operator's KPI figures (--spine-kpis)

    def link(self, relpath: str) -> str:
        """A path a reader can open: relative to the bundle root, the way verdict evidence is recorded."""
        return relpath

    @property
    def run_date(self) -> str:
        return self.run_at.date().isoformat() if self.run_at else "unknown"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise EvidenceError(f"evidence file {path} cannot be read as JSON ({bad}); the bundle is corrupt: "
                            "re-run to produce a new bundle") from None


def _parse_time(value: Any) -> _dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


def _parts(root: Path, name: str) -> list[Path]:
    return [root / name, *sorted((root / "parts").glob(f"*/{name}"))]


def load_bundle(root: Path) -> BundleView:
    """Read a bundle without verifying it (tests and the end-of-run summary use this after their own check)."""
    if not root.is_dir():
        raise EvidenceError(f"evidence bundle {root} is not a directory; pass a run directory "
                            "(<evidence-dir>/evidence/runs/<platform_run_id>)")
    verdicts: list[Verdict] = []
    run_id = root.name
    for path in _parts(root, "verdicts.json"):
        doc = _read(path)
        if doc is None:
            continue
        if not isinstance(doc, dict) or not isinstance(doc.get("verdicts"), list):
            raise EvidenceError(f"{path} has no 'verdicts' list; the bundle is corrupt")
        claimed = doc.get("platform_run_id")
        if claimed not in (None, run_id):
            raise EvidenceError(f"{path} claims platform_run_id {claimed!r} but lives in run {run_id!r}")
        for index, record in enumerate(doc["verdicts"]):
            try:
                verdicts.append(Verdict.from_json(record))
            except (KeyError, ValueError, TypeError) as bad:
                raise EvidenceError(f"{path}: verdicts[{index}] is not a verdict record ({bad!r}): "
                                    f"{str(record)[:120]}") from None
    figures: dict[str, Any] = {}
    for path in _parts(root, "figures.json"):
        doc = _read(path)
        if isinstance(doc, dict) and isinstance(doc.get("figures"), dict):
            figures.update(doc["figures"])
    files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                         if p.is_file() and not p.name.startswith(".")))
    run_doc = _read(root / "run.json") if (root / "run.json").is_file() else None
    verdicts_doc = _read(root / "verdicts.json") if (root / "verdicts.json").is_file() else None
    run_at = None
    if isinstance(run_doc, dict):
        run_at = _parse_time(run_doc.get("started_at_utc") or run_doc.get("written_at_utc"))
    if run_at is None and isinstance(verdicts_doc, dict):
        run_at = _parse_time(verdicts_doc.get("written_at_utc"))
    env = str(run_doc.get("env") or run_doc.get("spine_env") or "unknown") if isinstance(run_doc, dict) else "unknown"
    v12 = _read(root / "control_plane" / "v12_gate.json")
    timelines: dict[str, Mapping[str, Any]] = {}
    for path in sorted((root / "scenarios").glob("*/timeline.json")):
        doc = _read(path)
        if isinstance(doc, dict):
            timelines[path.parent.name] = doc
    kpis = _read(root / "operate" / "kpis.json")
    return BundleView(root, run_id, tuple(verdicts), figures, files, run_at, env,
                      v12 if isinstance(v12, dict) else None, timelines, kpis if isinstance(kpis, dict) else None)


def verify_or_refuse(path: Path) -> Path:
    """Run the lead's evidence verification; refuse (BundleRejected) unless it says the bundle is valid."""
    try:
        from pytest_spine.evidence.verify import resolve_bundle, verify_bundle
    except ImportError as missing:
        raise BundleRejected(f"cannot verify {path}: evidence verification is not available ({missing}); "
                             "a scorecard is never produced from an unverified bundle") from None
    root = resolve_bundle(path)
    report = verify_bundle(root)
    if not report.ok:
        listing = "; ".join(str(p) for p in report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise BundleRejected(f"{root}: evidence verification rejects this bundle, so no scorecard is made: "
                             f"{listing}{more}. Run `spine evidence verify {root}` for the full report")
    return Path(report.bundle)


def load_verified(path: Path) -> BundleView:
    return load_bundle(verify_or_refuse(path))
