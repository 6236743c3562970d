"""One PNG per series: its values across runs, its bound lines, its change points marked.

Drawn with the report's figures (report/plots.py: Agg canvas, no pyplot). A trend page has
hundreds of these, and creating a matplotlib Axes (its ticks above all) costs more than
drawing one: one figure is kept and redrawn for each series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from ..judge.metrics import find
from ..report.plots import matplotlib_available, new_figure, png_bytes
from ..units import Kind
from .changepoints import Step
from .series import Limits, Series

# How a kind of metric is drawn: multiply by the factor to get the axis' unit.
_SCALE = {
    Kind.RATE: (1e-6, "Mbit/s"),
    Kind.DURATION: (1e3, "ms"),
    Kind.PERCENT: (1.0, "%"),
    Kind.SIZE: (1.0, "bytes"),
}
_HEIGHT = 2.4


def _scale(metric: str) -> tuple[float, str]:
    known = find(metric)
    return _SCALE.get(known.kind, (1.0, "")) if known else (1.0, "")


def _limit_line(limits: Sequence[Limits], side: int, factor: float) -> list[float]:
    """One side of each run's bound, NaN where there is none (the line breaks there)."""
    line = []
    for limit in limits:
        value = limit[side]
        line.append(math.nan if value is None else value * factor)
    return line


class TrendPlotter:
    """Draws series one after another on one reused figure; None per plot without matplotlib."""

    def __init__(self) -> None:
        self.available = matplotlib_available()
        self._figure: Any = None
        self._axes: Any = None

    def _reset(self) -> Any:
        if self._figure is None:
            from matplotlib.ticker import MaxNLocator  # with matplotlib, which is optional

            self._figure = new_figure(1, _HEIGHT, layout=None)
            self._axes = self._figure.add_axes((0.08, 0.17, 0.9, 0.73))
            # Runs are whole numbers; few ticks also draw faster (text dominates the cost).
            self._axes.xaxis.set_major_locator(MaxNLocator(8, integer=True))
            self._axes.yaxis.set_major_locator(MaxNLocator(5))
        axes = self._axes
        for artist in [*axes.lines, *axes.collections, *axes.texts]:
            artist.remove()
        return axes

    def plot(self, series: Series, steps: Sequence[Step], title: str) -> bytes | None:
        """A PNG of `series` with its bounds and change points, or None without matplotlib."""
        if not self.available or not series.values:
            return None
        axes = self._reset()
        factor, unit = _scale(series.metric)
        values = [value * factor for value in series.values]
        axes.plot(series.runs, values, color="C0", marker=".", markersize=3, linewidth=0.8)
        for side in (0, 1):
            line = _limit_line(series.limits, side, factor)
            if not all(math.isnan(value) for value in line):
                axes.step(series.runs, line, where="mid", color="C3", linestyle="--", linewidth=1)
        edges = [0, *(step.index for step in steps), len(values)]
        for step in steps:
            axes.axvline(series.runs[step.index] - 0.5, color="C1", linewidth=1.5)
        for start, end in itertools.pairwise(edges):
            if steps:
                level = sorted(values[start:end])[(end - start) // 2]
                axes.plot([series.runs[start], series.runs[end - 1]], [level, level], color="0.4")
        axes.relim()
        axes.autoscale_view()
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("run", fontsize=8)
        axes.set_ylabel(f"{series.metric} ({unit})" if unit else series.metric, fontsize=8)
        axes.grid(True, alpha=0.3)
        return png_bytes(self._figure)
