"""Benchmark baselines for ``spine bench KIND --save PATH`` and ``--compare PATH [--fail-over PCT]``.

A nightly job saves each night's figures and compares them with a kept baseline; a figure that got worse by
more than the allowed percentage is a regression and the command exits 1 (pytest-benchmark's
``--benchmark-compare-fail`` habit). Which way is better is read from the figure's name: ``*_per_second`` is
higher-is-better; seconds, milliseconds and memory (``*seconds``, ``*_ms``, ``*_s``, ``*_mib``, ``*_bytes``) are
lower-is-better; other figures (counts) are shown, never judged. Two runs with different workload arguments
measure different things, so they are not compared.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_spine.errors import ConfigError

RECORD_VERSION = 1
DEFAULT_FAIL_OVER_PCT = 20.0  # consecutive runs on a shared 2-core machine differ by ~12 %
# Arguments that say where or how to reach things, not what was measured (a DSN may also hold a password).
_NOT_WORKLOAD = frozenset({"func", "json", "save", "compare", "fail_over", "bench_kind", "command", "stack_dir",
                           "dsn"})
_LOWER_IS_BETTER = ("seconds", "_ms", "_s", "_mib", "_mb", "_bytes")


def direction(figure: str) -> str | None:
    """"higher" or "lower" (is better), or None for a figure that is only shown."""
    if figure.endswith("_per_second") or figure.endswith("_per_s"):
        return "higher"
    if figure.endswith(_LOWER_IS_BETTER):
        return "lower"
    return None


def workload(args: Any) -> dict[str, Any]:
    return {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_WORKLOAD}


def record(kind: str, args: Any, figures: Mapping[str, Any], now: _dt.datetime | None = None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("pytest-spine")
    except PackageNotFoundError:
        ours = "unknown"
    return {
        "record_version": RECORD_VERSION,
        "bench": kind,
        "saved_at_utc": (now or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pytest_spine": ours,
        "machine_info": {"python": platform.python_version(), "implementation": platform.python_implementation(),
                         "machine": platform.machine(), "system": platform.system(), "cpus": os.cpu_count()},
        "workload": workload(args),
        "figures": dict(figures),
    }


def _exists(path: Path) -> ConfigError:
    return ConfigError(f"--save {path}: the file exists and a saved benchmark is never overwritten; save to a new "
                       "path (e.g. one per night) or delete it first")


def refuse_existing(path: Path) -> None:
    """Checked before a long measurement, so it never ends in "cannot save"."""
    if path.exists():
        raise _exists(path)


def save(path: Path, document: Mapping[str, Any]) -> None:
    """Write once: a kept baseline is never overwritten by accident."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as out:
            json.dump(document, out, indent=2, sort_keys=True, default=str)
            out.write("\n")
    except FileExistsError:
        raise _exists(path) from None


def load(path: Path, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--compare {path}: no such file; make a baseline with --save {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise ConfigError(f"--compare {path} cannot be read as a saved benchmark ({bad})") from None
    if not isinstance(document, dict) or not isinstance(document.get("figures"), dict):
        raise ConfigError(f"--compare {path} is not a saved benchmark (no 'figures' mapping); make one with --save")
    if document.get("bench") != kind:
        raise ConfigError(f"--compare {path} holds a {document.get('bench')!r} benchmark, not {kind!r}")
    return document


@dataclass(frozen=True, slots=True)
class Comparison:
    figure: str
    baseline: Any
    now: Any
    change_pct: float | None  # + is an increase, whatever the direction
    better: str | None  # "higher" / "lower" / None (shown only)
    regression: bool

    @property
    def verdict(self) -> str:
        if self.better is None or self.change_pct is None:
            return "-"
        return "REGRESSION" if self.regression else "ok"


def compare(baseline: Mapping[str, Any], kind: str, args: Any, figures: Mapping[str, Any],
            fail_over_pct: float = DEFAULT_FAIL_OVER_PCT) -> list[Comparison]:
    """Every figure of either run; a judged figure worse than the baseline by more than ``fail_over_pct``
    percent is a regression. Raises ConfigError when the two runs measured different workloads."""
    if fail_over_pct < 0:
        raise ConfigError(f"--fail-over must be a percentage >= 0, given: {fail_over_pct}")
    then = baseline.get("workload")
    now_workload = workload(args)
    if isinstance(then, dict) and then != now_workload:
        differs = sorted(k for k in set(then) | set(now_workload) if then.get(k) != now_workload.get(k))
        shown = ", ".join(f"{k}: {then.get(k)!r} then, {now_workload.get(k)!r} now" for k in differs)
        raise ConfigError(f"the baseline measured another {kind} workload ({shown}); run with the baseline's "
                          "arguments, or save a new baseline")
    old = baseline["figures"]
    rows = []
    for name in list(dict.fromkeys([*old, *figures])):
        before, after = old.get(name), figures.get(name)
        change = _change(before, after)
        better = direction(name)
        worse = None if change is None or better is None else (-change if better == "higher" else change)
        rows.append(Comparison(name, before, after, change, better,
                               regression=worse is not None and worse > fail_over_pct))
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _change(before: Any, after: Any) -> float | None:
    b, a = _number(before), _number(after)
    if b is None or a is None or b == 0:
        return None
    return (a - b) / abs(b) * 100.0
