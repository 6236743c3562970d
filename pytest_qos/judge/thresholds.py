"""How far each metric may move the bad way before a test fails: --qos-compare-fail, `compare:`.

A threshold is a percentage of the baseline value and, optionally, an absolute floor in the
metric's own unit: `latency.p99:20%+1ms` fails only when the change is beyond 20 % *and* beyond
1 ms (78.6 µs → 105 µs is +33 % but 26 µs: noise, not a regression).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError, did_you_mean
from ..units import parse
from .metrics import CATALOGUE, Better, Metric, find

_THRESHOLD = re.compile(r"^\s*([^:\s]+)\s*:(.*)$")
_AMOUNT = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%?)\s*(?:\+\s*(\S.*?))?\s*$")
COMPARE_FAIL_HELP = (
    "METRIC:PCT[+FLOOR][,...], e.g. 'throughput:5%,latency.p99:20%+1ms' "
    "(FLOOR: the smallest change in the metric's unit that counts)"
)
THRESHOLD_HELP = "a percentage, optionally plus a floor: '5 %' or '20% + 1 ms'"


@dataclass(frozen=True)
class Threshold:
    """Allowed change the bad way: `percent` of the baseline, and at least `floor` (base units)."""

    percent: float
    floor: float = 0.0

    def exceeded(self, change_percent: float | None, delta: float) -> bool:
        """True when a bad move of `delta` (base units) is beyond both limits.

        `change_percent` is None when the baseline was 0: any change exceeds a percentage.
        """
        beyond_percent = change_percent is None or abs(change_percent) > self.percent
        return beyond_percent and abs(delta) > self.floor


def _metric(name: str, key: str) -> Metric:
    metric = find(name)  # a named flow's 'video.throughput' too
    if metric is None:
        directional = [m.name for m in CATALOGUE.values() if m.better is not Better.NEITHER]
        raise InputError(
            f"unknown metric '{name}'{did_you_mean(name, directional)} "
            f"(metrics with a better direction: {', '.join(directional)})",
            key,
        )
    if metric.better is Better.NEITHER:
        raise InputError(
            f"'{name}' is neither better higher nor lower, so it cannot regress; "
            "pick a metric such as throughput, loss or latency.p99",
            key,
        )
    return metric


def parse_threshold(
    name: str, text: object, key: str, help_text: str = THRESHOLD_HELP
) -> Threshold:
    """'20% + 1 ms' for metric `name` → Threshold(20.0, 0.001); errors name `key`."""
    metric = _metric(name, key)
    match = _AMOUNT.match(str(text)) if isinstance(text, (str, int, float)) else None
    if match is None or isinstance(text, bool):
        raise InputError(f"'{text}' is not a threshold for '{name}'; write {help_text}", key)
    percent = float(match.group(1))
    if not math.isfinite(percent) or percent < 0:
        raise InputError(f"'{text}': the allowed change is a percentage >= 0", key)
    floor = 0.0
    if match.group(3):
        try:
            floor = parse(match.group(3), metric.kind, name)
        except InputError as error:
            raise InputError(f"the floor in '{text}': {error.message}", key) from None
        if floor < 0:
            raise InputError(f"the floor in '{text}' must be >= 0", key)
    return Threshold(percent, floor)


def parse_compare_fail(text: str) -> dict[str, Threshold]:
    """'throughput:5%,latency.p99:20%+1ms' → {'throughput': 5 %, 'latency.p99': 20 % + 1 ms}."""
    key = "--qos-compare-fail"
    thresholds: dict[str, Threshold] = {}
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InputError(f"no thresholds given; write {COMPARE_FAIL_HELP}", key=key)
    for part in parts:
        match = _THRESHOLD.match(part)
        if not match or _AMOUNT.match(match.group(2)) is None:
            raise InputError(f"'{part.strip()}' is not METRIC:PCT; write {COMPARE_FAIL_HELP}", key)
        name = match.group(1)
        threshold = parse_threshold(name, match.group(2), key, COMPARE_FAIL_HELP)
        if name in thresholds:
            raise InputError(f"'{name}' is given twice; keep one threshold per metric", key)
        thresholds[name] = threshold
    return thresholds


def parse_compare_block(data: Mapping[str, object]) -> dict[str, Threshold]:
    """A test's `compare:` mapping, {metric: '20% + 1 ms'}; an InputError's key is the metric."""
    return {name: parse_threshold(name, text, name) for name, text in data.items()}
