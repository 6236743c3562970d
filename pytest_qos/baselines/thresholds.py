"""--qos-compare-fail: how far each metric may move the bad way before a test fails."""

from __future__ import annotations

import math
import re

from ..errors import InputError, did_you_mean
from ..metrics import CATALOGUE, Better, find

_THRESHOLD = re.compile(r"^\s*([^:\s]+)\s*:\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%?)\s*$")
COMPARE_FAIL_HELP = "METRIC:PCT[,METRIC:PCT...], e.g. 'throughput:5%,latency.p99:20%'"


def parse_compare_fail(text: str) -> dict[str, float]:
    """'throughput:5%,latency.p99:20%' → {'throughput': 5.0, 'latency.p99': 20.0}."""
    key = "--qos-compare-fail"
    thresholds: dict[str, float] = {}
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InputError(f"no thresholds given; write {COMPARE_FAIL_HELP}", key=key)
    for part in parts:
        match = _THRESHOLD.match(part)
        if not match:
            raise InputError(f"'{part.strip()}' is not METRIC:PCT; write {COMPARE_FAIL_HELP}", key)
        name, number = match.group(1), float(match.group(2))
        metric = find(name)
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
        if not math.isfinite(number) or number < 0:
            raise InputError(f"'{part.strip()}': the allowed change is a percentage >= 0", key)
        if name in thresholds:
            raise InputError(f"'{name}' is given twice; keep one threshold per metric", key)
        thresholds[name] = number
    return thresholds
