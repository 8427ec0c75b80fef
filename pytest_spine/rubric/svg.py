"""Inline SVG charts for the HTML scorecard: drawn by hand so the report needs no script and no network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

STATUS_COLOURS = {
    "PASS": "#2e9e5b", "FAIL": "#d64541", "BLOCKED": "#9b2c2c", "UNKNOWN": "#e0a030",
    "NOT_APPLICABLE": "#b8bec8", "NOT_MEASURED": "#dfe3e8",
}
SCORE_COLOURS = {0: "#d64541", 1: "#e8743b", 2: "#e0a030", 3: "#7cb342", 4: "#2e9e5b"}
SERIES = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6")
FONT = "font-family='system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif'"


def _t(x: float, y: float, text: str, size: int = 12, anchor: str = "start", fill: str = "#222",
       weight: str = "normal") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' fill='{fill}' "
            f"font-weight='{weight}' {FONT}>{escape(text)}</text>")


def _svg(width: float, height: float, body: Sequence[str], label: str) -> str:
    # width 100 % with a viewBox: the chart scales to its card instead of forcing a scrollbar
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='100%' style='max-width:{width:.0f}px' "
            f"viewBox='0 0 {width:.0f} {height:.0f}' role='img' aria-label='{escape(label)}'>"
            + "".join(body) + "</svg>")


def phase_timeline(phases: Sequence[tuple[str, str, str, str]], width: int = 1280) -> str:
    """Chevrons P(-1)..P12 coloured by status: (phase, name, status, tooltip)."""
    count = max(len(phases), 1)
    step = (width - 20) / count
    height = 94
    body = []
    for i, (phase, name, status, tip) in enumerate(phases):
        x = 10 + i * step
        colour = STATUS_COLOURS.get(status, "#888")
        tip_point = 12
        points = (f"{x:.1f},14 {x + step - tip_point:.1f},14 {x + step:.1f},38 {x + step - tip_point:.1f},62 "
                  f"{x:.1f},62 {x + (tip_point if i else 0):.1f},38")
        body.append(f"<polygon points='{points}' fill='{colour}' stroke='#fff' stroke-width='2'>"
                    f"<title>{escape(phase + ' ' + name + ': ' + status + ' - ' + tip)}</title></polygon>")
        ink = "#fff" if status in ("PASS", "FAIL", "BLOCKED") else "#222"
        body.append(_t(x + step / 2 + 3, 36, phase, 13, "middle", ink, "bold"))
        mark = {"PASS": "✓", "FAIL": "✗", "BLOCKED": "✗", "NOT_APPLICABLE": "N/A", "UNKNOWN": "?"}.get(status, "?")
        body.append(_t(x + step / 2 + 3, 52, mark, 12, "middle", ink))
        words = name.lower().split("_")
        body.append(_t(x + step / 2, 76, words[0], 10, "middle", "#555"))
        body.append(_t(x + step / 2, 88, " ".join(words[1:]), 10, "middle", "#555"))
    return _svg(width, height, body, "phase timeline")


def verdict_tiles(groups: Mapping[str, Sequence[tuple[str, str, str]]], width: int = 1280) -> str:
    """A pass/fail matrix: one row of tiles per kind, each tile a check (id, status, reason on hover)."""
    tile_w, tile_h, gap, label_w = 148, 22, 4, 110
    per_row = max(int((width - label_w - 10) // (tile_w + gap)), 1)
    body: list[str] = []
    y = 6
    for kind, items in groups.items():
        rows = max((len(items) + per_row - 1) // per_row, 1)
        failed = sum(1 for _, s, _ in items if s in ("FAIL", "BLOCKED", "UNKNOWN"))
        body.append(_t(4, y + 15, kind, 12, weight="bold"))
        body.append(_t(4, y + 29, f"{len(items) - failed}/{len(items)} ok", 10, fill="#d64541" if failed else "#555"))
        for i, (check_id, status, reason) in enumerate(items):
            x = label_w + (i % per_row) * (tile_w + gap)
            ty = y + (i // per_row) * (tile_h + gap)
            colour = STATUS_COLOURS.get(status, "#888")
            ink = "#fff" if status in ("PASS", "FAIL", "BLOCKED") else "#222"
            body.append(f"<g><title>{escape(check_id + ': ' + status + ' - ' + reason)}</title>"
                        f"<rect x='{x}' y='{ty}' width='{tile_w}' height='{tile_h}' rx='3' fill='{colour}'/>"
                        + _t(x + 5, ty + 15, check_id if len(check_id) <= 22 else check_id[:21] + "…", 10,
                             fill=ink) + "</g>")
        y += rows * (tile_h + gap) + 10
    return _svg(width, max(y, 30), body, "pass/fail matrix")


def rubric_bars(rows: Sequence[tuple[str, int, int, float]], total: float, thresholds: Sequence[float],
                width: int = 640) -> str:
    """One bar per category (title, weight, score, points) against its weight, and the total against 80/85/90."""
    label_w, bar_w, bar_h, gap = 270, width - 370, 22, 10
    body: list[str] = []
    y = 10
    for title, weight, score, points in rows:
        body.append(_t(label_w - 8, y + 16, f"{title} ({weight})", 12, "end"))
        body.append(f"<rect x='{label_w}' y='{y}' width='{bar_w}' height='{bar_h}' fill='#eef0f3' rx='3'/>")
        body.append(f"<rect x='{label_w}' y='{y}' width='{bar_w * score / 4:.1f}' height='{bar_h}' "
                    f"fill='{SCORE_COLOURS[score]}' rx='3'><title>{escape(title)}: {score}/4</title></rect>")
        for tick in (1, 2, 3):
            tx = label_w + bar_w * tick / 4
            body.append(f"<line x1='{tx:.1f}' y1='{y}' x2='{tx:.1f}' y2='{y + bar_h}' stroke='#fff' stroke-width='1'/>")
        body.append(_t(label_w + bar_w + 8, y + 16, f"{score}/4 · {points:.2f} pts", 12))
        y += bar_h + gap
    y += 8
    body.append(_t(label_w - 8, y + 18, "Total (100)", 13, "end", weight="bold"))
    body.append(f"<rect x='{label_w}' y='{y}' width='{bar_w}' height='26' fill='#eef0f3' rx='3'/>")
    colour = "#2e9e5b" if total >= thresholds[-1] else ("#7cb342" if total >= thresholds[0] else "#e0a030")
    body.append(f"<rect x='{label_w}' y='{y}' width='{bar_w * total / 100:.1f}' height='26' fill='{colour}' rx='3'/>")
    for mark in thresholds:
        mx = label_w + bar_w * mark / 100
        body.append(f"<line x1='{mx:.1f}' y1='{y - 4}' x2='{mx:.1f}' y2='{y + 30}' stroke='#333' "
                    "stroke-dasharray='3,2'/>")
    marks = " · ".join(f"{m:g}" for m in thresholds)
    body.append(_t(label_w + bar_w * thresholds[0] / 100, y + 44, f"thresholds {marks}", 10, "middle", "#333"))
    body.append(_t(label_w + bar_w + 8, y + 18, f"{total:.2f}", 14, weight="bold"))
    return _svg(width, y + 50, body, "rubric scores")


def _scale(values: Sequence[float], low: float, high: float, lo_px: float, hi_px: float) -> list[float]:
    span = (high - low) or 1.0
    return [lo_px + (v - low) / span * (hi_px - lo_px) for v in values]


def trend_chart(labels: Sequence[str], series: Mapping[str, Sequence[float]], *, y_max: float,
                marks: Sequence[float] = (), title: str = "", width: int = 640, height: int = 240) -> str:
    """Lines over runs (x = week), with dashed threshold marks; a single run is drawn as points."""
    left, right, top, bottom = 44, 120, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    xs = [left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2) for i in range(n)]
    body = [_t(left, 14, title, 12, weight="bold")]
    for frac in (0, 0.25, 0.5, 0.75, 1):
        gy = top + plot_h * (1 - frac)
        body.append(f"<line x1='{left}' y1='{gy:.1f}' x2='{left + plot_w}' y2='{gy:.1f}' stroke='#e5e7eb'/>")
        body.append(_t(left - 6, gy + 4, f"{y_max * frac:g}", 10, "end", "#666"))
    for mark in marks:
        my = top + plot_h * (1 - mark / y_max)
        body.append(f"<line x1='{left}' y1='{my:.1f}' x2='{left + plot_w}' y2='{my:.1f}' stroke='#888' "
                    "stroke-dasharray='4,3'/>")
        body.append(_t(left + plot_w + 4, my + 4, f"{mark:g}", 10, fill="#666"))
    for i, label in enumerate(labels):
        body.append(_t(xs[i], height - 12, label, 10, "middle", "#444"))
    for idx, (name, values) in enumerate(series.items()):
        colour = SERIES[idx % len(SERIES)]
        ys = [top + plot_h * (1 - v / y_max) for v in values]
        if n > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
            body.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2.5'/>")
        for x, y, v in zip(xs, ys, values, strict=True):
            body.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='4' fill='{colour}'><title>{escape(name)}: {v:g}"
                        "</title></circle>")
        body.append(f"<rect x='{left + plot_w + 30}' y='{top + idx * 16}' width='10' height='10' fill='{colour}'/>")
        body.append(_t(left + plot_w + 44, top + idx * 16 + 9, name, 10))
    return _svg(width, height, body, title or "trend")


def fault_windows(timeline: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The fault windows of a timeline and whether they are in workload progress (0..1) rather than seconds.

    Two forms are read: ``faults: [{name, start, stop}]`` in seconds, or the scenario runner's
    ``events: [{progress, fault, action: inject|rollback, ok}]`` (an inject without a rollback runs to the end).
    """
    listed = timeline.get("faults")
    if isinstance(listed, list) and listed:
        return [dict(f) for f in listed if isinstance(f, Mapping)], False
    windows: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for event in timeline.get("events", []):
        if not isinstance(event, Mapping) or _num(event.get("progress")) is None:
            continue
        name, action = str(event.get("fault", "fault")), event.get("action")
        if action == "inject":
            window = {"name": name, "start": float(event["progress"]), "stop": None, "ok": bool(event.get("ok"))}
            open_[name] = window
            windows.append(window)
        elif action == "rollback" and name in open_:
            window = open_.pop(name)
            window["stop"] = float(event["progress"])
            window["ok"] = window["ok"] and bool(event.get("ok"))
    return windows, True


def scenario_timeline(scenario: str, timeline: Mapping[str, Any], width: int = 640, height: int = 220,
                      status: str = "") -> str:
    """Throughput (left axis) and latency p50/p95 (right axis) over time, fault windows shaded and named."""
    samples = [s for s in timeline.get("samples", []) if isinstance(s, Mapping) and _num(s.get("t")) is not None]
    faults, in_progress = fault_windows(timeline)
    left, right, top, bottom = 50, 56, 26, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    title = f"{scenario}  {status}" if status else scenario
    body = [_t(left, 16, title, 12, weight="bold", fill=STATUS_COLOURS.get(status, "#222") if status != "PASS"
               else "#222")]
    if samples and in_progress:
        # Progress (0..1 of the workload) mapped onto the sampled time span.
        first, last = float(samples[0]["t"]), float(samples[-1]["t"])
        for fault in faults:
            fault["start"] = first + fault["start"] * (last - first)
            fault["stop"] = None if fault["stop"] is None else first + fault["stop"] * (last - first)
    if not samples:
        body.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='#f6f8fa'/>")
        for fault in faults:
            start = float(fault["start"])
            stop = 1.0 if fault["stop"] is None else float(fault["stop"])
            if not in_progress:
                continue
            fx0, fx1 = left + start * plot_w, left + stop * plot_w
            colour = "#d64541" if fault.get("ok", True) else "#9b2c2c"
            body.append(f"<rect x='{fx0:.1f}' y='{top}' width='{max(fx1 - fx0, 2):.1f}' height='{plot_h}' "
                        f"fill='{colour}' fill-opacity='0.18'><title>{escape(str(fault['name']))}: "
                        f"{start:.0%}-{stop:.0%} of the workload</title></rect>")
            body.append(_t(fx0 + 3, top + 12, str(fault["name"]), 9, fill="#a33"))
        body.append(_t(left + plot_w / 2, top + plot_h / 2 + 4, "no throughput/latency samples in this timeline",
                       11, "middle", "#888"))
        body.append(_t(left, height - 10, "0 %", 9, fill="#666"))
        body.append(_t(left + plot_w, height - 10, "100 % of workload", 9, "end", "#666"))
        return _svg(width, height, body, f"timeline of {scenario}")
    ts = [float(s["t"]) for s in samples]
    t0 = min([*ts, *(_num(f.get("start")) or ts[0] for f in faults)])
    t1 = max([*ts, *(_num(f.get("stop")) or ts[-1] for f in faults)])
    xs = _scale(ts, t0, t1, left, left + plot_w)
    for fault in faults:
        begin, maybe_stop = _num(fault.get("start")), _num(fault.get("stop"))
        if begin is None:
            continue
        end = t1 if maybe_stop is None else maybe_stop
        fx0, fx1 = _scale([begin, end], t0, t1, left, left + plot_w)
        name = str(fault.get("name", "fault"))
        body.append(f"<rect x='{fx0:.1f}' y='{top}' width='{max(fx1 - fx0, 2):.1f}' height='{plot_h}' "
                    f"fill='#d64541' fill-opacity='0.13'><title>{escape(name)}: {begin:g}-{end:g}</title></rect>")
        body.append(_t(fx0 + 3, top + 11, name, 9, fill="#a33"))
    throughput = [_num(s.get("throughput")) or 0.0 for s in samples]
    p50 = [_num(s.get("latency_p50_ms")) or 0.0 for s in samples]
    p95 = [_num(s.get("latency_p95_ms")) or 0.0 for s in samples]
    tp_max = max(throughput) or 1.0
    lat_max = max([*p95, *p50]) or 1.0
    body.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#999'/>")
    for values, top_value, colour, dash in ((throughput, tp_max, "#3366cc", ""), (p50, lat_max, "#ff9900", ""),
                                            (p95, lat_max, "#dc3912", "stroke-dasharray='5,3'")):
        ys = _scale(values, 0, top_value * 1.1, top + plot_h, top)
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        body.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2' {dash}/>")
    body.append(_t(left - 4, top + 8, f"{tp_max * 1.1:.0f}", 9, "end", "#3366cc"))
    body.append(_t(left - 4, top + plot_h, "0", 9, "end", "#3366cc"))
    body.append(_t(left + plot_w + 4, top + 8, f"{lat_max * 1.1:.0f} ms", 9, fill="#dc3912"))
    body.append(_t(left, height - 10, f"t={t0:g}s", 9, fill="#666"))
    body.append(_t(left + plot_w, height - 10, f"t={t1:g}s", 9, "end", "#666"))
    legend = (("throughput /s", "#3366cc"), ("p50 ms", "#ff9900"), ("p95 ms", "#dc3912"))
    for i, (name, colour) in enumerate(legend):
        lx = left + 150 + i * 100
        body.append(f"<rect x='{lx}' y='{height - 19}' width='10' height='10' fill='{colour}'/>")
        body.append(_t(lx + 14, height - 10, name, 9))
    return _svg(width, height, body, f"timeline of {scenario}")


def _num(value: Any) -> float | None:
    return None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)


def history_matrix(labels: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]], width: int = 1280) -> str:
    """Checks (rows) by week (columns): one cell per verdict status, absent checks left blank."""
    label_w, cell_w, cell_h = 260, min(90, (width - 270) / max(len(labels), 1)), 16
    body: list[str] = []
    for j, label in enumerate(labels):
        body.append(_t(label_w + j * cell_w + cell_w / 2, 14, label, 10, "middle", "#444"))
    for i, (check_id, statuses) in enumerate(rows):
        y = 22 + i * (cell_h + 2)
        body.append(_t(label_w - 8, y + 12, check_id if len(check_id) <= 40 else check_id[:39] + "…", 10, "end"))
        for j, status in enumerate(statuses):
            if not status:
                continue
            body.append(f"<rect x='{label_w + j * cell_w + 2:.1f}' y='{y}' width='{cell_w - 4:.1f}' height='{cell_h}' "
                        f"rx='2' fill='{STATUS_COLOURS.get(status, '#888')}'><title>{escape(check_id)} "
                        f"{escape(labels[j])}: {status}</title></rect>")
    return _svg(width, 26 + len(rows) * (cell_h + 2), body, "pass/fail matrix over weeks")
