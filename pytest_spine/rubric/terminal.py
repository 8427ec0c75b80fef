"""The scorecard in a terminal (rich): what ``spine scorecard`` prints and what ends a ``pytest --spine-env`` run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_spine.rubric.engine import RubricResult
from pytest_spine.rubric.scorecard import NOT_MEASURED, Gate, RunCard, Scorecard, basis_line

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {"PASS": "green", "FAIL": "bold red", "BLOCKED": "red", "UNKNOWN": "yellow",
          "NOT_APPLICABLE": "dim", NOT_MEASURED: "dim yellow"}
_DECISION_STYLE = {"No-Go": "bold white on red", "Stay in Phase 1": "bold yellow", "Hardening complete": "bold cyan",
                   "Enter Phase 2": "bold green", "Enter Phase 3": "bold green"}


def _esc(text: object) -> str:
    """Evidence text is data, never rich markup: a reason like "verdicts[3]" must print as written."""
    from rich.markup import escape

    return escape(str(text))


def _status(text: str) -> str:
    return f"[{_STYLE.get(text, 'white')}]{text}[/]"


def rubric_table(result: RubricResult, title: str = "Weighted reliability rubric") -> object:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("Category")
    table.add_column("Weight", justify="right")
    table.add_column("Score (0-4)", justify="right")
    table.add_column("Weighted Points", justify="right")
    explained = any(row.rationale for row in result.scores)
    if explained:
        table.add_column("Rationale", overflow="fold")
    for row in result.scores:
        cells = [row.category.title, str(row.category.weight), str(row.score), f"{row.points:.2f}"]
        table.add_row(*cells, *([_esc(row.rationale) or "-"] if explained else []))
    table.add_section()
    table.add_row("[bold]Total[/]", "100", "", f"[bold]{result.total:.2f}[/]", *([""] if explained else []))
    return table


def print_rubric(result: RubricResult, console: Console) -> None:
    console.print(rubric_table(result))
    style = _DECISION_STYLE.get(result.decision.value, "bold")
    console.print(f"Total Score: [bold]{result.total:.2f} / 100[/]")
    console.print(f"Phase Decision: [{style}]{result.decision.long}[/]")
    for reason in result.no_go:
        console.print(f"  [red]No-Go:[/] {_esc(reason)}")
    for note in result.notes:
        console.print(f"  [dim]{_esc(note)}[/]")


def gate_table(gate: Gate) -> object:
    from rich.table import Table
    from rich.text import Text

    if all(r.status == NOT_MEASURED for r in gate.rows):
        # Nothing measured: one line says so and why, instead of a table of blanks.
        names = ", ".join(r.label for r in gate.rows)
        return Text.from_markup(f"{gate.name}: {_status(NOT_MEASURED)} ({_esc(names)}) - "
                                f"{_esc(gate.note or gate.rows[0].reason)}")

    table = Table(title=f"{gate.name}: {_status(gate.status)}", title_justify="left")
    for name, justify in (("Check", "left"), ("Value", "right"), ("Threshold", "left"), ("Status", "left"),
                          ("Evidence", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in gate.rows:
        evidence = row.evidence[0] if row.evidence else ("-" if row.status == NOT_MEASURED else row.reason)
        table.add_row(_esc(row.label), _esc(row.value), _esc(row.threshold), _status(row.status), _esc(evidence))
    if gate.note:
        table.caption = _esc(gate.note)
        table.caption_justify = "left"
    return table


def print_card(card: RunCard, console: Console) -> None:
    view = card.view
    console.rule(f"[bold]Scorecard[/] run {_esc(view.platform_run_id)} ({_esc(view.env)}, {view.run_date})")
    green = card.spine_green
    console.print(f"Spine Green v0: {_status(green.status)} [bold]{green.value}[/] - {_esc(green.reason)}")
    phases = "  ".join(f"[{_STYLE.get(r.status, 'white')}]{r.key}[/]" for r in card.phases.rows)
    console.print(f"Phases: {phases}")
    print_rubric(card.rubric, console)
    for gate in (card.v12, card.kpis, card.theta03):
        console.print(gate_table(gate))
    counts: dict[str, int] = {}
    for verdict in view.verdicts:
        counts[verdict.status.value] = counts.get(verdict.status.value, 0) + 1
    summary = ", ".join(f"{_status(k)} {v}" for k, v in sorted(counts.items()))
    console.print(f"Verdicts: {summary or 'none'}   Evidence: {_esc(view.root)}")
    console.print(_esc(basis_line(view.verdicts)))


def print_weekly(card: Scorecard, console: Console) -> None:
    from rich.table import Table

    table = Table(title="Weekly scorecard", title_justify="left")
    table.add_column("Week Of")
    for score in card.latest.rubric.scores:
        table.add_column(f"{score.category.short} ({score.category.weight})", justify="right")
    table.add_column("Total", justify="right")
    table.add_column("Δ", justify="right")
    table.add_column("Decision")
    for run, trend in zip(card.runs, card.trend(), strict=True):
        delta = trend["total_delta"]
        table.add_row(run.view.run_date, *(f"{s.points:.2f}" for s in run.rubric.scores), f"{run.rubric.total:.2f}",
                      f"{delta:+.2f}" if run is not card.runs[0] else "", run.rubric.decision.value)
    console.print(table)


def print_scorecard(card: Scorecard, console: Console) -> None:
    for run in card.runs if len(card.runs) == 1 else card.runs[-1:]:
        print_card(run, console)
    if len(card.runs) > 1:
        print_weekly(card, console)


def render_terminal_scorecard(bundle_dir: Path, console: Console) -> Scorecard | None:
    """End-of-run summary the plugin calls: verify the sealed bundle, then print its scorecard.

    Returns the scorecard (the caller may use ``latest.rubric.decision`` for the exit status), or None when
    verification rejects the bundle - then the refusal and its reasons are printed instead of a score.
    """
    from pytest_spine.errors import SpineError
    from pytest_spine.rubric.bundles import load_verified
    from pytest_spine.rubric.scorecard import build_scorecard

    try:
        card = build_scorecard([load_verified(Path(bundle_dir))])
    except SpineError as refused:  # the run's own outcome stands; only the summary is withheld
        from rich.markup import escape

        console.print(f"[bold red]No scorecard:[/] {escape(str(refused))}", soft_wrap=True)
        return None
    print_scorecard(card, console)
    return card
