"""Measured metrics as JUnit XML properties: `qos.<metric>` in base units."""

from __future__ import annotations

from ..results import QosResult
from .changes import explain_trend


def properties(result: QosResult) -> list[tuple[str, object]]:
    """(name, value) pairs for `item.user_properties`, which junitxml writes per test case."""
    pairs: list[tuple[str, object]] = [
        (f"qos.{name}", value) for name, value in sorted(result.metrics.items())
    ]
    pairs += [
        (f"qos.bound.{check.metric}", f"{check.bound} -> {'pass' if check.passed else 'FAIL'}")
        for check in result.checks
    ]
    if result.trend is not None:
        pairs += [(f"qos.trend.{c.metric}", explain_trend(c)) for c in result.trend.changes]
    return pairs
