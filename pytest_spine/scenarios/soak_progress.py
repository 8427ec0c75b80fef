"""What a person watching a soak sees: a rich progress bar on a real terminal, plain lines anywhere else (a CI
log must not fill with redraws): the first iterations, then at most one line every ``PLAIN_EVERY_S`` seconds
(a fast rotation runs ~100 iterations a second), and every failure. Every failing iteration is printed with
its seed and the command that replays it, in both forms.

Output goes to the real terminal through the capture manager (``global_and_fixture_disabled``), the way
pytest's own live logging does, so it shows while the soak item runs.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from pytest_spine.scenarios.soak import Iteration, OnIteration, SoakWindow

PLAIN_FIRST = 3
PLAIN_EVERY_S = 10.0
_STYLE = {"PASS": "green", "FAIL": "bold red", "BLOCKED": "red", "UNKNOWN": "yellow"}


def wants_rich(config: Any) -> bool:
    """Rich only on an interactive terminal that pytest itself colours."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    return bool(getattr(writer, "hasmarkup", False)) and bool(getattr(reporter, "isatty", False))


@contextlib.contextmanager
def soak_progress(config: Any, seconds: float, replay: Any) -> Iterator[tuple[OnIteration, Any]]:
    """Yields (on_iteration, on_done): call the first after every iteration, the second with the window."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    uncaptured = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with uncaptured:
        if wants_rich(config):
            with _rich(seconds, replay) as callbacks:
                yield callbacks
        else:
            yield _plain(config, seconds, replay)


def _plain(config: Any, seconds: float, replay: Any,
           monotonic: Any = time.monotonic) -> tuple[OnIteration, Any]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def write(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:  # an xdist worker has no terminal reporter: its stdout is the only place
            print(line, file=sys.stdout, flush=True)

    write(f"soak: repeating the scenarios with fresh seeds for {seconds:g}s")

    last = [float("-inf")]
    failed = [0]

    def on_iteration(iteration: Iteration, left: float) -> None:
        failed[0] += iteration.status.is_failure
        now = monotonic()
        if not (iteration.status.is_failure or iteration.number <= PLAIN_FIRST or now - last[0] >= PLAIN_EVERY_S):
            return
        last[0] = now
        line = (f"soak: iteration {iteration.number} {iteration.instance} {iteration.status.value} in "
                f"{iteration.seconds:.1f}s; {failed[0]} failed so far; {left:.0f}s left")
        if iteration.status.is_failure:
            line += f"; seed {iteration.seed}: {iteration.reason[:300]}; replay with: {replay(iteration)}"
        write(line)

    def on_done(window: SoakWindow) -> None:
        write(summary_line(window))

    return on_iteration, on_done


@contextlib.contextmanager
def _rich(seconds: float, replay: Any) -> Iterator[tuple[OnIteration, Any]]:
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stdout)
    progress = Progress(TextColumn("[bold]soak[/]"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), TextColumn("{task.fields[counts]}"), console=console)
    task = progress.add_task("soak", total=seconds, counts="starting")
    counts = {"done": 0, "failed": 0}

    def on_iteration(iteration: Iteration, left: float) -> None:
        counts["done"] += 1
        counts["failed"] += iteration.status.is_failure
        style = _STYLE.get(iteration.status.value, "white")
        progress.update(task, completed=max(0.0, seconds - left),
                        counts=f"{counts['done']} iterations, {counts['failed']} failed - last "
                               f"{escape(iteration.instance)} [{style}]{iteration.status.value}[/]")
        if iteration.status.is_failure:
            progress.console.print(f"[bold red]{iteration.status.value}[/] iteration {iteration.number} "
                                   f"{escape(iteration.instance)} seed {iteration.seed}: "
                                   f"{escape(iteration.reason[:300])}\n  replay with: {escape(replay(iteration))}")

    def on_done(window: SoakWindow) -> None:
        progress.update(task, completed=seconds)
        progress.console.print(escape(summary_line(window)))

    console.print()
    with progress:
        yield on_iteration, on_done


def summary_line(window: SoakWindow) -> str:
    figures = window.figures()
    shown = ", ".join(f"{k} {_fmt(figures[k])}" for k in ("command_success_rate", "poll_timeout_recovery_rate",
                                                            "duplicate_heavy_executions", "replay_rejection_ratio"))
    how = {"deadline": "reached its deadline", "interrupted": "was interrupted",
           "max_iterations": "reached its iteration bound", "blocked": "stopped: the target is unavailable",
           "nothing_applicable": "stopped: no scenario applies to this target"}[window.stopped]
    seeds = ", ".join(f"{i.instance}" for i in window.failures[:10])
    return (f"soak: {len(window.iterations)} iterations in {window.elapsed_seconds:.1f}s "
            f"(asked {window.requested_seconds:g}s) {how}; {len(window.failures)} failed"
            + (f" ({seeds})" if seeds else "") + f"; {shown}")


def _fmt(value: Any) -> str:
    if value is None:
        return "not measured"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
