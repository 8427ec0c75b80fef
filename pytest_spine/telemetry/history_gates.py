"""Run-history gates (seed 004): decisions taken from runs over time, not from one run.

- HIST-FLAKE (G4): per test over the rolling last 20 runs, flaky runs / runs < 2 %. A run is flaky for a
  test when it passed on a retry within the run (``flaky``), or when it failed and a *later* run in the
  window passed it again (the failure did not persist, so it was not a real break). Failures not yet
  followed by a pass are breaks, counted by HIST-CONSECUTIVE instead.
- HIST-CONSECUTIVE (automatic No-Go): a required check failing in 3 consecutive runs (its latest streak).
- HIST-SLO-WINDOW (automatic No-Go): per pillar and UTC day, the share of passing check executions below
  the pillar's SLO target is a miss; two consecutive days of miss in one pillar within the validation
  window is No-Go.
- HIST-ERROR-BUDGET (G7): per pillar, the share of its monthly error budget burnt in the validation
  window, ``(failures / executions) / (1 - target) * window_days / month_days``, must be <= 25 %.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_spine.telemetry.run_records import RunHistoryError, RunRecord
from pytest_spine.verdicts import Status, Verdict

HIST_FLAKE = "HIST-FLAKE"
HIST_CONSECUTIVE = "HIST-CONSECUTIVE"
HIST_SLO_WINDOW = "HIST-SLO-WINDOW"
HIST_ERROR_BUDGET = "HIST-ERROR-BUDGET"
HISTORY_CHECKS: tuple[str, ...] = (HIST_FLAKE, HIST_CONSECUTIVE, HIST_SLO_WINDOW, HIST_ERROR_BUDGET)
KIND = "history"

_PHASE_GATE = re.compile(r"^P(?:\(-1\)|\d+)-")
DEFAULT_PILLAR_PREFIXES: tuple[tuple[str, str], ...] = (
    ("SEC-", "security"), ("THETA03", "security"), ("CP-", "control_plane"), ("V12", "control_plane"),
    ("INV-", "spine"), ("CH-", "chaos"), ("TEL-", "telemetry"), ("MET-", "telemetry"),
)


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    window_runs: int = 20
    flake_threshold: float = 0.02  # G4: rate must be below
    required: tuple[str, ...] = ("*",)  # fnmatch patterns of required checks
    consecutive_limit: int = 3
    default_slo_target: float = 0.99
    slo_targets: Mapping[str, float] = field(default_factory=dict)
    validation_days: int = 7
    month_days: int = 30
    budget_limit: float = 0.25  # G7
    pillar_prefixes: tuple[tuple[str, str], ...] = DEFAULT_PILLAR_PREFIXES

    def target(self, pillar: str) -> float:
        return float(self.slo_targets.get(pillar, self.default_slo_target))

    def is_required(self, test_id: str) -> bool:
        return any(fnmatch.fnmatchcase(test_id, pattern) for pattern in self.required)


def pillar_of(test_id: str, kind: str, policy: HistoryPolicy) -> str | None:
    """The pillar a check counts toward; None for history checks (they must not feed themselves)."""
    if kind == KIND or test_id.startswith("HIST-"):
        return None
    for prefix, pillar in policy.pillar_prefixes:
        if test_id.startswith(prefix):
            return pillar
    if _PHASE_GATE.match(test_id):
        return "spine"
    if kind == "junit":
        return "ci"
    return kind or "other"


@dataclass(frozen=True, slots=True)
class FlakeStat:
    test_id: str
    runs: int
    flaky_runs: int
    flaky_run_ids: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.flaky_runs / self.runs if self.runs else 0.0


@dataclass(frozen=True, slots=True)
class Streak:
    test_id: str
    consecutive_failures: int
    run_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PillarDay:
    pillar: str
    day: str
    executions: int
    failures: int
    target: float

    @property
    def attainment(self) -> float:
        return 1.0 - self.failures / self.executions if self.executions else 1.0

    @property
    def miss(self) -> bool:
        return self.executions > 0 and self.attainment < self.target


@dataclass(frozen=True, slots=True)
class BudgetBurn:
    pillar: str
    executions: int
    failures: int
    target: float
    burn: float  # fraction of the monthly budget burnt in the validation window


@dataclass(frozen=True, slots=True)
class HistoryReport:
    location: str
    runs: int
    window: tuple[str, ...]
    flakes: tuple[FlakeStat, ...]
    streaks: tuple[Streak, ...]
    days: tuple[PillarDay, ...]
    budgets: tuple[BudgetBurn, ...]
    verdicts: tuple[Verdict, ...]
    policy: HistoryPolicy

    @property
    def no_go(self) -> bool:
        return any(v.status.is_failure for v in self.verdicts
                   if v.check_id in (HIST_CONSECUTIVE, HIST_SLO_WINDOW))

    def verdict(self, check_id: str) -> Verdict:
        return next(v for v in self.verdicts if v.check_id == check_id)

    def figures(self) -> dict[str, Any]:
        worst = max((f.rate for f in self.flakes), default=0.0)
        return {
            "history_runs": self.runs, "history_window_runs": len(self.window), "flake_rate_max": worst,
            "flaky_tests": sum(1 for f in self.flakes if f.flaky_runs),
            "consecutive_failures_max": max((s.consecutive_failures for s in self.streaks), default=0),
            "slo_miss_days": sum(1 for d in self.days if d.miss),
            "error_budget_burn_max": max((b.burn for b in self.budgets), default=0.0),
            "no_go": self.no_go,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location, "runs": self.runs, "window": list(self.window),
            "policy": {"window_runs": self.policy.window_runs, "flake_threshold": self.policy.flake_threshold,
                       "required": list(self.policy.required), "consecutive_limit": self.policy.consecutive_limit,
                       "default_slo_target": self.policy.default_slo_target,
                       "slo_targets": dict(self.policy.slo_targets), "validation_days": self.policy.validation_days,
                       "budget_limit": self.policy.budget_limit},
            "figures": self.figures(),
            "no_go": self.no_go,
            "flakes": [{"test_id": f.test_id, "runs": f.runs, "flaky_runs": f.flaky_runs, "rate": f.rate,
                        "flaky_run_ids": list(f.flaky_run_ids)} for f in self.flakes if f.flaky_runs],
            "streaks": [{"test_id": s.test_id, "consecutive_failures": s.consecutive_failures,
                         "run_ids": list(s.run_ids)} for s in self.streaks],
            "slo_days": [{"pillar": d.pillar, "day": d.day, "executions": d.executions, "failures": d.failures,
                          "attainment": d.attainment, "target": d.target, "miss": d.miss} for d in self.days],
            "error_budget": [{"pillar": b.pillar, "executions": b.executions, "failures": b.failures,
                              "target": b.target, "burn": b.burn} for b in self.budgets],
            "verdicts": [v.to_json() for v in self.verdicts],
        }


def _flakes(window: Sequence[RunRecord]) -> list[FlakeStat]:
    tests = sorted({t for r in window for t in r.outcomes})
    flakes = []
    for test_id in tests:
        seq = [(r.run_id, r.outcomes[test_id]) for r in window if r.outcomes.get(test_id) in ("pass", "fail", "flaky")]
        flaky_ids = []
        for i, (run_id, outcome) in enumerate(seq):
            if outcome == "flaky" or (outcome == "fail" and any(o in ("pass", "flaky") for _, o in seq[i + 1:])):
                flaky_ids.append(run_id)
        flakes.append(FlakeStat(test_id, len(seq), len(flaky_ids), tuple(flaky_ids)))
    return flakes


def _streaks(window: Sequence[RunRecord], policy: HistoryPolicy) -> list[Streak]:
    streaks = []
    for test_id in sorted({t for r in window for t in r.outcomes if policy.is_required(t)}):
        run_ids: list[str] = []
        for record in reversed(window):
            outcome = record.outcomes.get(test_id)
            if outcome in (None, "skip"):
                continue  # not run, or not applicable: neither breaks nor extends the streak
            if outcome != "fail":
                break
            run_ids.append(record.run_id)
        streaks.append(Streak(test_id, len(run_ids), tuple(reversed(run_ids))))
    return streaks


def _day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d")


def _validation_runs(records: Sequence[RunRecord], policy: HistoryPolicy) -> list[RunRecord]:
    latest = records[-1].started_at
    start = dt.datetime.fromtimestamp(latest, tz=dt.UTC).date() - dt.timedelta(days=policy.validation_days - 1)
    return [r for r in records if dt.datetime.fromtimestamp(r.started_at, tz=dt.UTC).date() >= start]


def _pillar_days(runs: Sequence[RunRecord], policy: HistoryPolicy) -> list[PillarDay]:
    counts: dict[tuple[str, str], list[int]] = {}
    for record in runs:
        day = _day(record.started_at)
        for test_id, outcome in record.outcomes.items():
            pillar = pillar_of(test_id, record.kinds.get(test_id, ""), policy)
            if pillar is None or outcome == "skip":
                continue
            slot = counts.setdefault((pillar, day), [0, 0])
            slot[0] += 1
            slot[1] += outcome == "fail"
    return [PillarDay(pillar, day, n, bad, policy.target(pillar)) for (pillar, day), (n, bad) in sorted(counts.items())]


def _consecutive_miss_days(days: Sequence[PillarDay]) -> list[tuple[str, str, str]]:
    found = []
    missed = {(d.pillar, d.day) for d in days if d.miss}
    for pillar, day in sorted(missed):
        following = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
        if (pillar, following) in missed:
            found.append((pillar, day, following))
    return found


def _budgets(days: Sequence[PillarDay], policy: HistoryPolicy) -> list[BudgetBurn]:
    totals: dict[str, list[int]] = {}
    for d in days:
        slot = totals.setdefault(d.pillar, [0, 0])
        slot[0] += d.executions
        slot[1] += d.failures
    burns = []
    for pillar, (n, bad) in sorted(totals.items()):
        target = policy.target(pillar)
        budget = 1.0 - target
        ratio = bad / n if n else 0.0
        burn = (ratio / budget if budget > 0 else (0.0 if bad == 0 else float("inf"))) \
            * policy.validation_days / policy.month_days
        burns.append(BudgetBurn(pillar, n, bad, target, burn))
    return burns


def evaluate_history(records: Sequence[RunRecord], policy: HistoryPolicy | None = None,
                     location: str = "(history)") -> HistoryReport:
    """All four history gates over the records (oldest first). An empty history is an error, not a PASS."""
    policy = policy or HistoryPolicy()
    if not records:
        raise RunHistoryError(f"history {location} holds no runs: nothing to judge flake rate, streaks or SLO "
                              "windows from (missing evidence is a failure); add runs with "
                              "`spine history add BUNDLE`")
    ordered = sorted(records, key=lambda r: (r.started_at, r.run_id))
    window = ordered[-policy.window_runs:]
    flakes = _flakes(window)
    streaks = _streaks(window, policy)
    validation = _validation_runs(ordered, policy)
    days = _pillar_days(validation, policy)
    budgets = _budgets(days, policy)
    partial = f" (only {len(window)} of {policy.window_runs} runs so far)" if len(window) < policy.window_runs else ""
    verdicts: list[Verdict] = []

    bad_flakes = sorted((f for f in flakes if f.runs and f.rate >= policy.flake_threshold),
                        key=lambda f: (-f.rate, f.test_id))
    worst = max((f.rate for f in flakes), default=0.0)
    if bad_flakes:
        shown = ", ".join(f"{f.test_id} {f.flaky_runs}/{f.runs} ({f.rate:.1%})" for f in bad_flakes[:5])
        verdicts.append(Verdict(HIST_FLAKE, KIND, Status.FAIL,
                                f"{len(bad_flakes)} tests flake at or above {policy.flake_threshold:.0%} over the last "
                                f"{len(window)} runs{partial}: {shown}",
                                counterexample=tuple({"test_id": f.test_id, "flaky_run_ids": list(f.flaky_run_ids)}
                                                     for f in bad_flakes[:10]),
                                figures={"flake_rate_max": worst, "window_runs": len(window)}))
    else:
        verdicts.append(Verdict(HIST_FLAKE, KIND, Status.PASS,
                                f"every test flakes below {policy.flake_threshold:.0%} over the last {len(window)} "
                                f"runs{partial} (worst {worst:.1%})",
                                figures={"flake_rate_max": worst, "window_runs": len(window)}))

    broken = [s for s in streaks if s.consecutive_failures >= policy.consecutive_limit]
    longest = max((s.consecutive_failures for s in streaks), default=0)
    if broken:
        shown = ", ".join(f"{s.test_id} ({s.consecutive_failures} runs)" for s in broken[:5])
        verdicts.append(Verdict(HIST_CONSECUTIVE, KIND, Status.FAIL,
                                f"No-Go: required checks failing in {policy.consecutive_limit} or more consecutive "
                                f"runs: {shown}",
                                counterexample=tuple({"test_id": s.test_id, "run_ids": list(s.run_ids)}
                                                     for s in broken[:10]),
                                figures={"consecutive_failures_max": longest}))
    else:
        verdicts.append(Verdict(HIST_CONSECUTIVE, KIND, Status.PASS,
                                f"no required check has failed {policy.consecutive_limit} runs in a row (longest "
                                f"current streak {longest})", figures={"consecutive_failures_max": longest}))

    pairs = _consecutive_miss_days(days)
    misses = sum(1 for d in days if d.miss)
    if pairs:
        shown = ", ".join(f"{p} on {a} and {b}" for p, a, b in pairs[:5])
        verdicts.append(Verdict(HIST_SLO_WINDOW, KIND, Status.FAIL,
                                f"No-Go: two consecutive days of SLO miss in one pillar: {shown}",
                                counterexample=tuple({"pillar": p, "days": [a, b]} for p, a, b in pairs[:10]),
                                figures={"slo_miss_days": misses}))
    else:
        verdicts.append(Verdict(HIST_SLO_WINDOW, KIND, Status.PASS,
                                f"no pillar missed its SLO on two consecutive days in the last "
                                f"{policy.validation_days} days ({misses} single miss days)",
                                figures={"slo_miss_days": misses}))

    over = [b for b in budgets if b.burn > policy.budget_limit]
    top = max((b.burn for b in budgets), default=0.0)
    if over:
        shown = ", ".join(f"{b.pillar} {b.burn:.0%} ({b.failures}/{b.executions} failed, target {b.target:.2%})"
                          for b in over)
        verdicts.append(Verdict(HIST_ERROR_BUDGET, KIND, Status.FAIL,
                                f"pillars burnt more than {policy.budget_limit:.0%} of the monthly error budget in "
                                f"the {policy.validation_days}-day window: {shown}",
                                figures={"error_budget_burn_max": top}))
    else:
        verdicts.append(Verdict(HIST_ERROR_BUDGET, KIND, Status.PASS,
                                f"every pillar burnt at most {policy.budget_limit:.0%} of its monthly error budget "
                                f"(worst {top:.1%})", figures={"error_budget_burn_max": top}))
    return HistoryReport(location, len(ordered), tuple(r.run_id for r in window), tuple(flakes), tuple(streaks),
                         tuple(days), tuple(budgets), tuple(verdicts), policy)
