"""From numbers to a plot's pixels: an axis' range, its ticks, and the linear map between.

The trend page draws hundreds of plots as SVG written here (plot.py) rather than with
matplotlib, whose axes cost ~60 ms of CPU each (tick text above all): this is the little of
an axis that such a plot needs, in pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

MARGIN = 0.05  # of the span, each side of the data, as matplotlib's autoscale leaves
_NICE = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Scale:
    """The linear map of [low, high] in data onto [start, end] in pixels (end < start for y)."""

    low: float
    high: float
    start: float
    end: float

    def at(self, value: float) -> float:
        """The pixel of `value`; the middle when the range is a single number."""
        if self.high == self.low:
            return (self.start + self.end) / 2
        return self.start + (value - self.low) * (self.end - self.start) / (self.high - self.low)


def data_range(values: Iterable[float]) -> tuple[float, float]:
    """The range an axis shows for `values`: their span and a margin each side.

    A single number gets a margin of 5 % of itself (1 when it is 0), so it sits mid-axis.
    """
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    margin = (high - low) * MARGIN or abs(low) * MARGIN or 1.0
    return low - margin, high + margin


def tick_step(low: float, high: float, most: int, integer: bool = False) -> float:
    """The step of at most `most` + 1 ticks over [low, high]: 1, 2, 2.5 or 5 × 10^k."""
    raw = (high - low) / max(most, 1)
    if not raw > 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    steps = (nice * magnitude for nice in _NICE)
    if integer:  # runs: whole steps only (2.5 would put ticks between runs)
        steps = (max(step, 1.0) for step in steps if max(step, 1.0).is_integer())
    return next(step for step in steps if step >= raw * (1 - 1e-9))


def ticks(low: float, high: float, most: int = 5, integer: bool = False) -> list[float]:
    """Evenly spaced round values inside [low, high], at most `most` + 1 of them."""
    step = tick_step(low, high, most, integer)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [index * step for index in range(first, last + 1)]


def tick_label(value: float, step: float) -> str:
    """A tick's text with the digits its step needs and no float noise: '0.3', '12.5', '2'."""
    if not 1e-9 <= step < 1e15:
        return f"{value:.4g}"  # fixed-point digits past these would be noise, or overflow
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if not math.isclose(step * 10**decimals, round(step * 10**decimals), rel_tol=1e-9):
        decimals += 1  # a step of 2.5 × 10^k needs one more digit
    text = f"{value:.{decimals}f}"
    return "0" if text.lstrip("-").strip("0.") == "" else text
