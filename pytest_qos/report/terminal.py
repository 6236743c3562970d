"""The `QoS results` section of the terminal summary and the failure report of one test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..judge.compare import Comparison
from ..results import QosResult
from . import diagnosis, matrix, methods
from .changes import failure_message, trend_counts, trend_failure_message
from .definitions import definition
from .reproduce import reproduce_result
from .table import absent, render, render_one, trended

JITTER_NOTE = (
    "jitter: iperf3's RFC 3550 smoothed interarrival estimate; "
    "latency.jitter: mean |IPDV| between consecutive probe replies (RFC 3393 style)"
)


def summary(
    results: Sequence[QosResult],
    comparisons: Mapping[str, Comparison] | None = None,
    baseline_name: str | None = None,
) -> str:
    """One table of every checked metric of every QoS test, plus how jitter is defined.

    The passing pairs of a mesh too large for a terminal grid are counted, not listed: the
    mesh matrix summarises them (every row stays in the Markdown, HTML and JSON reports).
    """
    folded = matrix.folded(results)
    text = render([r for r in results if r.test not in folded], comparisons)
    if folded:
        text += (
            f"\n{len(folded)} passing pairs of large meshes not listed: see the QoS mesh matrix "
            "(every row: --qos-md, --html, --qos-json)"
        )
    if comparisons is not None:
        missing = [r.test for r in results if not comparisons.get(r.test, absent(r)).in_baseline]
        text += f"\ncompared with baseline '{baseline_name}'"
        if missing:
            text += f"; not in the baseline (reported, not failed): {', '.join(missing)}"
    if trended(results):
        text += f"\njudged against each test's own history (--qos-trend): {trend_counts(results)}"
    names = {check.metric for result in results for check in result.checks}
    if names & {"jitter", "latency.jitter"}:
        text += "\n" + JITTER_NOTE
    tables = methods.render_text(results)
    return f"{text}\n\n{tables}" if tables else text


def failure(result: QosResult, comparison: Comparison | None = None) -> str:
    """What a failing test prints: its table and the command that reproduces it."""
    missed = [check for check in result.checks if not check.passed]
    lines = [f"QoS bounds missed: {', '.join(check.metric for check in missed)}", ""]
    lines.append(render_one(result, comparison))
    if comparison is not None and comparison.failed:
        lines += ["", failure_message(comparison)]
    if result.trend is not None and result.trend.failed:
        lines += ["", trend_failure_message(result.trend)]
    lines += _evidence(result)
    for name in sorted({check.metric for check in missed}):
        meaning = definition(result, name)
        if meaning:
            lines.append(f"  {name}: {meaning}")
    said = diagnosis.render_failure(result)
    if said:
        lines += ["", said]
    return "\n".join(lines + _reproduce(result))


def untrusted(result: QosResult) -> str:
    """What a test prints whose figures cannot be judged (an error, not a QoS failure)."""
    lines = [result.error, "", render_one(result, result.comparison), *_evidence(result)]
    return "\n".join(lines + _reproduce(result))


def _evidence(result: QosResult) -> list[str]:
    """The method's trial or step tables and what a probe saw that a number cannot say."""
    lines = []
    tables = methods.render_text([result])
    if tables:
        lines += ["", tables]
    for measurement in result.measurements:
        # E.g. "DSCP sent EF (46); ... CS1 (8)".
        lines += [f"  {note}" for note in measurement.details.get("notes", ())]
    return lines


def _reproduce(result: QosResult) -> list[str]:
    text = reproduce_result(result)
    return ["", text] if text else []
