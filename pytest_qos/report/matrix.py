"""The mesh matrix: per test, a from × to grid of the key metric and verdict (MaDDash-style).

Every grid states its metric and one unit in its caption, and every cell carries its verdict
as a mark (✓ pass, ✗ fail, ! error) beside the value, so the colour is never the only sign.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..diagnose.mesh import pair_of, suspects
from ..judge.metrics import find
from ..results import QosResult
from ..units import Kind, common_unit, format_number

SUSPECT = "⚑"  # marks the host the diagnosis finds in every failing pair
_PAIR = re.compile(r"^(?P<test>.+)\[(?P<source>[^\[\]]+?)->(?P<sink>[^\[\]]+)\]$")
MARKS = {"pass": "✓", "fail": "✗", "error": "!"}
LEGEND = "✓ pass, ✗ fail, ! error"


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

    @property
    def unit(self) -> tuple[float, str]:
        """(scale, unit) of the whole grid: one unit, the median value's."""
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
        matrix = found.setdefault(test, Matrix(test, [], {}, suspects(results, test)))
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
    rows = [["from \\ to", *map(matrix.label, matrix.hosts)]]
    for source in matrix.hosts:
        row = [matrix.label(source)]
        for sink in matrix.hosts:
            cell = matrix.cells.get((source, sink))
            row.append("" if cell is None else matrix.text(cell))
        rows.append(row)
    return rows


def render_terminal(results: Sequence[QosResult]) -> str:
    """Plain-text grids, one per mesh test ('' when there is no mesh)."""
    blocks = []
    for matrix in matrices(results):
        grid = _grid(matrix)
        widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
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
            f'<table class="qos-matrix"><caption>{html.escape(matrix.caption())}</caption>'
            f"<tr><th>from \\ to</th>{head}</tr>{''.join(body)}</table>{note}"
        )
    return _STYLE + "\n".join(blocks) if blocks else ""
