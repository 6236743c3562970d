"""The mesh matrix: per test, a from × to grid of the key metric and verdict (MaDDash-style).

Every grid states its metric and one unit in its caption, and every cell carries its verdict
as a mark (✓ pass, ✗ fail, ! error) beside the value, so the colour is never the only sign.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..diagnose.mesh import pair_of, suspects
from ..judge.metrics import find
from ..results import QosResult
from ..units import Kind, common_unit, format_number

SUSPECT = "⚑"  # marks the host the diagnosis finds in every failing pair
# A grid wider than this (characters) is summarised in the terminal: one symbol per pair.
TERMINAL_WIDTH = 120
LISTED = 20  # pairs that did not pass, listed under a summarised grid
_PAIR = re.compile(r"^(?P<test>.+)\[(?P<source>[^\[\]]+?)->(?P<sink>[^\[\]]+)\]$")
MARKS = {"pass": "✓", "fail": "✗", "error": "!"}
LEGEND = "✓ pass, ✗ fail, ! error"
_CORNER = "from \\ to"


@dataclass(frozen=True)
class Cell:
    """One measured pair: the grid metric's value (None: not measured) and the verdict."""

    value: float | None
    verdict: str  # "pass", "fail" or "error"


@dataclass
class Matrix:
    """One test of a mesh file: hosts in order of appearance, cells by (from, to)."""

    test: str
    hosts: list[str]
    cells: dict[tuple[str, str], Cell]
    suspects: list[str] = field(default_factory=list)  # common to every failing pair
    metric: str = ""  # the first checked metric of the test's pairs ('' when none)

    def label(self, host: str) -> str:
        """The host, marked when the diagnosis names it."""
        return f"{host} {SUSPECT}" if host in self.suspects else host

    def note(self) -> str:
        """The line under the grid that explains the mark ('' without one)."""
        if not self.suspects:
            return ""
        return f"{SUSPECT} {', '.join(self.suspects)}: in every failing pair (see the diagnosis)"

    @functools.cached_property
    def unit(self) -> tuple[float, str]:
        """(scale, unit) of the whole grid: one unit, the median value's (read once, when the
        grid is drawn: every cell's text asks for it)."""
        found = find(self.metric) if self.metric else None
        values = [c.value for c in self.cells.values() if c.value is not None]
        return common_unit(values, found.kind if found else Kind.SCORE)

    def caption(self) -> str:
        """'mesh.yaml::tcp — throughput (Mbit/s); ✓ pass, ✗ fail, ! error'."""
        unit = self.unit[1]
        what = f"{self.metric} ({unit})" if self.metric and unit else self.metric or "verdict"
        return f"{self.test} — {what}; {LEGEND}"

    def text(self, cell: Cell) -> str:
        """A cell as text: the value in the grid's unit and its mark ('! error' for an error)."""
        if cell.verdict == "error" or cell.value is None:
            return f"{MARKS[cell.verdict]} {cell.verdict}"
        return f"{format_number(cell.value, self.unit[0])} {MARKS[cell.verdict]}"


def matrices(results: Sequence[QosResult]) -> list[Matrix]:
    """A matrix per mesh test (results whose id ends in [from->to])."""
    found: dict[str, Matrix] = {}
    for result in results:
        pair = pair_of(result.test)
        if pair is None:
            continue
        test, source, sink = pair
        matrix = found.get(test)
        if matrix is None:  # the suspects once per test: they read every result
            matrix = found[test] = Matrix(test, [], {}, suspects(results, test))
        for host in (source, sink):
            if host not in matrix.hosts:
                matrix.hosts.append(host)
        if result.checks and not matrix.metric:
            matrix.metric = result.checks[0].metric
        matrix.cells[(source, sink)] = _cell(result, matrix.metric)
    for matrix in found.values():
        matrix.hosts.sort(key=_natural)
    return [m for m in found.values() if len(m.cells) > 1]


def _natural(name: str) -> list[str | int]:
    """site2 before site10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _cell(result: QosResult, metric: str) -> Cell:
    if result.error or result.status == "error":
        return Cell(None, "error")
    verdict = "pass" if result.passed else "fail"
    value = next((c.measured for c in result.checks if c.metric == metric), None)
    return Cell(value, verdict)


def _grid(matrix: Matrix) -> list[list[str]]:
    rows = [[_CORNER, *map(matrix.label, matrix.hosts)]]
    for source in matrix.hosts:
        row = [matrix.label(source)]
        for sink in matrix.hosts:
            cell = matrix.cells.get((source, sink))
            row.append("" if cell is None else matrix.text(cell))
        rows.append(row)
    return rows


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
        lines = [matrix.caption()]
        for row in grid:
            cells = [
                cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
        lines += [matrix.note()] if matrix.note() else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _counts(matrix: Matrix) -> str:
    """'50 hosts, 2450 pairs: 2388 ✓, 57 ✗, 5 !'."""
    verdicts = [cell.verdict for cell in matrix.cells.values()]
    said = ", ".join(f"{verdicts.count(v)} {mark}" for v, mark in MARKS.items() if v in verdicts)
    return f"{len(matrix.hosts)} hosts, {len(verdicts)} pairs: {said}"


def _summary(matrix: Matrix) -> str:
    """A grid too wide for a terminal: one mark per pair (· not measured), the columns
    numbered like the rows; then the pairs that did not pass, with their values."""
    hosts = matrix.hosts
    digits = len(str(len(hosts)))
    rows = [f"{n:>{digits}} {matrix.label(host)}" for n, host in enumerate(hosts, 1)]
    label = max(len(_CORNER), *(len(row) for row in rows))
    numbers = [str(n).rjust(digits) for n in range(1, len(hosts) + 1)]
    lines = [f"{matrix.caption()}, · not measured", _counts(matrix)]
    for place in range(digits):  # the column numbers, written downwards
        corner = _CORNER if place == digits - 1 else ""
        lines.append(f"{corner:<{label}}  {''.join(n[place] for n in numbers)}")
    for row, source in zip(rows, hosts, strict=True):
        cells = (matrix.cells.get((source, sink)) for sink in hosts)
        marks = "".join("·" if cell is None else MARKS[cell.verdict] for cell in cells)
        lines.append(f"{row:<{label}}  {marks}")
    order = {host: n for n, host in enumerate(hosts)}
    missed = sorted(
        ((pair, cell) for pair, cell in matrix.cells.items() if cell.verdict != "pass"),
        key=lambda item: (order[item[0][0]], order[item[0][1]]),
    )
    if missed:
        lines.append("did not pass:")
        for (source, sink), cell in missed[:LISTED]:
            lines.append(f"  {source}->{sink}  {matrix.text(cell)}")
        if len(missed) > LISTED:
            lines.append(f"  … and {len(missed) - LISTED} more (every pair: --qos-md, --html)")
    lines += [matrix.note()] if matrix.note() else []
    return "\n".join(lines)


def folded(results: Sequence[QosResult], width: int = TERMINAL_WIDTH) -> set[str]:
    """Ids of the passing pairs of meshes whose terminal grid is summarised: the terminal's
    results table can leave their rows out (the summary counts them)."""
    large = {matrix.test for matrix in matrices(results) if _too_wide(matrix, width)}
    passing = set()
    for result in results:
        pair = pair_of(result.test)
        if pair is not None and pair[0] in large and result.status == "passed":
            passing.add(result.test)
    return passing


def render_markdown(results: Sequence[QosResult]) -> str:
    """Markdown tables, one per mesh test ('' when there is no mesh)."""
    blocks = []
    for matrix in matrices(results):
        grid = _grid(matrix)
        lines = [f"#### `{matrix.test}`", "", matrix.caption().split(" — ", 1)[1], ""]
        lines.append("| " + " | ".join(grid[0]) + " |")
        lines.append("|---|" + "---:|" * (len(grid[0]) - 1))
        for row in grid[1:]:
            lines.append("| " + " | ".join([f"**{row[0]}**", *row[1:]]) + " |")
        lines += ["", matrix.note()] if matrix.note() else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "error": "#ffe0b2"}
_STYLE = (
    "<style>"
    "table.qos-matrix{border-collapse:collapse;margin:8px 0 16px}"
    "table.qos-matrix caption{caption-side:top;text-align:left;font-weight:bold;padding:4px 0;"
    "white-space:nowrap}"
    "table.qos-matrix th,table.qos-matrix td{border:1px solid #bbb;padding:6px 12px;"
    "font-family:monospace;white-space:nowrap}"
    "table.qos-matrix td{text-align:right;min-width:5em}"
    "table.qos-matrix th{background:#f4f4f4;text-align:left}"
    "table.qos-matrix td.qos-none{background:#eee}"
    # A large mesh scrolls inside its own box, its host names staying in view.
    "div.qos-matrix-scroll{overflow:auto;max-width:100%;max-height:80vh;margin:8px 0 16px}"
    "div.qos-matrix-scroll table.qos-matrix{margin:0}"
    "table.qos-matrix tr:first-child th{position:sticky;top:0;z-index:1}"
    "table.qos-matrix th:first-child{position:sticky;left:0}"
    "table.qos-matrix tr:first-child th:first-child{z-index:2}"
    "</style>"
)


def render_html(results: Sequence[QosResult]) -> str:
    """HTML tables: padded cells coloured by verdict with its mark beside the value."""
    blocks = []
    for matrix in matrices(results):
        head = "".join(f'<th scope="col">{html.escape(matrix.label(h))}</th>' for h in matrix.hosts)
        body = []
        for source in matrix.hosts:
            cells = []
            for sink in matrix.hosts:
                cell = matrix.cells.get((source, sink))
                if cell is None:
                    cells.append('<td class="qos-none"></td>')
                else:
                    cells.append(
                        f'<td class="qos-{cell.verdict}" style="background:'
                        f'{_COLOURS[cell.verdict]}" title="{cell.verdict}">'
                        f"{html.escape(matrix.text(cell))}</td>"
                    )
            body.append(
                f'<tr><th scope="row">{html.escape(matrix.label(source))}</th>{"".join(cells)}</tr>'
            )
        note = f'<p class="qos-suspect">{html.escape(matrix.note())}</p>' if matrix.note() else ""
        blocks.append(
            f'<div class="qos-matrix-scroll"><table class="qos-matrix">'
            f"<caption>{html.escape(matrix.caption())}</caption>"
            f"<tr><th>from \\ to</th>{head}</tr>{''.join(body)}</table></div>{note}"
        )
    return _STYLE + "\n".join(blocks) if blocks else ""
