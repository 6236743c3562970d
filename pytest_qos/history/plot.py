"""One inline SVG per series: its values across runs, its bound lines, its change points marked.

Written by hand (axis.py maps numbers to pixels) rather than drawn with matplotlib: a trend
page has hundreds of plots, and a matplotlib axes with its tick text cost ~60 ms of CPU each
(250 plots: 15 s of a 10 s budget). The SVG also needs no extra, scales without blur, and
keeps every run's point. Colours are matplotlib's defaults, as the report's PNG plots use.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from ..judge.metrics import find
from ..units import Kind
from .axis import Scale, data_range, tick_label, tick_step, ticks
from .changepoints import Step
from .series import Limits, Series

# How a kind of metric is drawn: multiply by the factor to get the axis' unit.
_SCALE = {
    Kind.RATE: (1e-6, "Mbit/s"),
    Kind.DURATION: (1e3, "ms"),
    Kind.PERCENT: (1.0, "%"),
    Kind.SIZE: (1.0, "bytes"),
}
VALUES, BOUND, CHANGE, LEVEL = "#1f77b4", "#d62728", "#ff7f0e", "#666666"
Y_TICKS, X_TICKS = 5, 8  # at most one more of each: few labels keep a small plot readable


@dataclass(frozen=True)
class Frame:
    """The plot's size and the plotting area inside it (pixels)."""

    width: int = 700
    height: int = 240
    left: int = 64
    right: int = 12
    top: int = 24
    bottom: int = 36


Point = tuple[float, float]


def axis_unit(metric: str) -> tuple[float, str]:
    """The factor from base units to the axis' unit, and its name ('' for none)."""
    known = find(metric)
    return _SCALE.get(known.kind, (1.0, "")) if known else (1.0, "")


def limit_lines(runs: Sequence[int], limits: Sequence[Limits], side: int) -> list[list[Point]]:
    """One side of each run's bound as steps (run, value), centred on the runs; a run with
    no bound breaks the line."""
    lines: list[list[Point]] = []
    current: list[Point] = []
    last = len(runs) - 1
    for position, (run, limit) in enumerate(zip(runs, limits, strict=True)):
        value = limit[side]
        if value is None:
            if current:
                lines.append(current)
            current = []
            continue
        begin = runs[0] if position == 0 else (runs[position - 1] + run) / 2
        finish = runs[last] if position == last else (run + runs[position + 1]) / 2
        if current and current[-1][1] == value:
            current[-1] = (finish, value)  # the same bound goes on
        else:
            current += [(begin, value), (finish, value)]
    return [*lines, current] if current else lines


def levels(runs: Sequence[int], steps: Sequence[Step]) -> list[tuple[Point, Point]]:
    """Each stretch between change points at its median: ((first run, level), (last, level));
    none without change points."""
    if not steps:
        return []
    edges = [0, *(step.index for step in steps), len(runs)]
    medians = [steps[0].before, *(step.after for step in steps)]
    return [
        ((runs[start], level), (runs[end - 1], level))
        for (start, end), level in zip(itertools.pairwise(edges), medians, strict=True)
    ]


class _Canvas:
    """The two scales of one plot and the SVG it is written as."""

    def __init__(self, frame: Frame, x: Scale, y: Scale) -> None:
        self.frame, self.x, self.y = frame, x, y
        self.parts: list[str] = []

    def points(self, points: Sequence[Point]) -> str:
        x, y = self.x.at, self.y.at
        return " ".join(f"{x(run):.1f},{y(value):.1f}" for run, value in points)

    def polyline(self, points: Sequence[Point], style: str) -> None:
        self.parts.append(f'<polyline fill="none" {style} points="{self.points(points)}"/>')

    def text(self, x: float, y: float, words: str, style: str = "") -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" {style}>{html.escape(words)}</text>')

    def axes(self, label: str, title: str) -> None:
        """Frame, grid, tick labels, axis labels and title."""
        f, x, y = self.frame, self.x, self.y
        bottom, right = f.height - f.bottom, f.width - f.right
        self.parts.append(
            f'<rect x="{f.left}" y="{f.top}" width="{right - f.left}" '
            f'height="{bottom - f.top}" fill="none" stroke="#999"/>'
        )
        step = tick_step(y.low, y.high, Y_TICKS)
        for value in ticks(y.low, y.high, Y_TICKS):
            at = y.at(value)
            self.parts.append(f'<path d="M{f.left} {at:.1f}H{right}" stroke="#ddd"/>')
            self.text(f.left - 4, at + 3.5, tick_label(value, step), 'text-anchor="end"')
        for run in ticks(x.low, x.high, X_TICKS, integer=True):
            self.text(x.at(run), bottom + 13, f"{run:.0f}", 'text-anchor="middle"')
        self.text((f.left + right) / 2, f.height - 6, "run", 'text-anchor="middle"')
        middle = (f.top + bottom) / 2
        turn = f'text-anchor="middle" transform="rotate(-90 12 {middle:.1f})"'
        self.text(12, middle, label, turn)
        self.text(f.width / 2, 15, title, 'text-anchor="middle" font-size="12"')


def _canvas(values: Sequence[Point], lines: Sequence[Sequence[Point]], frame: Frame) -> _Canvas:
    """Scales that show every value and line (bounds, levels), and a change point at any run."""
    first, last = values[0][0] - 0.5, values[-1][0] + 0.5
    low, high = data_range([value for line in [values, *lines] for _, value in line])
    bottom, right = frame.height - frame.bottom, frame.width - frame.right
    return _Canvas(
        frame,
        Scale(*data_range([first, last]), frame.left, right),
        Scale(low, high, bottom, frame.top),
    )


def plot_svg(series: Series, steps: Sequence[Step], title: str, frame: Frame = Frame()) -> str:
    """The series as an inline SVG element: values, bound lines dashed, change points marked
    (vertical lines, each stretch's median), axes in the metric's unit."""
    factor, unit = axis_unit(series.metric)
    values = [(run, value * factor) for run, value in zip(series.runs, series.values, strict=True)]
    lines = [
        [(run, value * factor) for run, value in line]
        for side in (0, 1)
        for line in limit_lines(series.runs, series.limits, side)
    ]
    medians = [list(level) for level in levels(series.runs, [_scaled(s, factor) for s in steps])]
    canvas = _canvas(values, [*lines, *medians], frame)
    canvas.axes(f"{series.metric} ({unit})" if unit else series.metric, title)
    for line in lines:
        canvas.polyline(line, f'stroke="{BOUND}" stroke-dasharray="5 3"')
    top, bottom = frame.top, frame.height - frame.bottom
    for step in steps:
        at = canvas.x.at(series.runs[step.index] - 0.5)
        change = f"change point: a new level from run {series.runs[step.index]}"
        canvas.parts.append(
            f'<path d="M{at:.1f} {top}V{bottom}" stroke="{CHANGE}" stroke-width="1.5">'
            f"<title>{change}</title></path>"
        )
    canvas.polyline(values, _VALUE_STYLE)
    for level in medians:
        canvas.polyline(level, f'stroke="{LEVEL}" stroke-width="1.5"')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{frame.height}" '
        f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-label="{html.escape(title, quote=True)}" font-family="sans-serif" font-size="10">'
        f"{''.join(canvas.parts)}</svg>"
    )


def _scaled(step: Step, factor: float) -> Step:
    return Step(step.index, step.before * factor, step.after * factor, step.p_value)


_VALUE_STYLE = f'stroke="{VALUES}" stroke-width="0.8" ' + " ".join(
    f'marker-{where}="url(#qos-dot)"' for where in ("start", "mid", "end")
)
# The dot each run's value is marked with, defined once per page (SVG markers are by id).
DOT_DEFINITION = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
    '<marker id="qos-dot" viewBox="0 0 4 4" refX="2" refY="2" markerWidth="4" markerHeight="4" '
    f'markerUnits="userSpaceOnUse"><circle cx="2" cy="2" r="1.5" fill="{VALUES}"/></marker>'
    "</defs></svg>"
)
