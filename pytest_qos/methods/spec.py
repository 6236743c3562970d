"""The method keys a scenario test may carry instead of flows: parsed here, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InputError
from .rfc2544 import Rfc2544
from .rfc6349 import Rfc6349
from .rpm import Rpm
from .y1564 import Y1564

MethodSpec = Rfc2544 | Rfc6349 | Y1564 | Rpm
METHOD_KEYS = ("rfc2544", "rfc6349", "y1564", "rpm")
# Metric families each method measures: `expect` may bound these (and nothing else).
FAMILIES: dict[str, tuple[str, ...]] = {
    "rfc2544": ("rfc2544.",),
    "rfc6349": ("tcp.", "throughput", "retransmits"),
    "y1564": ("y1564.",),
    "rpm": ("rpm", "latency.idle", "latency.loaded", "latency.increase", "bufferbloat.grade"),
}


def parse_method(key: str, value: Any) -> MethodSpec:
    """`rfc2544:`, `rfc6349:`, `y1564:` or `rpm:` options → the method's spec (InputError on a
    fault)."""
    options: Mapping[str, Any] = {} if value is None else value
    if not isinstance(options, dict):
        raise InputError(f"'{key}' must be a mapping of its options, got {value!r}")
    if key == "rfc2544":
        return Rfc2544.from_options(options)
    if key == "rfc6349":
        return Rfc6349.from_options(options)
    if key == "y1564":
        return Y1564.from_options(options)
    if key == "rpm":
        return Rpm.from_options(options)
    raise AssertionError(key)


def measures(key: str, metric: str) -> bool:
    """True when the method `key` produces `metric`."""
    return any(
        metric == family
        or metric.startswith(family if family.endswith(".") else family + ".")
        or metric == family.rstrip(".")
        for family in FAMILIES[key]
    )
