"""The end-of-run terminal summary: each phase's verdict, the other checks, and where the evidence is."""

from __future__ import annotations

import io
from typing import Any

from pytest_spine.gates.catalogue import PHASE_NAMES, criteria_of
from pytest_spine.targets.base import PHASE_IDS
from pytest_spine.verdicts import Status, merge

_STYLE = {
    Status.PASS: "bold green", Status.FAIL: "bold red", Status.BLOCKED: "red", Status.UNKNOWN: "yellow",
    Status.NOT_APPLICABLE: "dim",
}


def write_summary(terminalreporter: Any, spine: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buffer = io.StringIO()
    markup = bool(getattr(terminalreporter, "hasmarkup", False))
    writer = getattr(terminalreporter, "_tw", None)
    width = max(100, int(writer.fullwidth if writer is not None else 120))
    # Colour only when pytest itself writes colour: a CI log must not fill with escape codes.
    console = Console(file=buffer, width=width, force_terminal=markup, color_system="standard" if markup else None,
                      no_color=not markup, highlight=markup)
    table = Table(title=f"Spine Green v0 — {spine.settings.env} — run {spine.settings.platform_run_id}",
                  title_justify="left")
    table.add_column("Phase")
    table.add_column("Name")
    table.add_column("Verdict")
    table.add_column("Criteria", justify="right")
    table.add_column("First problem", overflow="fold")
    verdicts = {**spine.runner.verdicts, **spine.verdicts}
    for phase in PHASE_IDS:
        phase_verdicts = [verdicts[c.check_id] for c in criteria_of(phase) if c.check_id in verdicts]
        if not phase_verdicts:
            table.add_row(phase, PHASE_NAMES[phase], "not run", "", "")
            continue
        status = merge(v.status for v in phase_verdicts)
        passed = sum(v.status is Status.PASS for v in phase_verdicts)
        na = sum(v.status is Status.NOT_APPLICABLE for v in phase_verdicts)
        problem = next((f"{v.check_id}: {v.reason}" for v in phase_verdicts if v.status.is_failure), "")
        counts = f"{passed}/{len(phase_verdicts) - na}" + (f" (+{na} n/a)" if na else "")
        table.add_row(phase, PHASE_NAMES[phase], f"[{_STYLE[status]}]{status.value}[/]", counts, problem[:160])
    console.print(table)

    others: dict[str, list[Any]] = {}
    for verdict in spine.verdicts.values():
        if verdict.kind != "gate":
            others.setdefault(verdict.kind, []).append(verdict)
    if others:
        kinds = Table(title="Invariants, scenarios and other checks", title_justify="left")
        kinds.add_column("Kind")
        kinds.add_column("Verdict")
        kinds.add_column("PASS", justify="right")
        kinds.add_column("Problems", overflow="fold")
        for kind, items in sorted(others.items()):
            status = merge(v.status for v in items)
            bad = [v.check_id for v in items if v.status.is_failure]
            kinds.add_row(kind, f"[{_STYLE[status]}]{status.value}[/]",
                          f"{sum(v.status is Status.PASS for v in items)}/{len(items)}", ", ".join(bad[:6]))
        console.print(kinds)

    why_not = spine.not_green_because()
    console.print(f"Spine Green v0: [{'bold red' if why_not else 'bold green'}]"
                  f"{'NO' if why_not else 'YES'}[/]" + (f" ({escape(why_not)})" if why_not else "")
                  + f"   evidence bundle: {spine.bundle.root}")
    console.print(f"verify it with: spine evidence verify {spine.bundle.root}   replay with: "
                  f"--spine-seed={spine.seed}" + (f" --spine-mutant={spine.settings.mutant}"
                                                  if spine.settings.mutant else ""))
    _scorecard(console, spine)
    _decision(console, spine)
    terminalreporter.write_sep("=", "pytest-spine")
    terminalreporter.write(buffer.getvalue())


def _scorecard(console: Any, spine: Any) -> None:
    from pytest_spine.rubric import render_terminal_scorecard

    try:
        render_terminal_scorecard(spine.bundle.root, console)
    except Exception as error:  # a scorecard problem must not hide the verdicts above
        console.print(f"[red]scorecard not rendered: {type(error).__name__}: {error}[/]")


def _decision(console: Any, spine: Any) -> None:
    from rich.markup import escape

    decision = getattr(spine, "decision", None)
    if decision is None:
        return
    style = "bold green" if decision.go else "bold white on red"
    console.print(f"Gate decision: [{style}]{decision.label}[/] (exit status {'0' if decision.go else 'non-zero'}): "
                  f"{escape('; '.join(decision.reasons))}")
