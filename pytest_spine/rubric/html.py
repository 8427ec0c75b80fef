"""The scorecard as ONE self-contained HTML file: inline CSS and SVG, no script, no network.

Read top to bottom: the decision and Spine Green badge, the phase timeline, the rubric bars, the gate
tables, the pass/fail matrix, the trend over weeks, then one throughput/latency timeline per scenario.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from pytest_spine.rubric import svg
from pytest_spine.rubric.scorecard import PHASES, Gate, Row, RunCard, Scorecard, basis_line

PHASE_NAMES = {
    "P(-1)": "PACKAGING_READY", "P0": "SUBSTRATE_READY", "P1": "RUN_PINNED", "P2": "DAEMONS_READY",
    "P3": "ORACLE_READY", "P4": "INGEST_READY", "P5": "READY_PUBLISHED", "P6": "STREAMING_ACTIVE",
    "P7": "INGEST_COMMITTED", "P8": "RTDL_CAUGHT_UP", "P9": "DECISION_CHAIN_COMMITTED",
    "P10": "CASE_LABELS_COMMITTED", "P11": "OBS_GOV_CLOSED", "P12": "TEARDOWN",
}
_DECISION_COLOUR = {"No-Go": "#d64541", "Stay in Phase 1": "#e0a030", "Hardening complete": "#3b82c4",
                    "Enter Phase 2": "#2e9e5b", "Enter Phase 3": "#2e9e5b"}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1320px;
color:#1f2328;background:#fafbfc;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}.sub{color:#57606a;font-size:13px}
.badges{display:flex;gap:12px;margin:14px 0;flex-wrap:wrap}
.badge{border-radius:8px;padding:10px 16px;color:#fff;font-weight:600;font-size:15px}
.badge small{display:block;font-weight:400;font-size:11px;opacity:.9}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}.card{background:#fff;border:1px solid #d0d7de;
border-radius:8px;padding:12px 14px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px}th,td{border-bottom:1px solid #eaeef2;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right;white-space:nowrap}
.s{display:inline-block;border-radius:4px;padding:1px 6px;font-size:11px;font-weight:600;color:#fff}
.s-PASS{background:#2e9e5b}.s-FAIL{background:#d64541}.s-BLOCKED{background:#9b2c2c}.s-UNKNOWN{background:#e0a030}
.s-NOT_APPLICABLE{background:#b8bec8;color:#222}.s-NOT_MEASURED{background:#dfe3e8;color:#444}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}.ev{font-family:ui-monospace,monospace;
font-size:11px;word-break:break-all}.why{color:#57606a;font-size:12px}
"""


class _Links:
    """Evidence references become links relative to where the report is written (or absolute file URLs)."""

    def __init__(self, bundle: Path, out: Path | None) -> None:
        self.bundle = bundle.resolve()
        self.base = out.resolve().parent if out else None

    def __call__(self, ref: str) -> str:
        relpath = ref.partition("#")[0]
        target = self.bundle / relpath
        href = os.path.relpath(target, self.base) if self.base is not None else target.as_uri()
        return f"<a class='ev' href='{escape(href)}' title='{escape(str(target))}'>{escape(ref)}</a>"


def _status(status: str) -> str:
    return f"<span class='s s-{escape(status)}'>{escape(status.replace('_', ' '))}</span>"


def _gate_table(gate: Gate, link: _Links) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.label)}</td><td class='num'>{escape(r.value)}</td><td>{escape(r.threshold)}</td>"
        f"<td>{_status(r.status)}</td><td>{' '.join(link(e) for e in r.evidence[:2])}"
        f"<div class='why'>{escape(r.reason)}</div></td></tr>"
        for r in gate.rows)
    note = f"<p class='why'>{escape(gate.note)}</p>" if gate.note else ""
    return (f"<h3>{escape(gate.name)} {_status(gate.status)}</h3>{note}<table><tr><th>Check</th><th>Value</th>"
            f"<th>Threshold</th><th>Status</th><th>Decided by</th></tr>{rows}</table>")


def _badge(text: str, sub: str, colour: str) -> str:
    return f"<div class='badge' style='background:{colour}'>{escape(text)}<small>{escape(sub)}</small></div>"


def _green_badge(row: Row) -> str:
    return _badge(f"Spine Green v0: {row.value}", row.reason[:120], svg.STATUS_COLOURS.get(row.status, "#888"))


def _run_section(card: RunCard, link: _Links, full: bool) -> str:
    view = card.view
    result = card.rubric
    parts = [f"<h2>Run {escape(view.platform_run_id)} <span class='sub'>{escape(view.env)} · "
             f"{escape(view.run_date)} · {link('verdicts.json')}</span></h2>"]
    parts.append("<div class='badges'>"
                 + _badge(f"{result.total:.2f} / 100 · {result.decision.value}", result.decision.long,
                          _DECISION_COLOUR.get(result.decision.value, "#555"))
                 + _green_badge(card.spine_green)
                 + "".join(_badge("No-Go", r[:110], "#d64541") for r in result.no_go) + "</div>")
    phases = [(r.key, PHASE_NAMES.get(r.key, ""), r.status, r.reason) for r in card.phases.rows]
    parts.append(f"<div class='card'><h3>Phase timeline</h3>{svg.phase_timeline(phases)}</div>")
    bars = svg.rubric_bars([(s.category.title, s.category.weight, s.score, s.points) for s in result.scores],
                           result.total, (80.0, 85.0, 90.0))
    rubric_rows = "".join(
        f"<tr><td>{escape(s.category.title)}</td><td class='num'>{s.category.weight}</td>"
        f"<td class='num'>{s.score}</td><td class='num'>{s.points:.2f}</td><td>{escape(s.rationale)}"
        f"<div>{' '.join(link(e) for e in s.evidence[:4])}</div></td></tr>" for s in result.scores)
    parts.append(f"<div class='grid'><div class='card'><h3>Rubric</h3>{bars}</div><div class='card'>"
                 f"<h3>Score snapshot</h3><table><tr><th>Category</th><th>Weight</th><th>Score</th><th>Points</th>"
                 f"<th>Rationale</th></tr>{rubric_rows}</table></div></div>")
    if not full:
        return "".join(parts)
    parts.append("<div class='grid'>"
                 f"<div class='card'>{_gate_table(card.v12, link)}</div>"
                 f"<div class='card'>{_gate_table(card.theta03, link)}{_gate_table(card.kpis, link)}</div></div>")
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for verdict in view.verdicts:
        groups.setdefault(verdict.kind, []).append((verdict.check_id, verdict.status.value, verdict.reason))
    parts.append(f"<div class='card'><h3>Pass/fail matrix ({len(view.verdicts)} verdicts)</h3>"
                 f"{svg.verdict_tiles(groups) if groups else '<p>No verdicts recorded.</p>'}</div>")
    if view.timelines:
        statuses = {v.check_id: v.status.value for v in view.verdicts}
        charts = "".join(f"<div class='card'>{svg.scenario_timeline(name, doc, status=statuses.get(name, ''))}"
                         f"<div>{link(f'scenarios/{name}/timeline.json')}</div></div>"
                         for name, doc in sorted(view.timelines.items()))
        parts.append("<h3>Scenarios: throughput and latency, fault windows shaded</h3>"
                     f"<div class='grid'>{charts}</div>")
    else:
        parts.append("<p class='why'>No scenario timelines in this bundle (scenarios/&lt;id&gt;/timeline.json).</p>")
    parts.append(f"<p class='why'>{escape(basis_line(view.verdicts))}</p>")
    failing = [v for v in view.verdicts if v.status.is_failure]
    if failing:
        items = "".join(f"<tr><td>{escape(v.check_id)}</td><td>{_status(v.status.value)}</td>"
                        f"<td>{escape(v.basis or 'undeclared')}</td><td>{escape(v.reason)}"
                        f"</td><td>{' '.join(link(e) for e in (f'verdicts.json#{v.check_id}', *v.evidence)[:3])}"
                        "</td></tr>" for v in failing)
        parts.append(f"<div class='card'><h3>What failed</h3><table><tr><th>Check</th><th>Status</th>"
                     f"<th>Basis</th><th>Reason</th><th>Evidence</th></tr>{items}</table></div>")
    return "".join(parts)


def _weekly(card: Scorecard) -> str:
    heads = "".join(f"<th>{escape(s.category.short)} ({s.category.weight})</th>" for s in card.latest.rubric.scores)
    rows = "".join(
        f"<tr><td>{escape(r.view.run_date)}</td>"
        + "".join(f"<td class='num'>{s.points:.2f}</td>" for s in r.rubric.scores)
        + f"<td class='num'><b>{r.rubric.total:.2f}</b></td><td>{escape(r.rubric.decision.value)}</td>"
          f"<td class='ev'>{escape(r.run_id)}</td></tr>"
        for r in card.runs)
    labels = [r.view.run_date for r in card.runs]
    totals = svg.trend_chart(labels, {"total": [r.rubric.total for r in card.runs]}, y_max=100,
                             marks=(80, 85, 90), title="Total score")
    cats = svg.trend_chart(labels, {s.category.short: [r.rubric.score_of(s.category.key) for r in card.runs]
                                    for s in card.latest.rubric.scores}, y_max=4, title="Category scores (0-4)")
    return (f"<h2>Weekly scorecard and trend</h2><div class='card'><table><tr><th>Week Of</th>{heads}<th>Total</th>"
            f"<th>Decision</th><th>Run</th></tr>{rows}</table></div>"
            f"<div class='grid'><div class='card'>{totals}</div><div class='card'>{cats}</div></div>"
            f"{_changes(card, labels)}")


def _changes(card: Scorecard, labels: list[str]) -> str:
    """The checks that were not PASS in some week, or changed between weeks: what the trend is made of."""
    order: dict[str, None] = {}
    by_run = []
    for run in card.runs:
        statuses = {v.check_id: v.status.value for v in run.view.verdicts}
        by_run.append(statuses)
        order.update(dict.fromkeys(statuses))
    rows = [(check_id, [s.get(check_id, "") for s in by_run]) for check_id in order]
    moving = [(c, st) for c, st in rows if len(set(st)) > 1 or any(x not in ("PASS", "NOT_APPLICABLE") for x in st)]
    steady = len(rows) - len(moving)
    if not moving:
        return f"<p class='why'>All {steady} checks PASS (or not applicable) in every week.</p>"
    return (f"<div class='card'><h3>Pass/fail matrix over weeks ({len(moving)} checks failing or changing; {steady} "
            f"steady PASS not shown)</h3>{svg.history_matrix(labels, moving)}</div>")


def render_html(card: Scorecard, out: Path | None = None) -> str:
    latest = card.latest
    title = f"Scorecard {latest.run_id}" if len(card.runs) == 1 else f"Scorecard, {len(card.runs)} weeks"
    body = [f"<h1>{escape(title)}</h1><div class='sub'>pytest-spine · rubric {escape(card.rubric_source)} · "
            f"phases {escape(' '.join(PHASES))}</div>"]
    body.append(_run_section(latest, _Links(latest.view.root, out), full=True))
    if len(card.runs) > 1:
        body.append(_weekly(card))
        for older in reversed(card.runs[:-1]):
            body.append(_run_section(older, _Links(older.view.root, out), full=False))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
