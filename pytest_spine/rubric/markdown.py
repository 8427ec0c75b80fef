"""The scorecard as Markdown, in the shape of seed 004's week tables (snapshot, weekly entry, evidence used)."""

from __future__ import annotations

from pytest_spine.rubric.engine import RubricResult
from pytest_spine.rubric.scorecard import Gate, RunCard, Scorecard, basis_line


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _link(path: str) -> str:
    return f"`{_cell(path)}`"


def rubric_markdown(result: RubricResult) -> list[str]:
    lines = ["| Category | Weight | Score (0-4) | Weighted Points | Rationale | Evidence |",
             "|---|---:|---:|---:|---|---|"]
    for row in result.scores:
        evidence = ", ".join(_link(e) for e in row.evidence[:3]) or "-"
        lines.append(f"| {row.category.title} | {row.category.weight} | {row.score} | {row.points:.2f} | "
                     f"{_cell(row.rationale) or '-'} | {evidence} |")
    lines += ["", f"**Total Score:** **{result.total:.2f} / 100**", "",
              f"**Phase Decision:** **{result.decision.long}**"]
    lines += [f"- No-Go: {_cell(r)}" for r in result.no_go]
    lines += [f"- {_cell(n)}" for n in result.notes]
    return lines


def gate_markdown(gate: Gate) -> list[str]:
    note = [gate.note, ""] if gate.note else []
    lines = [f"### {gate.name}: {gate.status}", "", *note, "| Check | Value | Threshold | Status | Decided by |",
             "|---|---:|---|---|---|"]
    for row in gate.rows:
        decided = ", ".join(_link(e) for e in row.evidence[:2]) or _cell(row.reason)
        lines.append(f"| {_cell(row.label)} | {_cell(row.value)} | {_cell(row.threshold)} | {row.status} | "
                     f"{decided} |")
    return lines


def weekly_markdown(card: Scorecard) -> list[str]:
    heads = " | ".join(f"{s.category.short} ({s.category.weight})" for s in card.latest.rubric.scores)
    lines = [f"| Week Of | {heads} | Total | Decision |", "|---|" + "---:|" * (len(card.latest.rubric.scores) + 1)
             + "---|"]
    for run in card.runs:
        cells = " | ".join(f"{s.points:.2f}" for s in run.rubric.scores)
        lines.append(f"| {run.view.run_date} | {cells} | {run.rubric.total:.2f} | {run.rubric.decision.value} |")
    return lines


def card_markdown(card: RunCard) -> list[str]:
    view = card.view
    green = card.spine_green
    lines = [f"## Run {view.platform_run_id} ({view.env}, {view.run_date})", "",
             f"**Spine Green v0:** **{green.value}** ({green.status}) - {_cell(green.reason)}", "",
             "### Score Snapshot", ""]
    lines += rubric_markdown(card.rubric)
    lines += ["", "### Phases", "", "| Phase | Status | Checks | Decided by |", "|---|---|---|---|"]
    for row in card.phases.rows:
        lines.append(f"| {row.key} | {row.status} | {row.value} | "
                     f"{', '.join(_link(e) for e in row.evidence[:2]) or _cell(row.reason)} |")
    for gate in (card.v12, card.kpis, card.theta03):
        lines += ["", *gate_markdown(gate)]
    lines += ["", f"_{basis_line(view.verdicts)}_"]
    lines += ["", "### Evidence Used", ""]
    lines += [f"- {_link(path)}" for path in view.files if not path.startswith(".")][:40]
    return lines


def render_markdown(card: Scorecard) -> str:
    lines = ["# Reliability scorecard", "", f"Rubric: `{card.rubric_source}`", "", "## Weekly Scorecard", ""]
    lines += weekly_markdown(card)
    if len(card.runs) > 1:
        lines += ["", "## Trend", "", "| Week Of | Total | Δ Total | Changed categories |", "|---|---:|---:|---|"]
        for row in card.trend():
            changed = ", ".join(f"{k} {v:+d}" for k, v in row["score_delta"].items() if v) or "no change"
            lines.append(f"| {row['week_of']} | {row['total']:.2f} | {row['total_delta']:+.2f} | {changed} |")
    for run in reversed(card.runs):
        lines += ["", *card_markdown(run)]
    return "\n".join(lines) + "\n"
