"""The results table every report shares: test, metric, expected, measured, verdict."""

from __future__ import annotations

from collections.abc import Iterable

from tabulate import tabulate

from ..metrics import CATALOGUE
from ..results import Check, QosResult
from ..units import Kind, format_value

HEADERS = ["test", "metric", "expected", "measured", "verdict"]
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


def format_metric(name: str, value: float | None) -> str:
    """Humanise a metric's base-unit value using the catalogue (plain number if unknown)."""
    metric = CATALOGUE.get(name)
    return metric.format(value) if metric else format_value(value, Kind.SCORE)


def verdict(check: Check) -> str:
    """'pass', 'FAIL' or 'FAIL (why)'."""
    if check.passed:
        return "pass"
    return f"FAIL ({check.note})" if check.note else "FAIL"


def check_rows(result: QosResult, test_name: str | None = None) -> list[list[str]]:
    """One row per checked metric, then reported-only metrics of the background load."""
    name = result.test if test_name is None else test_name
    rows = [
        [
            name,
            check.metric,
            check.bound,
            format_metric(check.metric, check.measured),
            verdict(check),
        ]
        for check in result.checks
    ]
    if not result.checks and not result.error:
        metrics = result.metrics
        rows += [
            [name, metric, "(reported)", format_metric(metric, metrics[metric]), ""]
            for metric in HEADLINE_METRICS
            if metric in metrics
        ]
    for index, load in enumerate(result.loads, 1):
        if "throughput" in load.metrics:
            rows.append(
                [
                    name,
                    f"load {index} throughput",
                    "(reported)",
                    format_metric("throughput", load.metrics["throughput"]),
                    "",
                ]
            )
    if result.error:
        rows.append([name, "(error)", "", result.error.splitlines()[0][:80], "ERROR"])
    return rows


def render(results: Iterable[QosResult], tablefmt: str = "simple") -> str:
    """Every result's rows as one table."""
    rows = [row for result in results for row in check_rows(result)]
    return tabulate(rows, headers=HEADERS, tablefmt=tablefmt, disable_numparse=True)


def render_one(result: QosResult, tablefmt: str = "simple") -> str:
    """One test's table without the test column (for its failure report)."""
    rows = [row[1:] for row in check_rows(result, "")]
    return tabulate(rows, headers=HEADERS[1:], tablefmt=tablefmt, disable_numparse=True)
