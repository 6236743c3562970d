"""The mesh matrix: per test, a from × to grid of the key metric and verdict (MaDDash-style)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..diagnose.mesh import pair_of, suspects
from ..judge.metrics import format_metric
from ..results import QosResult

SUSPECT = "⚑"  # marks the host the diagnosis finds in every failing pair


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
    suspects: list[str] = field(default_factory=list)  # common to every failing pair

    def label(self, host: str) -> str:
        """The host, marked when the diagnosis names it."""
        return f"{host} {SUSPECT}" if host in self.suspects else host

    def note(self) -> str:
        """The line under the grid that explains the mark ('' without one)."""
        if not self.suspects:
            return ""
        return f"{SUSPECT} {', '.join(self.suspects)}: in every failing pair (see the diagnosis)"


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
    rows = [["from \\ to", *map(matrix.label, matrix.hosts)]]
    for source in matrix.hosts:
        row = [matrix.label(source)]
        for sink in matrix.hosts:
            cell = matrix.cells.get((source, sink))
            row.append("" if cell is None else f"{cell.text} {_MARK[cell.verdict]}")
        rows.append(row)
    return rows


_MARK = {"pass": "✓", "fail": "✗", "error": "!"}


def render_terminal(results: Sequence[QosResult]) -> str:
    """Plain-text grids, one per mesh test ('' when there is no mesh)."""
    blocks = []
    for matrix in matrices(results):
        grid = _grid(matrix)
        widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
        lines = [f"{matrix.test}  (✓ pass, ✗ fail, ! error)"]
        for row in grid:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        lines += [matrix.note()] if matrix.note() else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


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
        lines += ["", matrix.note()] if matrix.note() else []
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


_COLOURS = {"pass": "#c8e6c9", "fail": "#ffcdd2", "error": "#ffe0b2"}


def render_html(results: Sequence[QosResult]) -> str:
    """HTML tables with coloured cells (green pass, red fail, orange error)."""
    blocks = []
    for matrix in matrices(results):
        head = "".join(f"<th>{html.escape(matrix.label(h))}</th>" for h in matrix.hosts)
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
            body.append(f"<tr><th>{html.escape(matrix.label(source))}</th>{''.join(cells)}</tr>")
        note = f'<p class="qos-suspect">{html.escape(matrix.note())}</p>' if matrix.note() else ""
        blocks.append(
            f'<table class="qos-matrix"><caption>{html.escape(matrix.test)}</caption>'
            f"<tr><th>from \\ to</th>{head}</tr>{''.join(body)}</table>{note}"
        )
    return "\n".join(blocks)
