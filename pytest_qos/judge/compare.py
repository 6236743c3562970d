"""Comparing a test's metrics with its baseline: a pure function from two results to verdicts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from ..results import Check, Comparison, MetricChange, QosResult, Verdict
from .metrics import CATALOGUE, Better, find, split_name
from .thresholds import Threshold

# A threshold given as a bare number is a percentage with no floor.
Thresholds = Mapping[str, Threshold | float]

# The comparison's data lives with the result that carries it; these names are its verdicts'.
__all__ = [
    "Comparison",
    "MetricChange",
    "Thresholds",
    "Verdict",
    "allowed",
    "compare",
    "compare_all",
    "compared_metrics",
    "format_change",
    "judge_change",
    "not_in_baseline",
    "regression_checks",
]


def regression_checks(comparison: Comparison) -> list[Check]:
    """One Check per thresholded metric, so regressions flow into every report and JUnit."""
    checks = []
    for change in comparison.changes:
        if change.threshold is None or change.verdict in (Verdict.NEW, Verdict.GONE):
            continue
        checks.append(
            Check(
                metric=change.metric,
                bound=f"change within {allowed(change)} of baseline",
                measured=change.now,
                passed=not change.failed,
                baseline=change.baseline,
                note=_regression_note(change) if change.failed else "",
            )
        )
    return checks


def _regression_note(change: MetricChange) -> str:
    moved = format_change(change.change, change.baseline, change.now)
    return f"{moved}, allowed {allowed(change)}"


def allowed(change: MetricChange) -> str:
    """The threshold in words: '20 %', or '20 % + 1 ms' with a floor."""
    text = f"{change.threshold:g} %"
    if change.floor:
        metric = find(change.metric)
        text += f" + {metric.format(change.floor) if metric else f'{change.floor:g}'}"
    return text


def format_change(change: float | None, baseline: float | None, now: float | None) -> str:
    """A signed percentage ('-12.3 %', '+4 %'), 'from 0' when the baseline was 0, else '—'."""
    if baseline is None or now is None:
        return "—"
    if now == math.inf or baseline == math.inf:
        return "lost" if now == math.inf else "was lost"
    if change is None:
        return "from 0"
    if change == 0:
        return "0 %"
    magnitude = abs(change)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 1 else 2
    return f"{change:+.{digits}f} %"


def compared_metrics(
    result: QosResult, baseline: QosResult | None, thresholds: Thresholds
) -> list[str]:
    """The metrics a comparison shows: checked and thresholded ones, else all in common."""
    now = result.metrics
    before = baseline.metrics if baseline is not None else {}
    chosen = [check.metric for check in result.checks]
    chosen += [name for name in thresholds if name in now or name in before]
    if not chosen:
        common = [name for name in now if name in before and _of_path(name)]
        order = list(CATALOGUE)
        # Flow by flow, each in catalogue order.
        chosen = sorted(common, key=lambda n: (split_name(n)[0], order.index(split_name(n)[1])))
    return list(dict.fromkeys(chosen))


def _of_path(name: str) -> bool:
    """A catalogued metric about the measured path (not the probe's own schedule)."""
    metric = find(name)
    return metric is not None and metric.of_path


def compare(
    result: QosResult,
    baseline: QosResult | None,
    thresholds: Thresholds | None = None,
    metrics: Iterable[str] | None = None,
) -> Comparison:
    """Compare a test's (median) metrics with its baseline; None: the test is not in it."""
    thresholds = thresholds or {}
    names = list(metrics) if metrics is not None else compared_metrics(result, baseline, thresholds)
    if baseline is None:
        changes = [
            MetricChange(name, None, result.metrics.get(name), None, Verdict.NEW) for name in names
        ]
        return Comparison(result.test, in_baseline=False, changes=changes)
    now_metrics, before_metrics = result.metrics, baseline.metrics
    changes = []
    for name in names:
        noise = max(result.spread.get(name, 0.0), baseline.spread.get(name, 0.0))
        changes.append(
            judge_change(
                name,
                before_metrics.get(name),
                now_metrics.get(name),
                thresholds.get(name, thresholds.get(split_name(name)[1])),
                noise,
            )
        )
    return Comparison(result.test, in_baseline=True, changes=changes)


def judge_change(
    name: str,
    before: float | None,
    now: float | None,
    threshold: Threshold | float | None,
    noise: float,
) -> MetricChange:
    """The verdict on one metric moving from `before` to `now` (base units)."""
    limit = Threshold(float(threshold)) if isinstance(threshold, (int, float)) else threshold
    percent = limit.percent if limit is not None else None
    floor = limit.floor if limit is not None else 0.0
    if before is None:
        return MetricChange(name, None, now, None, Verdict.NEW, percent, noise, floor)
    if now is None:
        return MetricChange(name, before, None, None, Verdict.GONE, percent, noise, floor)
    change = (now - before) / abs(before) * 100.0 if before != 0 else None
    if change is not None and not math.isfinite(change):
        change = None  # no percentage: to or from a lost percentile, or a change past 1e308 %
    metric = find(name)
    better = metric.better if metric else Better.NEITHER
    delta = 0.0 if now == before else now - before  # inf - inf would be NaN
    if delta == 0:
        verdict = Verdict.SAME
    elif noise > 0 and abs(delta) <= noise:
        # Repeats of either run already moved this much: not evidence of a change.
        verdict = Verdict.NOISE
    elif better is Better.NEITHER:
        verdict = Verdict.CHANGED
    elif (delta > 0) == (better is Better.HIGHER):
        verdict = Verdict.BETTER
    elif limit is not None and limit.exceeded(change, delta):
        verdict = Verdict.REGRESSION  # from 0 (e.g. no loss → some loss) exceeds any percentage
    else:
        verdict = Verdict.WORSE
    return MetricChange(name, before, now, change, verdict, percent, noise, floor)


def compare_all(
    results: Iterable[QosResult],
    baseline: Mapping[str, QosResult],
    thresholds: Thresholds | None = None,
) -> dict[str, Comparison]:
    """Every result compared with its baseline entry, keyed by test id."""
    return {
        result.test: compare(result, baseline.get(result.test), thresholds) for result in results
    }


def not_in_baseline(comparisons: Mapping[str, Comparison]) -> list[str]:
    """Tests of this run that the baseline does not have (reported, never failed)."""
    return [test for test, comparison in comparisons.items() if not comparison.in_baseline]
