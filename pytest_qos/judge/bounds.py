"""Bounds on a metric (`>= X`, `< X`, `LOW .. HIGH`, `>= 95% of baseline`), parsed once."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..results import Check
from ..units import example, format_value, parse
from .metrics import Metric, lookup

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_OP = re.compile(r"^\s*(>=|<=|==|>|<)\s*(.+?)\s*$")
_RANGE = re.compile(r"^\s*(.+?)\s*\.\.\s*(.+?)\s*$")
_RELATIVE = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?)\s*%\s+of\s+baseline\s*$")
NO_BASELINE = "no baseline yet"
BOUND_HELP = "'>= X', '> X', '<= X', '< X', '== X', 'LOW .. HIGH' or '>= 95% of baseline'"


@dataclass(frozen=True)
class Bound:
    """One bound on one metric; `limit` in the metric's base unit, or a baseline fraction."""

    text: str
    op: str  # one of _COMPARISONS, or ".." for an inclusive range
    limit: float
    high: float | None = None
    of_baseline: bool = False  # limit is a fraction of the baseline's value

    def resolve(self, baseline: float | None) -> tuple[float, float | None]:
        """The absolute limits, given the baseline's value when the bound is relative."""
        if not self.of_baseline:
            return self.limit, self.high
        if baseline is None:
            raise InputError(f"'{self.text}' needs a baseline: run with --qos-compare")
        return self.limit * baseline, None

    def judge(self, value: float, baseline: float | None = None) -> bool:
        """True when `value` (base units) satisfies the bound."""
        low, high = self.resolve(baseline)
        if self.op == "..":
            assert high is not None
            return low <= value <= high
        return _COMPARISONS[self.op](value, low)

    def describe(self, metric: Metric) -> str:
        """The bound in humanised units, e.g. '>= 19 Mbit/s'."""
        if self.of_baseline:
            return self.text.strip()
        if self.op == "..":
            return f"{metric.format(self.limit)} .. {metric.format(self.high)}"
        return f"{self.op} {metric.format(self.limit)}"


def parse_bound(text: object, metric: Metric) -> Bound:
    """Parse a bound written for `metric`; errors say what a right bound looks like.

    A limit outside what the metric can take (the catalogue's range) is refused: such a bound
    could never pass, or never fail.
    """
    bound = _parse_bound(text, metric)
    if bound.of_baseline:
        if bound.limit < 0:
            raise InputError(
                f"'{bound.text}' is a negative share of the baseline; write e.g. "
                "'>= 95% of baseline'"
            )
        return bound
    for limit in (bound.limit, bound.high):
        why = None if limit is None else metric.out_of_range(limit)
        if why is not None:
            raise InputError(f"bound '{bound.text}' would always pass or never: {why}")
    return bound


def _parse_bound(text: object, metric: Metric) -> Bound:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise InputError(f"a bound is a string such as {BOUND_HELP}, got {text!r}")
    if isinstance(text, (int, float)):
        raise InputError(
            f"bound {text!r} has no comparison; write e.g. "
            f"'>= {example(metric.kind).replace(example(metric.kind).split()[0], str(text))}'"
        )
    op_match = _OP.match(text)
    if op_match:
        relative = _RELATIVE.match(op_match.group(2))
        if relative:
            fraction = float(relative.group(1)) / 100.0
            return Bound(text, op_match.group(1), fraction, of_baseline=True)
        return Bound(text, op_match.group(1), parse(op_match.group(2), metric.kind, metric.name))
    range_match = _RANGE.match(text)
    if range_match:
        low = parse(range_match.group(1), metric.kind, metric.name)
        high = parse(range_match.group(2), metric.kind, metric.name)
        if low > high:
            raise InputError(
                f"range '{text}' has its low end above its high end; write "
                f"'{format_value(high, metric.kind)} .. {format_value(low, metric.kind)}'"
            )
        return Bound(text, "..", low, high)
    raise InputError(f"'{text}' is not a bound; write {BOUND_HELP}")


def check_bounds(
    metrics: dict[str, float],
    expect: dict[str, Bound],
    baseline: dict[str, float] | None = None,
) -> list[Check]:
    """Judge every expected bound against measured `metrics` (base units)."""
    checks = []
    for name, bound in expect.items():
        metric = lookup(name)
        value = metrics.get(name)
        base = (baseline or {}).get(name)
        if value is None:
            checks.append(
                Check(name, bound.describe(metric), None, False, base, "not measured by this test")
            )
        elif bound.of_baseline and base is None:
            # A first run has nothing to be relative to: it passes, and --qos-save stores it.
            checks.append(Check(name, bound.describe(metric), value, True, None, NO_BASELINE))
        else:
            checks.append(
                Check(name, bound.describe(metric), value, bound.judge(value, base), base)
            )
    return checks


def parse_expectations(expect: Mapping[str, object]) -> dict[str, Bound]:
    """Parse {metric: bound text}; an InputError's key names the metric at fault."""
    parsed = {}
    for name, text in expect.items():
        try:
            parsed[name] = parse_bound(text, lookup(name))
        except InputError as error:
            raise InputError(error.message, key=name) from None
    return parsed
