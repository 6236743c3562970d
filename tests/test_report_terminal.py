"""The terminal's failure report: what it says a figure means is how it was computed."""

from __future__ import annotations

import shutil

import pytest

from conftest import ScenarioWriter
from pytest_qos.report.definitions import definition
from pytest_qos.results import Measurement, QosResult

needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


def test_a_windowed_figure_is_defined_by_its_window() -> None:
    flow = Measurement("iperf3", {"throughput": 1e6, "loss": 0.0}, label="")
    flow.details = {"window": [1.0, 4.0], "window_source": "receiver"}
    result = QosResult("t", [flow], window=(1.0, 4.0))
    said = definition(result, "throughput")
    assert said is not None
    assert "end.sum_received" not in said
    assert "measured window" in said and "receiver's iperf3 intervals" in said
    assert "from 1 s to 4 s" in said
    flow.details["window_source"] = "sender"
    assert "sender's iperf3 intervals" in (definition(result, "throughput") or "")
    assert "whole run" in (definition(result, "loss") or "")
    plain = QosResult("t", [Measurement("iperf3", {"throughput": 1e6})])
    assert definition(plain, "throughput") == "receiver-side goodput (iperf3 end.sum_received)"


@needs_iperf3
def test_a_mix_failure_prints_the_definition_it_computed(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(
        "tests:\n"
        "  mix:\n"
        "    flows:\n"
        "      video: {protocol: udp, bitrate: 2 Mbit/s}\n"
        "      bulk: {protocol: udp, bitrate: 1 Mbit/s}\n"
        "    duration: 2 s\n"
        "    settle: 1 s\n"
        "    expect: {video.throughput: '>= 1 Gbit/s'}\n"
    )
    result = pytester.runpytest("--qos")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "end.sum_received" not in text
    result.stdout.fnmatch_lines(
        [
            "*video.throughput: goodput over the measured window: bytes in the receiver's "
            "iperf3 intervals from 1 s to 3 s of its run (settle and tail left out)*"
        ]
    )
