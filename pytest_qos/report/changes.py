"""Changes in words: '-12.3 %', 'REGRESSION (-48.1 %, allowed 5 %)', failure messages.

Against the baseline (--qos-compare) and against the test's own history (--qos-trend).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..judge.compare import Comparison, MetricChange, Verdict, allowed, format_change
from ..judge.metrics import Better, find, lookup
from ..results import QosResult


def describe(change: MetricChange) -> str:
    """'-12.3 %', '+4 %', 'from 0' or '—'."""
    return format_change(change.change, change.baseline, change.now)


def explain(change: MetricChange) -> str:
    """The verdict with its reason, e.g. 'REGRESSION (-48.1 %, allowed 5 %)'."""
    if change.verdict is Verdict.REGRESSION:
        return f"REGRESSION ({describe(change)}, allowed {allowed(change)})"
    if change.verdict is Verdict.WORSE and change.threshold is not None:
        return f"worse, within {allowed(change)}"
    if change.verdict is Verdict.NOISE:
        metric = find(change.metric)
        spread = metric.format(change.noise) if metric else f"{change.noise:g}"
        return f"within noise (spread {spread})"
    return str(change.verdict.value)


def failure_message(comparison: Comparison) -> str:
    """What a test failed by --qos-compare-fail prints: each regression with its numbers."""
    lines = [f"QoS regression against the baseline: {comparison.test}"]
    for change in comparison.regressions:
        metric = lookup(change.metric)
        worse = "lower" if metric.better is Better.HIGHER else "higher"
        lines.append(
            f"  {change.metric}: {metric.format(change.baseline)} → "
            f"{metric.format(change.now)} ({describe(change)}; "
            f"allowed {allowed(change)} {worse})"
        )
    return "\n".join(lines)


_TREND_PREFIX = {
    Verdict.REGRESSION: "REGRESSION: ",
    Verdict.WORSE: "worse: ",
    Verdict.BETTER: "better: ",
    Verdict.CHANGED: "changed: ",
}


def explain_trend(change: MetricChange) -> str:
    """The verdict against the history, e.g. 'REGRESSION: below the last 12 runs (…)'."""
    if not change.note:
        return str(change.verdict.value)
    return f"{_TREND_PREFIX.get(change.verdict, '')}{change.note}"


def trend_failure_message(trend: Comparison) -> str:
    """What a test failed by --qos-trend-fail prints: each metric that left its history."""
    lines = [f"QoS regression against its history: {trend.test}"]
    for change in trend.regressions:
        lines.append(
            f"  {change.metric} {lookup(change.metric).format(change.now)} is {change.note}"
        )
    return "\n".join(lines)


def trend_counts(results: Iterable[QosResult]) -> str:
    """E.g. '1 regressed, 2 worse, 3 within, 1 better, 4 too short' over judged metrics."""
    counts: dict[str, int] = {}
    for result in results:
        for change in result.trend.changes if result.trend is not None else []:
            word = _TREND_WORDS.get(change.verdict.value, "not judged")
            counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{counts[word]} {word}" for word in _TREND_ORDER if word in counts) or "none"


_TREND_WORDS = {
    "regression": "regressed",
    "worse": "worse",
    "within noise": "within",
    "better": "better",
    "changed": "changed",
}
_TREND_ORDER = ("regressed", "worse", "changed", "better", "within", "not judged")
