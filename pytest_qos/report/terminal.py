"""The `QoS results` section of the terminal summary and the failure report of one test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..judge.compare import Comparison
from ..judge.metrics import find
from ..results import QosResult
from . import matrix, methods
from .changes import failure_message
from .reproduce import reproduce_text, reproduce_together
from .table import absent, render, render_one

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
    tables = methods.render_text([result])
    if tables:
        lines += ["", tables]
    for measurement in result.measurements:
        # What a probe saw that a number cannot say, e.g. "DSCP sent EF (46); ... CS1 (8)".
        lines += [f"  {note}" for note in measurement.details.get("notes", ())]
    for name in sorted({check.metric for check in missed}):
        metric = find(name)
        if metric:
            lines.append(f"  {name}: {metric.definition}")
    if result.window is not None:
        # Named flows ran at once over one window: so do their reproduce lines.
        lines += ["", reproduce_together(result.measurements)]
    else:
        for measurement in result.measurements:
            if measurement.command:
                lines += ["", reproduce_text(measurement, result.loads)]
    return "\n".join(lines)
