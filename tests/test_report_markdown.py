"""The GitHub-flavoured Markdown table: real results, comparisons, escaping, step summary."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.hosts.endpoints import Local
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.judge.compare import compare, compare_all
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic
from pytest_qos.report.markdown import append_step_summary, escape, render_markdown, write_markdown
from pytest_qos.results import Measurement, QosResult

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def cells(line: str) -> list[str]:
    """The cells of one GFM table line (split on pipes that are not escaped)."""
    assert line.startswith("| ") and line.endswith(" |"), line
    return [cell.strip() for cell in _UNESCAPED_PIPE.split(line)[1:-1]]


def table(text: str) -> list[list[str]]:
    """Every line of the Markdown table in `text`, header first, as cells."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    width = len(cells(lines[0]))
    assert re.fullmatch(r"\|( --- \|)+", lines[1]), lines[1]
    rows = [cells(line) for line in lines]
    assert all(len(row) == width for row in rows), "a row breaks the table's columns"
    return [rows[0], *rows[2:]]


@pytest.fixture(scope="module")
def real_results() -> Iterator[list[QosResult]]:
    """Two 1 s paced TCP runs on loopback (20 and 10 Mbit/s), bounds checked, as results."""
    try:
        tool = Iperf3()
    except Exception as error:  # ToolMissingError names what is missing
        pytest.skip(f"iperf3 is not installed: {error}")
    results = []
    with tool.server(Local(), "127.0.0.1") as server:
        for rate in ("20 Mbit/s", "10 Mbit/s"):
            traffic = Traffic.from_options({"bitrate": rate, "duration": "1 s"})
            measurement = tool.run(traffic, "127.0.0.1", server.port, server=server)
            expect = parse_expectations({"throughput": ">= 15 Mbit/s", "retransmits": "<= 1000"})
            results.append(
                QosResult(
                    test="tests/test_link.py::test_rate[a|b]",
                    measurements=[measurement],
                    checks=check_bounds(measurement.metrics, expect),
                )
            )
    yield results


def test_the_table_has_one_row_per_check_with_humanised_values(
    real_results: list[QosResult],
) -> None:
    fast, _ = real_results
    text = render_markdown([fast])
    assert text.startswith("### QoS results\n\n**1** QoS test: 1 passed\n")
    header, *rows = table(text)
    assert header == ["test", "metric", "expected", "measured", "verdict"]
    assert rows[0][0] == "`tests/test_link.py::test_rate[a\\|b]`"  # the pipe cannot split it
    assert rows[0][1:3] == ["throughput", ">= 15 Mbit/s"]
    number, unit = rows[0][3].split()
    assert unit == "Mbit/s" and 15 <= float(number) <= 25, rows[0][3]  # paced at 20 Mbit/s
    assert rows[0][4] == "pass"
    assert rows[1][0] == ""  # the test is named once
    assert rows[1][1] == "retransmits"


def test_a_regression_adds_baseline_columns_and_is_bold(real_results: list[QosResult]) -> None:
    fast, slow = real_results
    comparisons = {slow.test: compare(slow, fast, {"throughput": 5})}
    header, *rows = table(render_markdown([slow], comparisons, baseline_name="main"))
    assert header[-3:] == ["baseline", "change", "vs baseline"]
    throughput = rows[0]
    assert throughput[4].startswith("**FAIL")  # 10 Mbit/s misses >= 15 Mbit/s
    assert re.fullmatch(r"-\d\d\.\d %", throughput[6]), throughput[6]
    assert throughput[7].startswith("**REGRESSION (-") and throughput[7].endswith("allowed 5 %)**")
    text = render_markdown([slow], comparisons, baseline_name="main")
    assert "vs baseline `main`: 1 regressed, 0 not in baseline" in text


def test_tests_not_in_the_baseline_say_so(real_results: list[QosResult]) -> None:
    fast, _ = real_results
    comparisons = compare_all([fast], {}, {"throughput": 5})
    text = render_markdown([fast], comparisons)
    _, *rows = table(text)
    assert rows[0][-3:] == ["—", "", "not in baseline"]
    assert "0 regressed, 1 not in baseline" in text


def test_errors_loads_and_compared_only_metrics_get_rows() -> None:
    load = Measurement("iperf3", {"throughput": 5e6})
    errored = QosResult(
        "t.py::broken", loads=[load], outcome="error", error="iperf3 failed: refused\nmore"
    )
    unbounded = QosResult("t.py::plain", [Measurement("iperf3", {"throughput": 8e6})])
    before = QosResult("t.py::plain", [Measurement("iperf3", {"throughput": 10e6})])
    comparisons = {"t.py::plain": compare(unbounded, before, {"throughput": 30})}
    _, *rows = table(render_markdown([errored, unbounded], comparisons))
    assert rows[0][1:4] == ["load 1 throughput", "(reported)", "5 Mbit/s"]
    assert rows[1][1:5] == ["(error)", "", "iperf3 failed: refused", "**ERROR**"]
    assert rows[2][1:] == [
        "throughput",
        "(compared)",
        "8 Mbit/s",
        "",
        "10 Mbit/s",
        "-20.0 %",
        "worse, within 30 %",
    ]


def test_jitter_rows_carry_the_definition_note() -> None:
    measured = {"jitter": 0.0003, "loss": 0.0}
    checks = check_bounds(measured, parse_expectations({"jitter": "< 1 ms"}))
    text = render_markdown([QosResult("t::udp", [Measurement("iperf3", measured)], checks)])
    assert "RFC 3550" in text and "RFC 3393" in text


@given(st.text(max_size=40))
def test_escaped_cells_never_add_columns_or_lines(text: str) -> None:
    cell = escape(text)
    assert "\n" not in cell and "\r" not in cell
    assert len(_UNESCAPED_PIPE.split(f"| {cell} |")) == 3


def test_write_markdown_and_append_to_the_step_summary(
    tmp_path: Path, real_results: list[QosResult]
) -> None:
    text = render_markdown(real_results[:1])
    written = write_markdown(tmp_path / "out" / "qos.md", text)
    assert written.read_text() == text
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    assert append_step_summary(text, {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert append_step_summary(text, {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert summary.read_text() == "# earlier step\n" + text + text
    assert append_step_summary(text, {}) is None
