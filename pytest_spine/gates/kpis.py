"""The KPI targets of seed 001 and the operator's KPI file (``--spine-kpis PATH``).

The KPIs (heavy task success, human intervention, approve-to-resume latency, outcome consistency, uptime,
operator time, audit score) describe a production window, not a test run: the reference workloads fail some
tasks on purpose and simulate the humans, so a figure measured on them would be made up. The harness therefore
judges the figures the operator measured and hands it (YAML or JSON)::

    window: 2026-W47                     # optional: the period the figures cover
    source: control-plane dashboard      # optional: where they were read
    kpis:
      heavy_task_success_rate: 0.97      # ratios are fractions in [0, 1]
      approve_to_resume_p95_s: 42
      audit_score: 96

Every name must be one of :data:`KPIS`; a KPI left out stays NOT_MEASURED on the scorecard. The file is copied
into the bundle as ``operate/kpis.json`` (with its sha256), which is the evidence each KPI row links to.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import ConfigError

DOCUMENT = "operate/kpis.json"


@dataclass(frozen=True, slots=True)
class Kpi:
    key: str  # the scorecard row's key
    name: str  # the key in the KPI file and in the evidence
    label: str  # seed 001's wording
    meets: Callable[[float], bool]
    threshold: str
    ratio: bool = False  # a fraction in [0, 1]


KPIS: tuple[Kpi, ...] = (
    Kpi("heavy_task_success", "heavy_task_success_rate", "Heavy task success rate", lambda v: v >= 0.96,
        ">= 96 %", ratio=True),
    Kpi("human_intervention", "human_intervention_ratio", "Human intervention ratio", lambda v: v <= 0.15,
        "<= 15 %", ratio=True),
    Kpi("approve_to_resume_p95", "approve_to_resume_p95_s", "Approve-to-resume latency p95", lambda v: v < 90,
        "< 90 s"),
    Kpi("outcome_consistency", "outcome_consistency_ratio", "Outcome consistency (5 reruns)", lambda v: v >= 0.90,
        ">= 90 %", ratio=True),
    Kpi("uptime", "uptime_ratio", "System uptime", lambda v: v >= 0.997, ">= 99.7 %", ratio=True),
    Kpi("operator_time", "operator_active_minutes_per_day", "Operator active time", lambda v: v < 60,
        "< 60 min/day"),
    Kpi("audit_score", "audit_score", "Audit score", lambda v: v >= 95, ">= 95"),
)
BY_NAME: Mapping[str, Kpi] = {k.name: k for k in KPIS}
_TOP_LEVEL = ("kpis", "window", "source")


class KpiFileError(ConfigError):
    """The KPI file cannot be used; the message names the file, the place and the fix."""


@dataclass(frozen=True, slots=True)
class OperatorKpis:
    path: str
    sha256: str
    values: Mapping[str, float]
    window: str | None = None
    source: str | None = None

    def to_evidence(self) -> dict[str, Any]:
        return {"source_file": Path(self.path).name, "sha256": self.sha256, "window": self.window,
                "source": self.source, "kpis": dict(self.values)}


def load_kpis(path: str | Path) -> OperatorKpis:
    """Read and check a KPI file; every problem is a KpiFileError naming the file and the key."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as error:
        raise KpiFileError(f"cannot read the KPI file {source}: {error.strerror}; pass an existing YAML or JSON "
                           "file with --spine-kpis PATH") from None
    import yaml  # JSON is YAML too

    try:
        document = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise KpiFileError(f"the KPI file {source} is not valid YAML or JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("kpis"), dict):
        raise KpiFileError(f"the KPI file {source} must be a mapping with a 'kpis' mapping of KPI name to "
                           f"measured value (names: {', '.join(BY_NAME)})")
    unknown_top = sorted(str(k) for k in document if k not in _TOP_LEVEL)
    if unknown_top:
        raise KpiFileError(f"the KPI file {source} has unknown top-level keys {unknown_top}; allowed: "
                           f"{', '.join(_TOP_LEVEL)}")
    values: dict[str, float] = {}
    for name, raw in document["kpis"].items():
        kpi = BY_NAME.get(str(name))
        if kpi is None:
            close = difflib.get_close_matches(str(name), BY_NAME, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(BY_NAME)}"
            raise KpiFileError(f"the KPI file {source}: kpis.{name} is not a KPI of seed 001{hint}")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise KpiFileError(f"the KPI file {source}: kpis.{name} must be a finite number, given {raw!r}")
        if raw < 0 or (kpi.ratio and raw > 1):
            bounds = "a fraction between 0 and 1 (0.97, not 97)" if kpi.ratio else "not negative"
            raise KpiFileError(f"the KPI file {source}: kpis.{name} must be {bounds}, given {raw!r}")
        values[kpi.name] = float(raw)
    if not values:
        raise KpiFileError(f"the KPI file {source} names no KPI under 'kpis' (names: {', '.join(BY_NAME)})")
    texts = {key: document.get(key) for key in ("window", "source")}
    for key, text in texts.items():
        if text is not None and not isinstance(text, str | int):
            raise KpiFileError(f"the KPI file {source}: {key} must be a string, given {text!r}")
    return OperatorKpis(str(source), hashlib.sha256(data).hexdigest(), values,
                        None if texts["window"] is None else str(texts["window"]),
                        None if texts["source"] is None else str(texts["source"]))
