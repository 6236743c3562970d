"""The mesh matrix: per test, a from × to grid of the key metric and verdict (MaDDash-style)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..judge.metrics import format_metric
from ..results import QosResult

_CORNER = "from \\ to"
_PAIR = re.compile(r"^(?P<test>.+)\[(?P<source>[^\[\]]+?)->(?P<sink>[^\[\]]+)\]$")


@dataclass(frozen=True)
class Cell:
    """One measured pair: the first checked metric's value and the test's verdict."""

    text: str
    verdict: str  # "pass", "fail" or "error"


@dataclass
class Matrix:
    """One test of a mesh file: hosts in order of appearance, cells by (from, to)."""

    test: str
    hosts: list[str]
    cells: dict[tuple[str, str], Cell]


def matrices(results: Sequence[QosResult]) -> list[Matrix]:
    """A matrix per mesh test (results whose id ends in [from->to])."""
    found: dict[str, Matrix] = {}
    for result in results:
        match = _PAIR.match(result.test)
        if match is None:
            continue
        test, source, sink = match["test"], match["source"], match["sink"]
        matrix = found.setdefault(test, Matrix(test, [], {}))
        for host in (source, sink):
            if host not in matrix.hosts:
                matrix.hosts.append(host)
        matrix.cells[(source, sink)] = _cell(result)
    for matrix in found.values():
        matrix.hosts.sort(key=_natural)
    return [m for m in found.values() if len(m.cells) > 1]


def _natural(name: str) -> list[str | int]:
    """site2 before site10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _cell(result: QosResult) -> Cell:
    if result.error or result.status == "error":
        return Cell("error", "error")
    verdict = "pass" if result.passed else "fail"
    if result.checks:
        check = result.checks[0]
        return Cell(format_metric(check.metric, check.measured), verdict)
    return Cell(verdict, verdict)


def _grid(matrix: Matrix) -> list[list[str]]:
    rows = [[_CORNER, *matrix.hosts]]
    for source in matrix.hosts:
        row = [source]
        for sink in matrix.hosts:
            cell = matrix.cells.get((source, sink))
            row.append("" if cell is None else f"{cell.text} {_MARK[cell.verdict]}")
        rows.append(row)
    return rows


_MARK = {"pass": "✓", "fail": "✗", "error": "!"}


# A grid wider than this (characters) is summarised in the terminal: one symbol per pair.
TERMINAL_WIDTH = 120
LISTED = 20  # pairs that did not pass, listed under a summarised grid


def _widths(grid: list[list[str]]) -> list[int]:
    return [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]


def _too_wide(matrix: Matrix, width: int) -> bool:
    widths = _widths(_grid(matrix))
    return sum(widths) + 2 * (len(widths) - 1) > width


def render_terminal(results: Sequence[QosResult], width: int = TERMINAL_WIDTH) -> str:
    """Plain-text grids, one per mesh test ('' when there is no mesh); a grid wider than
    `width` characters is summarised instead (`_summary`)."""
    blocks = []
    for matrix in matrices(results):
        if _too_wide(matrix, width):
            blocks.append(_summary(matrix))
            continue
        grid = _grid(matrix)
        widths = _widths(grid)
        lines = [f"{matrix.test}  (✓ pass, ✗ fail, ! error)"]
        for row in grid:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _counts(matrix: Matrix) -> str:
    """'50 hosts, 2450 pairs: 2388 ✓, 57 ✗, 5 !'."""
    verdicts = [cell.verdict for cell in matrix.cells.values()]
    said = ", ".join(f"{verdicts.count(v)} {mark}" for v, mark in _MARK.items() if v in verdicts)
    return f"{len(matrix.hosts)} hosts, {len(verdicts)} pairs: {said}"


def _summary(matrix: Matrix) -> str:
    """A grid too wide for a terminal: one symbol per pair (· not measured), the columns
    numbered like the rows; then the pairs that did not pass, with their values."""
    hosts = matrix.hosts
    digits = len(str(len(hosts)))
    rows = [f"{n:>{digits}} {host}" for n, host in enumerate(hosts, 1)]
    label = max(len(_CORNER), *(len(row) for row in rows))
    numbers = [str(n).rjust(digits) for n in range(1, len(hosts) + 1)]
    lines = [f"{matrix.test}  (✓ pass, ✗ fail, ! error, · not measured) — {_counts(matrix)}"]
    for place in range(digits):  # the column numbers, written downwards
        corner = _CORNER if place == digits - 1 else ""
        lines.append(f"{corner:<{label}}  {''.join(n[place] for n in numbers)}")
    for row, source in zip(rows, hosts, strict=True):
        cells = (matrix.cells.get((source, sink)) for sink in hosts)
        symbols = "".join("·" if cell is None else _MARK[cell.verdict] for cell in cells)
        lines.append(f"{row:<{label}}  {symbols}")
    order = {host: n for n, host in enumerate(hosts)}
    missed = sorted(
        ((pair, cell) for pair, cell in matrix.cells.items() if cell.verdict != "pass"),
        key=lambda item: (order[item[0][0]], order[item[0][1]]),
    )
    if missed:
        lines.append("did not pass:")
        for (source, sink), cell in missed[:LISTED]:
            lines.append(f"  {source}->{sink}  {cell.text} {_MARK[cell.verdict]}")
        if len(missed) > LISTED:
            lines.append(f"  … and {len(missed) - LISTED} more (every pair: --qos-md, --html)")
    return "\n".join(lines)


def folded(results: Sequence[QosResult], width: int = TERMINAL_WIDTH) -> set[str]:
    """Ids of the passing pairs of meshes whose terminal grid is summarised: the terminal's
    results table can leave their rows out (the summary counts them)."""
    large = {matrix.test for matrix in matrices(results) if _too_wide(matrix, width)}
    passing = set()
    for result in results:
        match = _PAIR.match(result.test)
        if match is not None and match["test"] in large and result.status == "passed":
            passing.add(result.test)
    return passing


def render_markdown(results: Sequence[QosResult]) -> str:
    """Markdown tables, one per mesh test ('' when there is no mesh)."""
    blocks = []
    for matrix in matrices(results):
        grid = _grid(matrix)
        lines = [f"#### `{matrix.test}`", ""]
        lines.append("| " + " | ".join(grid[0]) + " |")
        lines.append("|" + "---|" * len(grid[0]))
        for row in grid[1:]:
            lines.append("| " + " | ".join([f"**{row[0]}**", *row[1:]]) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "error": "#ffe0b2"}
_SCROLL = "overflow:auto;max-width:100%;max-height:80vh"
_STICKY_TOP = ' style="position:sticky;top:0;z-index:1;background:#fff"'
_STICKY_LEFT = ' style="position:sticky;left:0;background:#fff"'
_STICKY_CORNER = ' style="position:sticky;top:0;left:0;z-index:2;background:#fff"'


def render_html(results: Sequence[QosResult]) -> str:
    """HTML tables with coloured cells (green pass, red fail, orange error)."""
    blocks = []
    for matrix in matrices(results):
        head = "".join(f"<th{_STICKY_TOP}>{html.escape(h)}</th>" for h in matrix.hosts)
        body = []
        for source in matrix.hosts:
            cells = []
            for sink in matrix.hosts:
                cell = matrix.cells.get((source, sink))
                if cell is None:
                    cells.append('<td style="background:#eee"></td>')
                else:
                    cells.append(
                        f'<td class="qos-{cell.verdict}" style="background:'
                        f'{_COLOURS[cell.verdict]}">{html.escape(cell.text)}</td>'
                    )
            body.append(f"<tr><th{_STICKY_LEFT}>{html.escape(source)}</th>{''.join(cells)}</tr>")
        # A large mesh scrolls inside its own box, the host names staying in view; the caption
        # starts at the left, where the box opens (centred, it would be off to the right).
        blocks.append(
            f'<div class="qos-matrix-scroll" style="{_SCROLL}">'
            f'<table class="qos-matrix" style="white-space:nowrap">'
            f'<caption style="text-align:left">{html.escape(matrix.test)}</caption>'
            f"<tr><th{_STICKY_CORNER}>from \\ to</th>{head}</tr>{''.join(body)}</table></div>"
        )
    return "\n".join(blocks)
