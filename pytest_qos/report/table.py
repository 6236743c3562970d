"""The results table every report shares: test, metric, expected, measured, verdict.

With a baseline (--qos-compare) each row also has baseline, change and a verdict against it;
judged against its history (--qos-trend), the history's median and a verdict against it.
The terminal, Markdown and HTML reports all render these same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tabulate import tabulate

from ..judge.metrics import format_metric, split_name
from ..results import Check, QosResult, keyed, prefixes
from .changes import describe, explain, explain_trend

if TYPE_CHECKING:
    from ..judge.compare import Comparison, MetricChange

HEADERS = ["test", "metric", "expected", "measured", "verdict"]
COMPARE_HEADERS = ["baseline", "change", "vs baseline"]
TREND_HEADERS = ["history median", "vs history"]
# Shown, unjudged, for a test that states no bounds, so its row says what it measured.
HEADLINE_METRICS = (
    "throughput",
    "loss",
    "jitter",
    "latency.p50",
    "latency.p99",
    "latency.loss",
    "mos",
)


def verdict(check: Check) -> str:
    """'pass', 'pass (why)' (e.g. no baseline yet), 'FAIL' or 'FAIL (why)'."""
    if check.passed:
        return f"pass ({check.note})" if check.note else "pass"
    return f"FAIL ({check.note})" if check.note else "FAIL"


def rows_of(
    result: QosResult, comparison: Comparison | None = None, trended: bool | None = None
) -> list[list[str]]:
    """One test's rows without the test column: checks, compared metrics, loads, error.

    Columns are HEADERS[1:], then COMPARE_HEADERS when `comparison` is given, then
    TREND_HEADERS when `trended` (by default: when the result was judged against its history).
    """
    rows: list[list[str]] = []
    with_trend = result.trend is not None if trended is None else trended
    judged: set[str] = {""}  # metrics whose history cells are shown: once each

    def add(metric: str, expected: str, measured: str, verdict_text: str, name: str) -> None:
        row = [metric, expected, measured, verdict_text]
        if comparison is not None:
            row += _change_cells(comparison.change_of(name) if name else None, comparison)
        if with_trend:
            row += _trend_cells(result.trend, name, judged)
        rows.append(row)

    for check in result.checks:
        add(
            check.metric,
            check.bound,
            format_metric(check.metric, check.measured),
            # An error (e.g. the sender fell short) leaves the figures unjudged: no pass/FAIL.
            "not judged" if result.error else verdict(check),
            check.metric,
        )
    shown = {check.metric for check in result.checks}
    for change in comparison.changes if comparison is not None else []:
        if change.metric not in shown:
            shown.add(change.metric)
            add(
                change.metric,
                "(compared)",
                format_metric(change.metric, change.now),
                "",
                change.metric,
            )
    for row in _measurement_rows(result, shown):
        add(*row)
    for index, load in enumerate(result.loads, 1):
        if "throughput" in load.metrics:
            add(
                f"load {index} throughput",
                "(reported)",
                format_metric("throughput", load.metrics["throughput"]),
                "",
                "",
            )
    if result.window is not None:
        start, end = result.window
        add("window", "(measured)", f"{start:g} s .. {end:g} s of each flow", "", "")
    if result.error:
        add("(error)", "", result.error.splitlines()[0][:120], "ERROR", "")
    if not rows:
        add("—", "", "", result.status, "")
    return rows


def _measurement_rows(result: QosResult, shown: set[str]) -> list[tuple[str, str, str, str, str]]:
    """Each measurement's own rows: headline metrics unless judged, and any wait for the path."""
    rows = []
    named = list(zip(prefixes(result.measurements), result.measurements, strict=True))
    for prefix, measurement in named:
        own = keyed(prefix, measurement.metrics)
        if result.error or shown & set(own):
            continue
        # Named flows' and probes' headline metrics too ('video.throughput'), flow by flow.
        for key in sorted(
            (key for key in own if split_name(key)[1] in HEADLINE_METRICS),
            key=lambda key: (split_name(key)[0], HEADLINE_METRICS.index(split_name(key)[1])),
        ):
            rows.append((key, "(reported)", format_metric(key, own[key]), "", key))
    for prefix, measurement in named:
        waited = measurement.details.get("path_wait")
        if waited:
            rows.append(
                (
                    "(serialised)",
                    "",
                    f"{prefix or measurement.tool} waited {waited:.1f} s for the path "
                    "(another measurement held it: they did not run at once)",
                    "",
                    "",
                )
            )
    return rows


def _change_cells(change: MetricChange | None, comparison: Comparison) -> list[str]:
    from ..judge.compare import Verdict

    if not comparison.in_baseline:
        return ["—", "", Verdict.NEW.value]
    if change is None:
        return ["", "", ""]
    return [format_metric(change.metric, change.baseline), describe(change), explain(change)]


def _trend_cells(trend: Comparison | None, name: str, judged: set[str]) -> list[str]:
    """History median and verdict, on the first row of a metric (its history check repeats)."""
    change = trend.change_of(name) if trend is not None and name not in judged else None
    judged.add(name)
    if change is None:
        return ["", ""]
    median = format_metric(change.metric, change.baseline) if change.baseline is not None else "—"
    return [median, explain_trend(change)]


def trended(results: Iterable[QosResult]) -> bool:
    """True when any result was judged against its history: the table has those columns."""
    return any(result.trend is not None for result in results)


def absent(result: QosResult) -> Comparison:
    """The comparison of a test the baseline does not hold."""
    from ..judge.compare import Comparison

    return Comparison(result.test, in_baseline=False)


def headers(compared: bool, with_trend: bool = False) -> list[str]:
    """The table's column names, with the baseline and the history columns when judged so."""
    return HEADERS + (COMPARE_HEADERS if compared else []) + (TREND_HEADERS if with_trend else [])


def render(
    results: Iterable[QosResult],
    comparisons: Mapping[str, Comparison] | None = None,
    tablefmt: str = "simple",
) -> str:
    """Every result's rows as one table, the test named on each row."""
    results = list(results)
    with_trend = trended(results)
    rows = [
        [result.test, *row]
        for result in results
        for row in rows_of(
            result,
            None if comparisons is None else comparisons.get(result.test, absent(result)),
            with_trend,
        )
    ]
    return tabulate(
        rows,
        headers=headers(comparisons is not None, with_trend),
        tablefmt=tablefmt,
        disable_numparse=True,
    )


def render_one(
    result: QosResult, comparison: Comparison | None = None, tablefmt: str = "simple"
) -> str:
    """One test's table without the test column (for its failure report)."""
    return tabulate(
        rows_of(result, comparison),
        headers=headers(comparison is not None, result.trend is not None)[1:],
        tablefmt=tablefmt,
        disable_numparse=True,
    )
