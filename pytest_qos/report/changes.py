"""Baseline changes in words: '-12.3 %', 'REGRESSION (-48.1 %, allowed 5 %)', failure messages."""

from __future__ import annotations

from ..judge.compare import Comparison, MetricChange, Verdict, allowed, format_change
from ..judge.metrics import Better, find, lookup


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
