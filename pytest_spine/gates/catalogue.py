"""The phase-gate catalogue: every PASS criterion of every phase of seed 003, as a registered check.

A criterion registers with ``@criterion(phase, name, title)``; misuse fails when it is defined (an unknown
phase, a duplicate id, a name that is not snake_case), as Hypothesis's ``@rule`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from pytest_spine.targets.base import PHASE_IDS, DrillNotRun, NotObserved, PhaseOutcome, Target
from pytest_spine.verdicts import BASES, Status, Verdict

PHASE_NAMES: dict[str, str] = {
    "P(-1)": "PACKAGING_READY", "P0": "SUBSTRATE_READY", "P1": "RUN_PINNED", "P2": "DAEMONS_READY",
    "P3": "ORACLE_READY", "P4": "INGEST_READY", "P5": "READY_PUBLISHED", "P6": "STREAMING_ACTIVE",
    "P7": "INGEST_COMMITTED", "P8": "RTDL_CAUGHT_UP", "P9": "DECISION_CHAIN_COMMITTED",
    "P10": "CASE_LABELS_COMMITTED", "P11": "OBS_GOV_CLOSED", "P12": "TEARDOWN",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class EvidenceMissing(Exception):
    """Raised inside a check when a document it needs is absent: the verdict is FAIL, never a skip."""

    def __init__(self, relpath: str, detail: str = "") -> None:
        self.relpath = relpath
        super().__init__(f"missing evidence {relpath}{': ' + detail if detail else ''}")


class ProbeUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class GateContext:
    """What a check may look at: the phase outcome, the bundle, the target (for probes) and the run."""

    phase: PhaseOutcome
    outcomes: Mapping[str, PhaseOutcome]
    read: Callable[[str], Mapping[str, Any] | None]
    files: Callable[[], list[str]]
    probe_fn: Callable[[str], Mapping[str, Any]]
    platform_run_id: str
    history: Callable[[], list[Any]]
    observed_fn: Callable[[], Any] = lambda: None
    drills_not_run: list[str] = dataclass_field(default_factory=list)

    def doc(self, relpath: str) -> Mapping[str, Any]:
        found = self.read(relpath)
        if found is None:
            raise EvidenceMissing(relpath)
        return found

    def field(self, relpath: str, *path: str) -> Any:
        value: Any = self.doc(relpath)
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                raise EvidenceMissing(relpath, f"no field {'.'.join(path)}")
            value = value[key]
        return value

    def probe(self, name: str) -> Mapping[str, Any]:
        """A drill's result; raises DrillNotRun when the target did not run it (the runner then reports the
        check NOT_APPLICABLE with the reason, as the drill was all it had)."""
        return self.probe_fn(name)

    def drill(self, name: str) -> Mapping[str, Any] | None:
        """A drill's result, or None when the target did not run it: the check judges the evidence and the
        substrate without it, and its reason says so."""
        try:
            return self.probe_fn(name)
        except DrillNotRun as skipped:
            self.drills_not_run.append(f"{name} {skipped.reason}")
            return None

    def observed(self) -> Any:
        """What the harness saw of the platform's substrate (``Observations``); raises NotObserved when the
        target exposes none."""
        found = self.observed_fn()
        if found is None:
            raise NotObserved()
        return found

    def fact(self, *path: str) -> Any:
        value: Any = self.phase.facts
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                raise EvidenceMissing(f"{self.phase.phase_id} facts", f"the target reported no {'.'.join(path)}")
            value = value[key]
        return value


CheckFn = Callable[[GateContext], "Result"]


@dataclass(frozen=True, slots=True)
class Result:
    """What a check returns; the runner turns it into a Verdict with the criterion's id and evidence."""

    ok: bool
    reason: str
    evidence: tuple[str, ...] = ()
    counterexample: tuple[Mapping[str, Any], ...] = ()
    figures: Mapping[str, Any] | None = None
    basis: str | None = None  # overrides the criterion's declared basis for this verdict


@dataclass(frozen=True, slots=True)
class Criterion:
    phase: str
    name: str
    title: str
    check: CheckFn
    evidence: tuple[str, ...]
    basis: str = "attested"

    @property
    def check_id(self) -> str:
        return f"{self.phase}-{self.name}"

    def verdict(self, status: Status, reason: str, **kw: Any) -> Verdict:
        kw.setdefault("evidence", self.evidence)
        kw.setdefault("basis", self.basis)
        return Verdict(self.check_id, "gate", status, reason, **kw)


CRITERIA: dict[str, Criterion] = {}


def criterion(phase: str, name: str, title: str, evidence: tuple[str, ...] = (), *,
              basis: str = "attested") -> Callable[[CheckFn], CheckFn]:
    if basis not in BASES:
        raise ValueError(f"@criterion basis must be one of {', '.join(BASES)}, given: {basis!r}")
    if phase not in PHASE_IDS:
        raise ValueError(f"@criterion phase must be one of {', '.join(PHASE_IDS)}, given: {phase!r}")
    if not _NAME.match(name):
        raise ValueError(f"@criterion name must be snake_case (it becomes a test id), given: {name!r}")
    check_id = f"{phase}-{name}"
    if check_id in CRITERIA:
        raise ValueError(f"criterion {check_id} is defined twice; each PASS criterion has one check")

    def register(fn: CheckFn) -> CheckFn:
        CRITERIA[check_id] = Criterion(phase, name, title, fn, evidence, basis)
        return fn

    return register


def criteria_of(phase: str) -> list[Criterion]:
    _load()
    return [c for c in CRITERIA.values() if c.phase == phase]


def all_criteria() -> list[Criterion]:
    _load()
    order = {p: i for i, p in enumerate(PHASE_IDS)}
    return sorted(CRITERIA.values(), key=lambda c: order[c.phase])


def _load() -> None:
    """Register the criteria (importing ``phases`` does). When this module was imported afresh while an old
    ``phases`` is still an attribute of the package (pytester's in-process runs drop the modules they imported),
    ``from pytest_spine.gates import phases`` would return the old one and register nothing here: import by
    module name, and re-run it if it is still loaded."""
    if CRITERIA:
        return
    import importlib
    import sys

    for name in ("pytest_spine.gates.phases", "pytest_spine.gates.observed"):
        loaded = sys.modules.get(name)
        if loaded is None:
            importlib.import_module(name)
        else:
            importlib.reload(loaded)


def target_not_applicable(target: Target) -> Mapping[str, str]:
    try:
        return target.not_applicable()
    except Exception:  # a target that cannot say is treated as having nothing N/A: fail closed
        return {}
