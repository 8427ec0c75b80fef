"""The event linter (TEL-TAXONOMY, TEL-CORRELATION, TEL-NO-PII) and instrumentation completeness
(TEL-FAMILIES, seed 004 G1), over a list of events in emission order.

Each check returns findings; no findings is a PASS. Findings name the event's place (``file:line`` or
``history#index``), the event name, and what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_spine.telemetry.events import Event
from pytest_spine.telemetry.pii import PiiDetector
from pytest_spine.telemetry.taxonomy import Taxonomy, parse_name, version_key

TEL_TAXONOMY = "TEL-TAXONOMY"
TEL_FAMILIES = "TEL-FAMILIES"
TEL_CORRELATION = "TEL-CORRELATION"
TEL_NO_PII = "TEL-NO-PII"
TELEMETRY_CHECKS: tuple[str, ...] = (TEL_TAXONOMY, TEL_FAMILIES, TEL_CORRELATION, TEL_NO_PII)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    code: str
    where: str
    name: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "code": self.code, "where": self.where, "name": self.name,
                "message": self.message}

    def __str__(self) -> str:
        return f"{self.where}: {self.check} {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class FamilyCoverage:
    """G1 per family: emitted (how many events) and exercised (by which verdicts)."""

    family: str
    required: bool
    events: int
    exercised_by: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.required or (self.events > 0 and bool(self.exercised_by))

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "required": self.required, "events": self.events,
                "exercised_by": list(self.exercised_by), "ok": self.ok}


def _shown(name: Any) -> str:
    return name if isinstance(name, str) else repr(name)


def lint_taxonomy(events: Iterable[Event], taxonomy: Taxonomy) -> list[Finding]:
    """Names, categories and versions (seed 000 §1.5)."""
    findings: list[Finding] = []
    last_version: dict[tuple[str, ...], tuple[tuple[int, ...], str, Any]] = {}

    def add(event: Event, code: str, message: str) -> None:
        findings.append(Finding(TEL_TAXONOMY, code, event.where, _shown(event.name), message))

    for event in events:
        segments = parse_name(event.name)
        if segments is None:
            add(event, "bad_name", f"event name {event.name!r} is in neither style: write it dotted "
                                   "(security.sig_fail) or as a list ([:tocp,:security,:quarantine])")
            continue
        family = taxonomy.family_of(event.name)
        if family is None:
            add(event, "unknown_name", f"event {event.name!r} matches no family of the taxonomy "
                                       f"({', '.join(taxonomy.families)}); add it to the taxonomy in the same "
                                       "change that emits it")
            continue
        if event.category not in taxonomy.categories:
            add(event, "unknown_category", f"category {event.category!r} is not whitelisted "
                                           f"{sorted(taxonomy.categories)}")
        elif event.category not in family.categories:
            add(event, "category_not_in_family", f"category {event.category!r} is not allowed for family "
                                                 f"{family.name!r} {sorted(family.categories)}")
        rule = family.version
        if event.version is None:
            if rule.required:
                add(event, "missing_version", f"family {family.name!r} requires a version field; "
                                              f"event {event.name!r} has none")
            continue
        key = version_key(event.version)
        if key is None:
            add(event, "bad_version", f"version {event.version!r} is not an integer or dotted integers")
            continue
        if key < (rule.minimum,):
            add(event, "version_below_minimum", f"version {event.version!r} is below the family's minimum "
                                                f"{rule.minimum}")
        previous = last_version.get(segments)
        if previous is not None:
            before, where, shown = previous
            if key < before:
                add(event, "version_decreased", f"version of {event.name!r} went down from {shown!r} "
                                                f"(at {where}) to {event.version!r}; versions only increase")
            elif key != before and rule.change == "constant":
                add(event, "version_changed", f"version of {event.name!r} changed from {shown!r} (at {where}) "
                                              f"to {event.version!r}; family {family.name!r} pins it")
        if previous is None or key >= previous[0]:
            last_version[segments] = (key, event.where, event.version)
    return findings


def lint_correlation(events: Iterable[Event], taxonomy: Taxonomy,
                     platform_run_id: str | None = None) -> list[Finding]:
    """Correlation fields present where the taxonomy requires them; one run id per stream (fail closed)."""
    findings: list[Finding] = []
    first_run: tuple[str, str] | None = None
    for event in events:
        family = taxonomy.family_of(event.name)
        required = family.correlation if family is not None else ("platform_run_id",)
        for key in required:
            value = event.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                findings.append(Finding(TEL_CORRELATION, "missing_correlation", event.where, _shown(event.name),
                                        f"correlation field {key!r} is missing or empty; family "
                                        f"{family.name if family else '(unknown)'!r} requires "
                                        f"{list(required)}"))
        run_id = event.get("platform_run_id")
        if not isinstance(run_id, str) or not run_id:
            continue
        if platform_run_id is not None and run_id != platform_run_id:
            findings.append(Finding(TEL_CORRELATION, "run_id_mismatch", event.where, _shown(event.name),
                                    f"platform_run_id {run_id!r} is not this run's {platform_run_id!r}"))
        elif platform_run_id is None:
            if first_run is None:
                first_run = (run_id, event.where)
            elif run_id != first_run[0]:
                findings.append(Finding(TEL_CORRELATION, "mixed_run_ids", event.where, _shown(event.name),
                                        f"platform_run_id {run_id!r} differs from {first_run[0]!r} (at "
                                        f"{first_run[1]}): one stream must hold one run; split the file"))
    return findings


def lint_pii(events: Iterable[Event], detector: PiiDetector) -> list[Finding]:
    findings = []
    for event in events:
        scanned = {"payload": event.payload, **{k: v for k, v in event.fields.items() if k not in ("time",)}}
        for hit in detector.scan(scanned, path=""):
            findings.append(Finding(TEL_NO_PII, hit.detector, event.where, _shown(event.name),
                                    f"raw {hit.detector} at {hit.path.lstrip('/')} ({hit.preview}); emit a hash "
                                    "or an opaque id instead"))
    return findings


def family_coverage(events: Iterable[Event], taxonomy: Taxonomy,
                    exercised_checks: Sequence[str]) -> list[FamilyCoverage]:
    """For each family: how many events it emitted and which (non-NOT_APPLICABLE) checks exercised it."""
    counts: dict[str, int] = dict.fromkeys(taxonomy.families, 0)
    for event in events:
        family = taxonomy.family_of(event.name)
        if family is not None:
            counts[family.name] += 1
    coverage = []
    for name, family in taxonomy.families.items():
        by = tuple(sorted(c for c in exercised_checks if any(c.startswith(p) for p in family.exercised_by)))
        coverage.append(FamilyCoverage(name, family.required, counts[name], by))
    return coverage


def lint_families(coverage: Sequence[FamilyCoverage]) -> list[Finding]:
    findings = []
    for fam in coverage:
        if not fam.required:
            continue
        if fam.events == 0:
            findings.append(Finding(TEL_FAMILIES, "family_absent", "(run)", fam.family,
                                    f"required event family {fam.family!r} emitted no event in this run"))
        if not fam.exercised_by:
            findings.append(Finding(TEL_FAMILIES, "family_not_exercised", "(run)", fam.family,
                                    f"required event family {fam.family!r} is exercised by no check that ran "
                                    "(see exercised_by in the taxonomy)"))
    return findings


def lint_all(events: Sequence[Event], taxonomy: Taxonomy, detector: PiiDetector | None = None,
             platform_run_id: str | None = None) -> list[Finding]:
    """What ``spine events lint`` runs: taxonomy, correlation and PII (families need the run's verdicts)."""
    detector = detector or PiiDetector.from_config(taxonomy.pii)
    return (lint_taxonomy(events, taxonomy) + lint_correlation(events, taxonomy, platform_run_id)
            + lint_pii(events, detector))


def summarize(findings: Iterable[Finding]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.code] = counts.get(finding.code, 0) + 1
    return dict(sorted(counts.items()))
