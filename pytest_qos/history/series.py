"""Each test's metrics as series across the runs of a history.

A series is one metric of one test measured with one set of settings (identity.py): a metric
renamed, a test removed, or traffic or probe settings changed start another series; a new
router config or a new bound does not. By default a test's series are the metrics it checked
(its bounds) and the headline metrics it measured (throughput, loss, jitter, latency p50/p99,
latency loss, MOS); `--metric PATTERN` chooses others.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..judge.bounds import parse_bound
from ..judge.metrics import find, split_name
from ..report.table import HEADLINE_METRICS
from .identity import describe_settings, series_identity
from .read import History, read_runs

Limits = tuple[float | None, float | None]


def default_metrics(result: Mapping[str, Any]) -> list[str]:
    """The metrics a result is followed by: those it checked, else its headline metrics."""
    metrics = result.get("metrics") or {}
    checked = [
        str(bound.get("metric"))
        for bound in result.get("bounds") or []
        if isinstance(bound, dict) and bound.get("metric") in metrics
    ]
    headline = [name for name in metrics if split_name(name)[1] in HEADLINE_METRICS]
    return list(dict.fromkeys(checked or headline))


def chosen_metrics(result: Mapping[str, Any], patterns: Sequence[str]) -> list[str]:
    """`default_metrics`, or the metrics matching any of `patterns` (fnmatch, e.g. latency.*)."""
    if not patterns:
        return default_metrics(result)
    return [name for name in result.get("metrics") or {} if _matches(name, patterns)]


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@functools.lru_cache(maxsize=4096)
def bound_limits(metric: str, text: str) -> Limits:
    """A bound's lower and upper line in base units ('>= 15 Mbit/s' → (15e6, None))."""
    known = find(metric)
    if known is None:
        return None, None
    try:
        bound = parse_bound(text, known)
    except InputError:
        return None, None
    if bound.of_baseline:
        return None, None  # relative to a baseline: no line of its own
    if bound.op == "..":
        return bound.limit, bound.high
    return (bound.limit, None) if bound.op in (">=", ">") else (None, bound.limit)


@dataclass
class Series:
    """One metric of one test with one set of settings, across runs (oldest first)."""

    test: str
    metric: str
    identity: str
    settings: str
    runs: list[int] = field(default_factory=list)  # indices into History.runs
    values: list[float] = field(default_factory=list)
    limits: list[Limits] = field(default_factory=list)  # each run's bound lines

    @property
    def key(self) -> tuple[str, str, str]:
        """(test, metric, identity): what keeps series apart."""
        return self.test, self.metric, self.identity


TestFilter = Callable[[str], bool]


def collect_series(
    history: History,
    patterns: Sequence[str] = (),
    keep_test: TestFilter | None = None,
    newest: int | None = None,
) -> list[Series]:
    """Every series of the history, in order of the test, then of the run it starts."""
    found: dict[tuple[str, str, str], Series] = {}
    for run, results in read_runs(history, newest):
        for result in results:
            if keep_test is not None and not keep_test(result["test"]):
                continue
            _add(found, run.index, result, chosen_metrics(result, patterns))
    return sorted(found.values(), key=lambda s: (s.test, s.runs[0], s.metric))


def _add(
    found: dict[tuple[str, str, str], Series],
    index: int,
    result: Mapping[str, Any],
    metrics: Iterable[str],
) -> None:
    identity = series_identity(result)
    lines: dict[str, Limits] = {}
    for bound in result.get("bounds") or []:
        metric, text = str(bound.get("metric")), str(bound.get("bound"))
        # The first bound that draws a line: baseline and history checks do not.
        if lines.get(metric, (None, None)) == (None, None):
            lines[metric] = bound_limits(metric, text)
    for metric in metrics:
        key = (result["test"], metric, identity)
        series = found.get(key)
        if series is None:
            series = found[key] = Series(
                result["test"], metric, identity, describe_settings(result)
            )
        series.runs.append(index)
        series.values.append(float(result["metrics"][metric]))
        series.limits.append(lines.get(metric, (None, None)))
