"""Fifty sites: the mesh matrix and the results table stay readable at 50 × 50."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_qos.report import matrix, terminal
from pytest_qos.results import Check, QosResult

HOSTS = [f"sim{i:02d}" for i in range(1, 51)]
FAILING = {("sim02", "sim20"), ("sim40", "sim05")}
ERRORS = {("sim03", "sim04")}


def _results(hosts: list[str], extra_failing: int = 0) -> list[QosResult]:
    failing = FAILING | {(hosts[i], hosts[i + 1]) for i in range(1, 1 + extra_failing)}
    results = []
    for source in hosts:
        for sink in hosts:
            if source == sink:
                continue
            test = f"mesh.yaml::tcp[{source}->{sink}]"
            if (source, sink) in ERRORS:
                results.append(QosResult(test=test, error="host unreachable", outcome="error"))
                continue
            measured = 95e6 if (source, sink) in failing else 190e6
            check = Check("throughput", ">= 150 Mbit/s", measured, measured >= 150e6)
            outcome = "passed" if check.passed else "failed"
            results.append(QosResult(test=test, checks=[check], outcome=outcome))
    return results


def test_a_small_mesh_keeps_its_full_grid() -> None:
    text = matrix.render_terminal(_results(HOSTS[:3]))
    assert "from \\ to  sim01" in text
    assert "sim01             190 ✓  190 ✓" in text
    assert matrix.folded(_results(HOSTS[:3])) == set()


def test_fifty_sites_are_summarised_one_symbol_per_pair() -> None:
    # 2 + 30 failing pairs, one of them the error pair: 31 ✗, 1 !
    text = matrix.render_terminal(_results(HOSTS, extra_failing=30))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= matrix.TERMINAL_WIDTH
    assert (
        lines[0] == "mesh.yaml::tcp — throughput (Mbit/s); ✓ pass, ✗ fail, ! error, · not measured"
    )
    assert lines[1] == "50 hosts, 2450 pairs: 2418 ✓, 31 ✗, 1 !"
    # Column numbers written downwards: tens, then ones.
    assert lines[2].endswith("11111111112222222222333333333344444444445")
    assert lines[3].startswith("from \\ to") and lines[3].endswith("1234567890" * 5)
    grid = {line.split()[1]: line[-50:] for line in lines[4:54]}
    assert grid["sim02"][1] == "·" and grid["sim02"][19] == "✗"
    assert grid["sim03"][3] == "!" and grid["sim40"][4] == "✗"
    assert sum(row.count("✓") for row in grid.values()) == 2418
    assert lines[54] == "did not pass:"
    assert lines[55] == "  sim02->sim03  95 ✗"  # in host order, in the grid's unit
    listed = [line for line in lines[55:] if re.match(r"  sim\d\d->sim\d\d ", line)]
    assert len(listed) == matrix.LISTED
    assert lines[-1] == "  … and 12 more (every pair: --qos-md, --html)"


def test_the_terminal_table_lists_only_what_did_not_pass_of_a_large_mesh() -> None:
    results = _results(HOSTS)
    text = terminal.summary(results)
    assert "mesh.yaml::tcp[sim02->sim20]" in text and "mesh.yaml::tcp[sim03->sim04]" in text
    assert "mesh.yaml::tcp[sim01->sim02]" not in text
    assert "2447 passing pairs of large meshes not listed: see the QoS mesh matrix" in text
    assert len(text.splitlines()) < 20


def test_the_html_matrix_scrolls_with_its_host_names_in_view() -> None:
    page = matrix.render_html(_results(HOSTS))
    assert page.count('<div class="qos-matrix-scroll"><table class="qos-matrix">') == 1
    assert "div.qos-matrix-scroll{overflow:auto;" in page
    assert "table.qos-matrix tr:first-child th{position:sticky;top:0" in page
    assert "table.qos-matrix th:first-child{position:sticky;left:0}" in page
    assert page.count('class="qos-fail"') == 2 and page.count('class="qos-error"') == 1


MESH = """\
mesh: {group: sims}
tests:
  tcp: {traffic: {protocol: tcp, duration: 5 s}, expect: {throughput: ">= 150 Mbit/s"}}
"""


def write_fifty_sites(directory: Path) -> Path:
    """A testbed of 50 hosts nobody contacts (sim01 ...) and a mesh file over all of them."""
    hosts = "".join(
        f"  sim{i:02d}: {{ssh: sim{i:02d}.invalid, address: 198.18.{i}.2}}\n" for i in range(1, 51)
    )
    names = ", ".join(HOSTS)
    (directory / "testbed.yaml").write_text(f"hosts:\n{hosts}groups:\n  sims: [{names}]\n")
    (directory / "mesh.qos.yaml").write_text(MESH)
    return directory / "testbed.yaml"


def test_fifty_site_run_through_the_plugin(pytester: pytest.Pytester) -> None:
    """Collection, judging and reporting of 2450 simulated pairs (no traffic, no process)."""
    testbed = write_fifty_sites(pytester.path)
    result = pytester.runpytest(
        "--qos", "-p", "sim_sites", f"--qos-testbed={testbed}", "mesh.qos.yaml", "--qos-md=r.md"
    )
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] + outcomes["failed"] + outcomes.get("errors", 0) == 2450
    output = result.stdout.str()
    section = output[output.index("QoS results") : output.index("short test summary")]
    assert "passing pairs of large meshes not listed" in section
    assert "50 hosts, 2450 pairs:" in section
    assert max(len(line) for line in section.splitlines()) <= 130
    assert len(section.splitlines()) < 200
    # The Markdown report keeps every pair.
    assert (pytester.path / "r.md").read_text().count("mesh.qos.yaml::tcp[") >= 2450
