"""A history read as trends: its series, their change points, the changes worst first."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..judge.metrics import Better, find
from .changepoints import Step, find_steps
from .noise import resolution
from .read import History, Run
from .series import Series, TestFilter, collect_series


@dataclass(frozen=True)
class Change:
    """A change point of one series, placed at the run where the new level starts."""

    series: Series
    step: Step
    run: Run

    @property
    def change_pct(self) -> float | None:
        """The move in percent of the level before; None from a level of 0."""
        before, after = self.step.before, self.step.after
        return (after - before) / abs(before) * 100.0 if before else None

    @property
    def worse(self) -> bool | None:
        """True when the metric moved its bad way; None for a metric with no better way."""
        metric = find(self.series.metric)
        if metric is None or metric.better is Better.NEITHER:
            return None
        return (self.step.after > self.step.before) != (metric.better is Better.HIGHER)

    def to_json(self) -> dict[str, Any]:
        """`{test, metric, run, index, before, after, change_pct, worse, …}`."""
        return {
            "test": self.series.test,
            "metric": self.series.metric,
            "run": self.run.name,
            "index": self.run.index,
            "before": self.step.before,
            "after": self.step.after,
            "change_pct": self.change_pct,
            "worse": self.worse,
            "time": self.run.time,
            **({"commit": self.run.commit} if self.run.commit else {}),
            "series": self.series.identity,
            "p_value": self.step.p_value,
        }


def severity(change: Change) -> tuple[int, float]:
    """Sort key, worst first: worse moves by size, then moves with no direction, then better."""
    rank = {True: 0, None: 1, False: 2}[change.worse]
    size = abs(change.change_pct) if change.change_pct is not None else math.inf
    return rank, -size


@dataclass
class Trends:
    """Everything a trend page shows."""

    history: History
    series: list[Series]
    steps: dict[tuple[str, str, str], list[Step]] = field(default_factory=dict)

    @property
    def changes(self) -> list[Change]:
        """Every change point of every series, worst first."""
        found = [
            Change(series, step, self.history.runs[series.runs[step.index]])
            for series in self.series
            for step in self.steps.get(series.key, [])
        ]
        return sorted(found, key=severity)

    def split_at(self, series: Series) -> Run | None:
        """The run where this series started because the test's settings changed, if so."""
        earlier = [
            other
            for other in self.series
            if other.test == series.test
            and other.metric == series.metric
            and other.runs[0] < series.runs[0]
        ]
        return self.history.runs[series.runs[0]] if earlier else None


def find_trends(
    directory: Path,
    patterns: Sequence[str] = (),
    keep_test: TestFilter | None = None,
) -> Trends:
    """Read a history directory and find each series' change points."""
    history = History(directory)
    series = collect_series(history, patterns, keep_test)
    trends = Trends(history, series)
    for one in series:
        steps = find_steps(one.values, resolution(one.metric, one.values))
        if steps:
            trends.steps[one.key] = steps
    return trends
