"""The mesh matrix as people read it: one unit per grid, the metric in the caption, a mark
beside every colour (✓ ✗ !), padded cells."""

from __future__ import annotations

import re

from pytest_qos.report.matrix import render_html, render_markdown, render_terminal
from pytest_qos.results import Check, Measurement, QosResult


def mesh() -> list[QosResult]:
    """A 3-host mesh: Gbit/s and Mbit/s values, a missed bound, an unreachable pair."""
    values = {
        ("a", "b"): 1.2e9,
        ("a", "c"): 950e6,
        ("b", "a"): 95.4e6,
        ("b", "c"): 940e6,
        ("c", "a"): 1.05e9,
    }
    results = []
    for (source, sink), value in values.items():
        check = Check("throughput", ">= 100 Mbit/s", value, value >= 100e6)
        m = Measurement("iperf3", {"throughput": value})
        results.append(QosResult(f"mesh.yaml::tcp[{source}->{sink}]", [m], [check]))
    results.append(QosResult("mesh.yaml::tcp[c->b]", error="host c: unreachable", outcome="error"))
    return results


def test_one_unit_per_grid_the_metric_in_the_caption_and_marks_everywhere() -> None:
    text = render_terminal(mesh())
    lines = text.splitlines()
    assert lines[0] == "mesh.yaml::tcp — throughput (Mbit/s); ✓ pass, ✗ fail, ! error"
    assert "Gbit/s" not in text  # one unit: the median value's
    grid = "\n".join(lines[1:])
    for cell in ("1200 ✓", "950 ✓", "95.4 ✗", "940 ✓", "1050 ✓", "! error"):
        assert cell in grid, (cell, grid)
    markdown = render_markdown(mesh())
    assert "throughput (Mbit/s); ✓ pass, ✗ fail, ! error" in markdown
    assert "| **b** | 95.4 ✗ |" in markdown


def test_html_cells_are_padded_coloured_and_marked() -> None:
    page = render_html(mesh())
    assert "padding:6px 12px" in page
    assert (
        "<caption>mesh.yaml::tcp — throughput (Mbit/s); ✓ pass, ✗ fail, ! error</caption>" in page
    )
    cells = re.findall(r'<td class="qos-(pass|fail|error)"[^>]*>([^<]*)</td>', page)
    assert len(cells) == 6 and page.count('<td class="qos-none">') == 3  # the diagonal
    marks = {"pass": "✓", "fail": "✗", "error": "!"}
    for verdict, text in cells:
        assert marks[verdict] in text, (verdict, text)  # never colour alone
    assert ("fail", "95.4 ✗") in cells and ("error", "! error") in cells
