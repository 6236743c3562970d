"""pytest-html extras: each QoS test's report carries its results table and its plots."""

from __future__ import annotations

import base64
import html
import importlib.util
from collections.abc import Callable, Generator
from typing import Any

import pytest

from ..judge.compare import Comparison
from ..lab.counters import table_heading
from ..results import QosResult
from .diagnosis import render_html as diagnosis_html
from .methods import method_tables
from .plots import plot_result
from .reproduce import reproduce_blocks
from .table import HEADERS, headers, rows_of

TABLE_CLASS = "qos-results"
_FAILING = ("FAIL", "ERROR", "REGRESSION")
_STYLE = (
    "<style>"
    f"table.{TABLE_CLASS}{{border-collapse:collapse;margin:4px 0}}"
    f"table.{TABLE_CLASS} th,table.{TABLE_CLASS} td"
    "{border:1px solid #ccc;padding:2px 8px;text-align:left;font-family:monospace}"
    f"table.{TABLE_CLASS} td.qos-bad{{color:#b00;font-weight:bold}}"
    "</style>"
)

ResultOf = Callable[[pytest.Item], "QosResult | None"]


def _extra(content: str, format_type: str, name: str | None = None, **kind: str) -> dict[str, Any]:
    """The dict pytest_html.extras builds (same keys), without importing pytest-html."""
    return {
        "name": name,
        "format_type": format_type,
        "content": content,
        "mime_type": kind.get("mime_type"),
        "extension": kind.get("extension"),
    }


def render_html(result: QosResult, comparison: Comparison | None = None) -> str:
    """One test's results table (and the commands that reproduce it) as an HTML fragment."""
    columns = headers(comparison is not None, result.trend is not None)[len(HEADERS[:1]) :]
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in columns)
    body = []
    for row in rows_of(result, comparison):
        cells = "".join(
            f'<td class="qos-bad">{html.escape(cell)}</td>'
            if cell.startswith(_FAILING)
            else f"<td>{html.escape(cell)}</td>"
            for cell in row
        )
        body.append(f"<tr>{cells}</tr>")
    parts = [
        _STYLE,
        f'<table class="{TABLE_CLASS}" data-qos-test="{html.escape(result.test, quote=True)}">',
        f"<caption>QoS results: {html.escape(result.test)}</caption>",
        f"<thead><tr>{head}</tr></thead>",
        f"<tbody>{''.join(body)}</tbody>",
        "</table>",
    ]
    for title, method_headers, rows in method_tables(result):
        parts.append(f'<table class="{TABLE_CLASS}"><caption>{html.escape(title)}</caption>')
        parts.append(
            "<thead><tr>"
            + "".join(f"<th>{html.escape(cell)}</th>" for cell in method_headers)
            + "</tr></thead><tbody>"
        )
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</tbody></table>")
    for measurement in result.measurements:
        router_table = measurement.details.get("router_table")
        if measurement.tool == "router" and router_table:
            heading = table_heading(measurement.details)
            if "router" in measurement.details:
                heading = heading.replace("router", f"router {measurement.details['router']}", 1)
            parts.append(
                f'<p class="qos-router">{html.escape(heading)}:</p>'
                f'<pre class="qos-router">{html.escape(str(router_table))}</pre>'
            )
    parts.append(diagnosis_html(result))
    for heading, lines in reproduce_blocks(result):
        parts.append(
            f'<p class="qos-command">{html.escape(heading)}</p>'
            f'<pre class="qos-command"><code>{html.escape(chr(10).join(lines))}</code></pre>'
        )
    return "".join(parts)


def extras_for(
    result: QosResult, comparison: Comparison | None = None, plots: bool = True
) -> list[dict[str, Any]]:
    """pytest-html extras for one test: its table, then one PNG per plottable measurement."""
    extras = [_extra(render_html(result, comparison), "html")]
    if plots:
        for label, png in plot_result(result):
            encoded = base64.b64encode(png).decode("ascii")
            extras.append(
                _extra(encoded, "image", f"QoS {label}", mime_type="image/png", extension="png")
            )
    return extras


def html_report_requested(config: pytest.Config) -> bool:
    """True when pytest-html is installed and this run writes a report (--html=PATH)."""
    if importlib.util.find_spec("pytest_html") is None:
        return False
    return bool(config.getoption("htmlpath", None))


class QosHtmlExtras:
    """pytest-html hooks; register only when pytest-html is importable."""

    def __init__(
        self,
        result_of: ResultOf,
        plots: bool = True,
    ) -> None:
        self.result_of = result_of
        self.plots = plots

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        """Add the table and plots to the call report's `extras` (pytest-html >= 4)."""
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if report.when != "call" and not (report.when == "setup" and report.failed):
            return
        result = self.result_of(item)
        if result is None:
            return
        extras = list(getattr(report, "extras", []))
        extras += extras_for(result, result.comparison, self.plots)
        report.extras = extras  # type: ignore[attr-defined]
