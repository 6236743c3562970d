"""The results table as GitHub-flavoured Markdown (--qos-md, GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..judge.compare import Comparison
from ..results import QosResult
from ..store.document import write_atomically
from . import methods
from .changes import trend_counts
from .table import absent, headers, rows_of, trended
from .terminal import JITTER_NOTE

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def escape(cell: str) -> str:
    """A table cell that cannot break the table: pipes escaped, newlines folded."""
    return " ".join(cell.replace("\\", "\\\\").replace("|", "\\|").split())


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else text


def _strong(text: str) -> str:
    return f"**{text}**" if text.startswith(("FAIL", "ERROR", "REGRESSION")) else text


def result_rows(
    result: QosResult, comparison: Comparison | None = None, with_trend: bool | None = None
) -> list[list[str]]:
    """One test's Markdown rows: test named once, failures and regressions in bold."""
    rows = []
    for index, row in enumerate(rows_of(result, comparison, with_trend)):
        name = _code(result.test) if index == 0 else ""
        rows.append([name, *(_strong(cell) for cell in row)])
    return rows


def render_markdown(
    results: Iterable[QosResult],
    comparisons: Mapping[str, Comparison] | None = None,
    baseline_name: str | None = None,
    title: str = "QoS results",
) -> str:
    """A heading, a one-line summary and one GitHub table of every QoS test's results."""
    results = list(results)
    with_trend = trended(results)
    columns = headers(comparisons is not None, with_trend)
    rows = [
        row
        for result in results
        for row in result_rows(
            result,
            None if comparisons is None else comparisons.get(result.test, absent(result)),
            with_trend,
        )
    ]
    lines = [f"### {title}", "", summary_line(results, comparisons, baseline_name), ""]
    lines.append(_table_line(columns))
    lines.append("|" + "|".join(" --- " for _ in columns) + "|")
    lines += [_table_line(row) for row in rows]
    metrics = {check.metric for result in results for check in result.checks}
    if metrics & {"jitter", "latency.jitter"}:
        lines += ["", f"<sub>{escape(JITTER_NOTE)}</sub>"]
    lines += methods.render_markdown(results, escape)
    return "\n".join(lines) + "\n"


def _table_line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(escape(cell) for cell in cells) + " |"


def summary_line(
    results: Sequence[QosResult],
    comparisons: Mapping[str, Comparison] | None,
    baseline_name: str | None,
) -> str:
    """E.g. '**3** QoS tests: 2 passed, 1 failed · vs baseline `main`: 1 regression'."""
    outcomes: dict[str, int] = {}
    for result in results:
        outcome = "error" if result.error else result.status
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
    text = f"**{len(results)}** QoS test{'s' if len(results) != 1 else ''}: {counts or 'none'}"
    if comparisons is not None:
        label = f" {_code(baseline_name)}" if baseline_name else ""
        failed = sum(1 for c in comparisons.values() if c.failed)
        missing = sum(
            1
            for result in results
            if result.test not in comparisons or not comparisons[result.test].in_baseline
        )
        text += f" · vs baseline{label}: {failed} regressed, {missing} not in baseline"
    if trended(results):
        text += f" · vs history: {trend_counts(results)}"
    return text


def write_markdown(path: Path | str, text: str) -> Path:
    """Write the Markdown report atomically; return its path."""
    target = Path(path)
    write_atomically(target, text)
    return target


def append_step_summary(text: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to the GitHub Actions job summary when GITHUB_STEP_SUMMARY is set."""
    summary = (os.environ if environ is None else environ).get(STEP_SUMMARY)
    if not summary:
        return None
    path = Path(summary)
    with path.open("a", encoding="utf-8") as file:
        file.write(text if text.endswith("\n") else text + "\n")
    return path
