"""The verdict of a run's newest value against its own history (`--qos-trend`).

The reference is the series' newest stable stretch: its runs since the last change point
(changepoints.py), at most `REFERENCE_RUNS` of them, and at least `MIN_HISTORY`. The newest
value is outside the noise that stretch shows when it lies beyond a one-sided Student-t
prediction interval at `SIGNIFICANCE`: further from the stretch's mean than
t(1 − SIGNIFICANCE, n − 1) · s · √(1 + 1/n), s their standard deviation (never below the
metric's resolution, noise.py). With normally distributed noise that says "worse" for one
value in a thousand that is not; a drop of 5× the noise is caught at its first run about 9
times in 10 once the stretch has 20 runs, about half the time with 8.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..judge.compare import Comparison, MetricChange, Verdict
from ..judge.metrics import Better, find, format_metric
from ..results import Check, QosResult
from .changepoints import find_steps, libraries
from .identity import series_identity
from .noise import resolution
from .read import History, read_runs
from .series import default_metrics

MIN_HISTORY = 8  # earlier runs of the same test and settings before a verdict is given
REFERENCE_RUNS = 30
SIGNIFICANCE = 0.001
HISTORY_RUNS = 200  # newest run files read at the start of a --qos-trend run
BOUND_TEXT = "within its history's noise"

Past = dict[tuple[str, str], dict[str, list[float]]]


@dataclass(frozen=True)
class Reference:
    """The runs a new value is judged against."""

    values: Sequence[float]
    since_change: bool  # the stretch starts at a change point found in the history

    def describe(self, metric: str) -> str:
        """'the last 12 runs (19.9–20.1 Mbit/s, median 20 Mbit/s)'."""
        median = statistics.median(self.values)
        span = value_range(metric, min(self.values), max(self.values))
        since = " since its last change point" if self.since_change else ""
        return (
            f"the last {len(self.values)} runs{since} ({span}, median "
            f"{format_metric(metric, median)})"
        )


def value_range(metric: str, low: float, high: float) -> str:
    """'19.9–20.1 Mbit/s': the unit once when both ends share it."""
    first, last = format_metric(metric, low), format_metric(metric, high)
    if first == last:
        return first
    number, _, unit = first.rpartition(" ")
    if number and last.endswith(f" {unit}"):
        first = number
    return f"{first}–{last}"


def reference(metric: str, past: Sequence[float]) -> Reference:
    """The newest stable stretch of a metric's past values."""
    steps = find_steps(past, resolution(metric, past))
    start = steps[-1].index if steps else 0
    return Reference(past[start:][-REFERENCE_RUNS:], bool(steps))


def outside(metric: str, now: float, values: Sequence[float]) -> float:
    """How far `now` is beyond the prediction interval of `values` (0 when inside; signed)."""
    _, _, stats = libraries()
    count = len(values)
    mean = statistics.fmean(values)
    spread = max(statistics.stdev(values), resolution(metric, values))
    limit = float(stats.t.ppf(1 - SIGNIFICANCE, count - 1)) * spread * math.sqrt(1 + 1 / count)
    delta = now - mean
    return 0.0 if abs(delta) <= limit else delta


def judge_value(metric: str, now: float | None, past: Sequence[float], fail: bool) -> MetricChange:
    """One metric's newest value against its past values (oldest first)."""
    if now is None:
        return MetricChange(metric, None, None, None, Verdict.GONE, note="not measured now")
    if not past:
        return MetricChange(metric, None, now, None, Verdict.NEW, note="no history yet")
    ref = reference(metric, past)
    median = statistics.median(ref.values)
    change = (now - median) / abs(median) * 100.0 if median else None
    if len(ref.values) < MIN_HISTORY:
        since = " since its last change point" if ref.since_change else ""
        note = f"history too short: {len(ref.values)} of {MIN_HISTORY} runs{since}"
        return MetricChange(metric, median, now, change, Verdict.NEW, note=note)
    beyond = outside(metric, now, ref.values)
    known = find(metric)
    better = known.better if known else Better.NEITHER
    if not beyond:
        verdict, where = Verdict.NOISE, "within"
    else:
        where = "below" if beyond < 0 else "above"
        if better is Better.NEITHER:
            verdict = Verdict.CHANGED
        elif (beyond > 0) == (better is Better.HIGHER):
            verdict = Verdict.BETTER
        else:
            verdict = Verdict.REGRESSION if fail else Verdict.WORSE
    note = f"{where} {ref.describe(metric)}"
    spread = max(ref.values) - min(ref.values)
    return MetricChange(metric, median, now, change, verdict, None, spread, note=note)


def trend_checks(trend: Comparison) -> list[Check]:
    """One check per judged metric (--qos-trend-fail): a regression fails the test."""
    return [
        Check(
            metric=change.metric,
            bound=BOUND_TEXT,
            measured=change.now,
            passed=not change.failed,
            baseline=change.baseline,
            note=change.note if change.failed else "",
        )
        for change in trend.changes
        if change.verdict in (Verdict.NOISE, Verdict.WORSE, Verdict.REGRESSION, Verdict.BETTER)
    ]


def past_values(history: History, newest: int = HISTORY_RUNS) -> Past:
    """{(test, identity): {metric: values, oldest first}} of the newest runs of a history."""
    past: Past = {}
    for _, results in read_runs(history, newest):
        for result in results:
            metrics = past.setdefault((result["test"], series_identity(result)), {})
            for name, value in result.get("metrics", {}).items():
                metrics.setdefault(name, []).append(float(value))
    return past


@dataclass
class TrendJudge:
    """Judges each result of a run against the history read when the run started."""

    past: Past
    fail: bool = False  # --qos-trend-fail: a regression against the history fails the test
    notes: list[str] = field(default_factory=list)  # history files skipped while reading

    def judge(self, result: QosResult) -> Comparison:
        """Attach `result.trend`; with `fail`, a check per judged metric (these can fail)."""
        data: Mapping[str, Any] = result.to_json()
        past = self.past.get((result.test, series_identity(data)), {})
        metrics = result.metrics
        changes = [
            judge_value(name, metrics.get(name), past.get(name, []), self.fail)
            for name in default_metrics(data)
        ]
        result.trend = Comparison(result.test, in_baseline=bool(past), changes=changes)
        if self.fail:
            result.checks += trend_checks(result.trend)
        return result.trend
