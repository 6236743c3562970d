"""The diagnosis of each result in every report: failure report, terminal, Markdown, HTML.

The words come from diagnose/text.py, from the result's JSON form (`result.diagnosis`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable

from tabulate import tabulate

from ..diagnose.text import PATH_HEADERS, path_table, statements, timing
from ..results import QosResult


def _heading(result: QosResult) -> str:
    took = timing(result.diagnosis_time)
    return f"diagnosis ({took}):" if took else "diagnosis:"


def render_failure(result: QosResult) -> str:
    """A failing test's diagnosis block ('' without one): statements, then the path table."""
    if not result.diagnosis:
        return ""
    lines = [_heading(result)]
    lines += [f"  - {line}" for line in statements(result.diagnosis)]
    table = path_table(result.diagnosis)
    if table is not None:
        caption, rows = table
        grid = tabulate(rows, headers=PATH_HEADERS, tablefmt="simple", disable_numparse=True)
        lines += [f"  {caption}", *(f"  {line}" for line in grid.splitlines())]
    return "\n".join(lines)


def _diagnosed(results: Iterable[QosResult]) -> list[QosResult]:
    return [result for result in results if statements(result.diagnosis)]


def render_text(results: Iterable[QosResult]) -> str:
    """The terminal summary's section: each diagnosed test and its statements ('' if none)."""
    blocks = []
    for result in _diagnosed(results):
        took = timing(result.diagnosis_time)
        lines = [f"{result.test}" + (f"  ({took})" if took else "")]
        lines += [f"  - {line}" for line in statements(result.diagnosis)]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def render_markdown(results: Iterable[QosResult], escape: Callable[[str], str]) -> str:
    """A Markdown section: per diagnosed test a list of statements ('' if none)."""
    lines: list[str] = []
    for result in _diagnosed(results):
        took = timing(result.diagnosis_time)
        lines += ["", f"**`{escape(result.test)}`**" + (f" ({took})" if took else ""), ""]
        lines += [f"- {escape(line)}" for line in statements(result.diagnosis)]
    return "\n".join(["### QoS diagnosis", *lines]) + "\n" if lines else ""


def render_html(result: QosResult) -> str:
    """One test's diagnosis as an HTML fragment ('' without one)."""
    said = statements(result.diagnosis)
    if not said:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in said)
    parts = [
        f'<p class="qos-diagnosis">{html.escape(_heading(result))}</p>',
        f'<ul class="qos-diagnosis">{items}</ul>',
    ]
    table = path_table(result.diagnosis)
    if table is not None:
        caption, rows = table
        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in PATH_HEADERS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        parts.append(
            f'<table class="qos-results qos-path"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
    return "".join(parts)
