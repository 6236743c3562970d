"""The trend report as text, Markdown, a self-contained HTML page, and JSON."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from tabulate import tabulate

from ..judge.metrics import format_metric
from ..report.markdown import escape
from ..report.plots import INSTALL_HINT as PLOTS_HINT
from .changepoints import MIN_SEGMENT, PENALTY, SIGNIFICANCE
from .plot import TrendPlotter
from .series import Series
from .trends import Change, Trends

CHANGE_HEADERS = [
    "test",
    "metric",
    "from run",
    "time",
    "commit / run id",
    "before",
    "after",
    "change",
    "",
]
SERIES_RULE = (
    "A series is one metric of one test measured with the same traffic and probe settings "
    "(the measuring commands, less what changes from run to run: the namespace or ssh in "
    "front, the executable's path, ports, bind addresses, output options). "
    "A renamed metric, a removed test or changed traffic or probe settings start a new "
    "series; a new router config (--qos-router-config, lab.router) or a new bound does not: "
    "their effect is what the history shows."
)
METHOD = (
    f"Change points: ruptures' kernel change-point search (PELT, linear kernel) on the series "
    f"scaled by its own noise, penalty {PENALTY:g}·ln(n), at least {MIN_SEGMENT} runs per "
    f"level, each change kept only if Welch's t-test between the runs either side gives "
    f"p < {SIGNIFICANCE:g}. Before and after are medians of the levels."
)


def _percent(change: Change) -> str:
    pct = change.change_pct
    return "from 0" if pct is None else f"{pct:+.1f} %"


def _direction(trends: Trends, change: Change) -> str:
    """'WORSE', 'better' or 'changed', and a router config that changed at that run."""
    word = {True: "WORSE", False: "better", None: "changed"}[change.worse]
    runs = trends.history.runs
    before = runs[change.run.index - 1] if change.run.index else None
    if before is not None and change.run.router_sha256 != before.router_sha256:
        word += f"; new router config: {change.run.router_config or 'the scenario’s own'}"
    return word


def change_rows(trends: Trends) -> list[list[str]]:
    """One row per change point, worst first."""
    return [
        [
            change.series.test,
            change.series.metric,
            str(change.run.index),
            change.run.time,
            change.run.commit[:10] or change.run.run_id,
            format_metric(change.series.metric, change.step.before),
            format_metric(change.series.metric, change.step.after),
            _percent(change),
            _direction(trends, change),
        ]
        for change in trends.changes
    ]


def headline(trends: Trends) -> str:
    """'37 runs in DIR (from … to …), 12 series, 2 change points (1 worse)'."""
    runs = trends.history.runs
    span = f" (from {runs[0].time} to {runs[-1].time})" if runs else ""
    changes = trends.changes
    worse = sum(1 for change in changes if change.worse)
    return (
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {trends.history.directory}{span}, "
        f"{len(trends.series)} series, {len(changes)} change point"
        f"{'s' if len(changes) != 1 else ''} ({worse} worse)"
    )


def render_text(trends: Trends) -> str:
    """The terminal's summary: headline, skipped files, the changes table."""
    lines = [f"QoS trends: {headline(trends)}"]
    lines += [f"note: {note}" for note in trends.history.notes]
    rows = change_rows(trends)
    if rows:
        lines += ["", tabulate(rows, headers=CHANGE_HEADERS, disable_numparse=True)]
    return "\n".join(lines) + "\n"


def _series_title(series: Series) -> str:
    return f"{series.test} · {series.metric}"


def _series_facts(trends: Trends, series: Series) -> str:
    runs = trends.history.runs
    first, last = runs[series.runs[0]], runs[series.runs[-1]]
    facts = (
        f"{len(series.values)} runs, {first.index}–{last.index}; newest "
        f"{format_metric(series.metric, series.values[-1])}; settings: {series.settings}"
    )
    split = trends.split_at(series)
    if split is not None:
        facts += f"; a new series from run {split.index}: the test's settings changed"
    if last.index != runs[-1].index:
        facts += f"; not in the runs after run {last.index} (test removed or not run)"
    return facts


def render_markdown(trends: Trends) -> str:
    """The trend report as GitHub Markdown: headline, changes, one line per series."""
    lines = ["### QoS trends", "", escape(headline(trends)), ""]
    lines += [f"- {escape(note)}" for note in trends.history.notes]
    lines += ["", "#### Changes (worst first)", ""]
    rows = change_rows(trends)
    if rows:
        lines.append(_md_line(CHANGE_HEADERS))
        lines.append("|" + "|".join(" --- " for _ in CHANGE_HEADERS) + "|")
        lines += [_md_line(row) for row in rows]
    else:
        lines.append("No change points.")
    lines += ["", "#### Series", "", escape(SERIES_RULE), ""]
    lines += [f"- `{_series_title(s)}`: {escape(_series_facts(trends, s))}" for s in trends.series]
    return "\n".join(lines) + "\n"


def _md_line(cells: list[str]) -> str:
    return "| " + " | ".join(escape(cell) for cell in cells) + " |"


_STYLE = """
body{font-family:sans-serif;margin:1.5em}
table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;font-family:monospace}
th,td{white-space:nowrap}
td.worse{color:#b00;font-weight:bold}
td:last-child{white-space:normal}
section.series{margin:1.2em 0}
p.facts,p.rule{color:#444;font-size:90%}
"""


def _html_changes(trends: Trends) -> str:
    rows = change_rows(trends)
    if not rows:
        return "<p>No change points.</p>"
    table = tabulate(rows, headers=CHANGE_HEADERS, tablefmt="html", disable_numparse=True)
    return table.replace("<td>WORSE", '<td class="worse">WORSE')


def render_html(trends: Trends, plotter: TrendPlotter | None = None) -> str:
    """A self-contained page: changes first (worst first), then one plot per series."""
    draw = plotter or TrendPlotter()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>QoS trends</title>",
        f"<style>{_STYLE}</style></head><body><h1>QoS trends</h1>",
        f"<p class='headline'>{html.escape(headline(trends))}</p>",
    ]
    if trends.history.notes:
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in trends.history.notes)
        parts.append(f"<ul class='notes'>{notes}</ul>")
    parts += ["<h2>Changes, worst first</h2>", _html_changes(trends)]
    parts += ["<h2>Series</h2>", f"<p class='rule'>{html.escape(SERIES_RULE)}</p>"]
    parts.append(f"<p class='rule'>{html.escape(METHOD)}</p>")
    if not draw.available:
        parts.append(f"<p class='rule'>No plots: {html.escape(PLOTS_HINT)}</p>")
    parts += [_html_series(trends, series, draw) for series in trends.series]
    parts.append("</body></html>\n")
    return "".join(parts)


def _html_series(trends: Trends, series: Series, draw: TrendPlotter) -> str:
    title = _series_title(series)
    png = draw.plot(series, trends.steps.get(series.key, []), title)
    image = (
        f"<img alt='{html.escape(title, quote=True)}' "
        f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
        if png
        else ""
    )
    return (
        f"<section class='series' data-test='{html.escape(series.test, quote=True)}' "
        f"data-metric='{html.escape(series.metric, quote=True)}'>"
        f"<h3>{html.escape(title)}</h3>"
        f"<p class='facts'>{html.escape(_series_facts(trends, series))}</p>{image}</section>"
    )


def json_text(trends: Trends) -> str:
    """The JSON report as compact, strict text (a long history has 100,000s of values)."""
    return json.dumps(to_json(trends), separators=(",", ":"), allow_nan=False) + "\n"


def to_json(trends: Trends) -> dict[str, Any]:
    """`{runs, notes, changes: [{test, metric, run, index, before, after, change_pct, worse}],
    series}`."""
    return {
        "directory": str(trends.history.directory),
        "runs": [run.to_json() for run in trends.history.runs],
        "notes": list(trends.history.notes),
        "changes": [change.to_json() for change in trends.changes],
        "series": [
            {
                "test": s.test,
                "metric": s.metric,
                "series": s.identity,
                "settings": s.settings,
                "runs": list(s.runs),
                "values": list(s.values),
            }
            for s in trends.series
        ],
    }
