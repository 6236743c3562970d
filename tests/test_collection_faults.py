"""Nonsense found when a scenario is collected, one line each (issue 23): bounds outside what a
metric can be, probe intervals faster than a probe keeps, paths and meshes that measure nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.hosts import testbed as tb
from pytest_qos.hosts.testbed import HostSpec
from pytest_qos.judge.bounds import parse_expectations
from pytest_qos.judge.metrics import CATALOGUE, lookup
from pytest_qos.probes import Probe
from pytest_qos.scenario.reader import parse_scenario
from pytest_qos.scenario.sites import plan

pytest_plugins = ["pytester"]


def _error(text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, Path("s.qos.yaml"))
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("metric", "bound", "probe"),
    [
        ("latency.p99", "<= -1 ms", True),
        ("latency.loss", ">= 150 %", True),
        ("mos", ">= 7", True),
        ("throughput", ">= -5 Mbit/s", False),
        ("loss", "<= 200 %", False),
        ("throughput", "-5 Mbit/s .. 10 Mbit/s", False),
        ("throughput", ">= -5% of baseline", False),
        ("dscp.received", "== 64", True),
    ],
)
def test_bounds_outside_a_metrics_range_are_refused(metric: str, bound: str, probe: bool) -> None:
    body = "probe: {kind: udp}" if probe else "traffic: {protocol: udp}"
    message = _error(f"tests:\n  t:\n    {body}\n    expect: {{{metric}: '{bound}'}}\n")
    assert message.startswith(f"s.qos.yaml:4: tests.t.expect.{metric}: ")
    assert "outside what" in message or "negative share" in message


@pytest.mark.parametrize(
    ("metric", "bound"),
    [
        ("latency.p99", "<= 0 ms"),
        ("latency.loss", "<= 100 %"),
        ("mos", ">= 4.5"),
        ("cpu.local", "<= 150 %"),
        ("tcp.buffer_delay", "<= 300 %"),
        ("loss", "0 % .. 100 %"),
    ],
)
def test_bounds_inside_the_range_pass(metric: str, bound: str) -> None:
    assert parse_expectations({metric: bound})[metric].text == bound


def test_every_metric_has_a_range() -> None:
    for name in CATALOGUE:
        low, high = lookup(name).value_range
        assert low < high


@pytest.mark.parametrize("interval", ["100 us", "0.1 ms", "0.5 ms", "999 us"])
def test_intervals_below_the_smallest_kept_are_refused(interval: str) -> None:
    with pytest.raises(InputError, match=r"below the smallest a probe keeps, 1 ms"):
        Probe.from_options({"interval": interval})


@pytest.mark.parametrize("interval", ["1 ms", "1000 us", "0.001 s", "1000000 ns", "20 ms"])
def test_intervals_at_or_above_the_smallest_pass(interval: str) -> None:
    assert Probe.from_options({"interval": interval}).interval >= 0.001 * (1 - 1e-9)


def test_command_line_interval_has_the_same_floor() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_qos", "probe", "--host=127.0.0.1", "--interval", "0.0005"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "from 0.001 up to 3600" in done.stderr


def test_rfc2544_max_loss_of_100_percent_is_refused() -> None:
    message = _error("tests:\n  t:\n    rfc2544: {range: 1 Mbit/s .. 10 Mbit/s, max_loss: 100 %}\n")
    assert "max_loss" in message and "below 100 %" in message


SITES = tb.Testbed(
    Path("bed.yaml"),
    {f"h{i}": HostSpec(f"h{i}", i, "local", (f"198.18.{i}.2",)) for i in (1, 2)},
    {"both": ("h1", "h2")},
)


@pytest.mark.parametrize(
    ("head", "where", "what"),
    [
        ("path: {to: here}", "s.qos.yaml:1: path.to: ", "can only be a path's 'from'"),
        ("path: {from: here, to: here}", "s.qos.yaml:1: path.to: ", "can only be"),
        ("path: {from: h1, to: h1}", "s.qos.yaml:1: path.from: ", "to itself"),
        ("mesh: {from: h1, to: [h1]}", "s.qos.yaml:1: mesh.to.0: ", "has no pairs"),
        ("mesh: {from: h1, to: h1}", "s.qos.yaml:1: mesh.to: ", "has no pairs"),
    ],
)
def test_paths_and_meshes_that_measure_nothing(head: str, where: str, what: str) -> None:
    scenario = parse_scenario(f"{head}\ntests:\n  t: {{traffic: {{}}}}\n", Path("s.qos.yaml"))
    with pytest.raises(ScenarioError) as caught:
        list(plan(scenario, SITES))
    assert str(caught.value).startswith(where) and what in str(caught.value)


def test_a_testbed_host_named_here_is_a_host() -> None:
    bed = tb.Testbed(
        Path("b.yaml"), {**SITES.hosts, "here": HostSpec("here", 3, "local", ("::1",))}
    )
    scenario = parse_scenario(
        "path: {from: h1, to: here}\ntests:\n  t: {traffic: {}}\n", Path("s.yaml")
    )
    assert [pair for _, pair, _ in plan(scenario, bed)] == [("h1", "here")]


def test_mesh_without_pairs_fails_collection_in_one_line(pytester: pytest.Pytester) -> None:
    """It used to collect 0 tests and pass."""
    bed = pytester.path / "bed.yaml"
    bed.write_text("hosts:\n  a: {local: true, address: 127.0.0.1}\n")
    (pytester.path / "m.qos.yaml").write_text(
        "mesh: {from: a, to: [a]}\ntests:\n  t: {traffic: {}}\n"
    )
    result = pytester.runpytest("--qos", f"--qos-testbed={bed}", "m.qos.yaml")
    result.stdout.fnmatch_lines(["*m.qos.yaml:1: mesh.to.0: this mesh has no pairs*"])
    assert result.ret == pytest.ExitCode.INTERRUPTED
