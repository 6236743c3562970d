"""Plots people can read: the bound as a line, the measured window shaded, a mix in one view."""

from __future__ import annotations

import importlib.util

import pytest

from pytest_qos.report.plots import Marks, _marks, plot_measurement, plot_result
from pytest_qos.results import Check, Measurement, QosResult

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (plots extra) missing"
)
PNG = b"\x89PNG\r\n\x1a\n"


def _flow(name: str, rate: float) -> Measurement:
    flow = Measurement(
        "iperf3",
        {f"{name}.throughput": rate},
        series={"throughput": [(t, rate) for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)]},
        details={"name": name, "window": [1.0, 4.0]},
    )
    return flow


def mix() -> QosResult:
    probe = Measurement(
        "probe:udp",
        {"ef.latency.p99": 0.002},
        series={"rtt": [(i * 0.02, 0.001) for i in range(150)]},
        details={"name": "ef"},
    )
    checks = [
        Check("video.throughput", ">= 10 Mbit/s", 12e6, True),
        Check("bulk.throughput", "25 Mbit/s .. 35 Mbit/s", 30e6, True),
        Check("ef.latency.p99", "<= 5 ms", 0.002, True),
    ]
    flows = [_flow("video", 12e6), _flow("bulk", 30e6), _flow("voice", 2e6)]
    return QosResult("mix.yaml::mix", [*flows, probe], checks, window=(1.0, 4.0))


def test_each_measurement_knows_its_bounds_and_window() -> None:
    result = mix()
    video, bulk, voice, probe = result.measurements
    assert _marks(result, video, "") == Marks(
        (("video.throughput >= 10 Mbit/s", 10e6),), window=(1.0, 4.0)
    )
    assert [value for _, value in _marks(result, bulk, "").bounds] == [25e6, 35e6]
    assert _marks(result, voice, "").bounds == ()
    assert _marks(result, probe, "").bounds == (("ef.latency.p99 <= 5 ms", 0.005),)
    # A relative bound is drawn at the baseline's share.
    relative = QosResult(
        "t",
        [Measurement("iperf3", {"throughput": 1e6}, series={"throughput": [(1.0, 1e6)]})],
        [Check("throughput", ">= 95% of baseline", 1e6, True, baseline=2e6)],
    )
    assert _marks(relative, relative.measurements[0], "").bounds == (
        ("throughput >= 95% of baseline", pytest.approx(1.9e6)),
    )


@needs_matplotlib
def test_a_mix_is_one_combined_view_and_its_probe_keeps_its_own() -> None:
    plots = plot_result(mix())
    labels = [label for label, _ in plots]
    assert labels == ["0-mix", "4-ef_probe_udp"], labels  # no plot per flow
    assert all(png.startswith(PNG) for _, png in plots)
    single = plot_measurement(_flow("video", 12e6), marks=Marks((("b", 10e6),), (1.0, 4.0)))
    assert single is not None and single.startswith(PNG)
