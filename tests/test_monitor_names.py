"""The one naming rule (monitor/names.py), and the series a result becomes (monitor/series.py)."""

from __future__ import annotations

import re
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.judge.metrics import CATALOGUE
from pytest_qos.monitor.client import exposition
from pytest_qos.monitor.names import label_value, labels, metric_name, series_name
from pytest_qos.monitor.series import Identity, Record, bound_limits, result_samples
from pytest_qos.results import Check, Measurement, QosResult
from pytest_qos.units import Kind

VALID_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@pytest.mark.parametrize(
    ("metric", "name", "pairs", "scale"),
    [
        ("throughput", "qos_throughput_bytes_per_second", (), 0.125),
        ("video.throughput", "qos_throughput_bytes_per_second", (("flow", "video"),), 0.125),
        ("ef.latency.p99", "qos_latency_p99_seconds", (("probe", "ef"),), 1.0),
        ("jitter", "qos_jitter_seconds", (), 1.0),
        ("loss", "qos_loss_ratio", (), 0.01),
        ("latency.loss", "qos_latency_loss_ratio", (), 0.01),
        ("latency.up.p99", "qos_latency_up_p99_seconds", (), 1.0),
        ("mos", "qos_mos", (), 1.0),
        ("retransmits", "qos_retransmits", (), 1.0),
        ("tcp.bdp", "qos_tcp_bdp_bytes", (), 1.0),
        (
            "router.WAN.class.1:20.drops",
            "qos_router_class_drops",
            (("router", "1:20"), ("interface", "WAN")),
            1.0,
        ),
        (
            "router.qdisc.1:.backlog",
            "qos_router_qdisc_backlog_bytes",
            (("router", "1:"), ("interface", "all")),
            1.0,
        ),
        (
            "router.class.1:20.bytes",
            "qos_router_class_bytes",
            (("router", "1:20"), ("interface", "all")),
            1.0,
        ),
        (
            "rfc2544.throughput.1518",
            "qos_rfc2544_throughput_bytes_per_second",
            (("frame", "1518"),),
            0.125,
        ),
        (
            "y1564.voice.cir50.ir",
            "qos_y1564_ir_bytes_per_second",
            (("service", "voice"), ("step", "cir50")),
            0.125,
        ),
        ("weird-name.x y", "qos_weird_name_x_y", (), 1.0),
    ],
)
def test_the_documented_names(
    metric: str, name: str, pairs: tuple[tuple[str, str], ...], scale: float
) -> None:
    series = series_name(metric)
    assert (series.name, series.labels, series.scale) == (name, pairs, scale)


def test_every_catalogue_metric_gets_a_valid_name_with_its_unit() -> None:
    units = {Kind.RATE: "_bytes_per_second", Kind.DURATION: "_seconds", Kind.PERCENT: "_ratio"}
    for metric in CATALOGUE.values():
        series = series_name(metric.name)
        assert VALID_NAME.match(series.name), series.name
        assert series.name.startswith("qos_")
        if metric.kind in units:
            assert series.name.endswith(units[metric.kind]), metric.name


@given(st.text(max_size=40))
def test_any_name_maps_to_a_valid_prometheus_name(text: str) -> None:
    assert VALID_NAME.match(metric_name(text, None))


@given(st.text(max_size=40))
def test_label_values_are_utf8_without_control_characters(text: str) -> None:
    value = label_value(text)
    value.encode("utf-8")  # no lone surrogates left
    assert not re.search("[\x00-\x1f\x7f-\x9f]", value)
    assert len(value) == len(text)


@pytest.mark.parametrize(
    ("written", "carried"),
    [
        ("scenarios/é/ß.yaml", "scenarios/é/ß.yaml"),  # Unicode is carried as it is
        ("bad\udcffname.yaml", "bad\ufffdname.yaml"),  # a file name's non-UTF-8 byte
        ("line\nbreak", "line\ufffdbreak"),
        ('quote"back\\slash', 'quote"back\\slash'),  # escaped by the writer, not changed
    ],
)
def test_label_value_rule(written: str, carried: str) -> None:
    assert label_value(written) == carried


def test_an_empty_label_value_leaves_the_label_out() -> None:
    assert labels({"flow": "", "probe": "ef"}) == (("probe", "ef"),)


def _result() -> QosResult:
    flow = Measurement("iperf3", {"throughput": 8e6, "loss": 2.0}, command=["iperf3", "-R"])
    probe = Measurement("probe:udp", {"latency.p99": 0.03})
    return QosResult(
        "scenarios/a.yaml::t",
        [flow, probe],
        [
            Check("throughput", ">= 10 Mbit/s", 8e6, False),
            Check("loss", "0 % .. 1 %", 2.0, False),
            Check("latency.p99", "< 50 ms", 0.03, True),
            Check("throughput", ">= 95% of baseline", 8e6, True, baseline=1e7),
        ],
        outcome="failed",
    )


def _values(samples: list) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[type-arg]
    return {(s.name, s.labels): s.value for s in samples}


def test_a_result_becomes_its_verdict_values_and_bounds() -> None:
    values = _values(result_samples(_result()))
    assert values[("qos_test_passed", ())] == 0.0
    assert values[("qos_throughput_bytes_per_second", (("direction", "download"),))] == 1e6
    assert values[("qos_loss_ratio", (("direction", "download"),))] == 0.02
    assert values[("qos_latency_p99_seconds", ())] == 0.03
    assert values[("qos_bound_throughput_bytes_per_second", (("kind", "min"),))] == 1.25e6
    assert values[("qos_bound_loss_ratio", (("kind", "min"),))] == 0.0
    assert values[("qos_bound_loss_ratio", (("kind", "max"),))] == 0.01
    assert values[("qos_bound_latency_p99_seconds", (("kind", "max"),))] == 0.05
    held = {
        dict(labels)["bound"]: value
        for (name, labels), value in values.items()
        if name == "qos_bound_passed"
    }
    assert held == {
        ">= 10 Mbit/s": 0.0,
        "0 % .. 1 %": 0.0,
        "< 50 ms": 1.0,
        ">= 95% of baseline": 1.0,
    }


def test_a_relative_bound_draws_its_resolved_limit_and_none_without_a_baseline() -> None:
    check = Check("throughput", ">= 95% of baseline", 8e6, True, baseline=1e7)
    assert bound_limits(check, None) == [("min", 0.95 * 1e7)]
    assert bound_limits(Check("throughput", ">= 95% of baseline", 8e6, True), None) == []
    assert bound_limits(Check("throughput", "-5 % vs baseline", 8e6, True), None) == []


def test_a_scenario_bound_is_exact_where_the_check_text_is_rounded() -> None:
    record = Record(Identity("s.yaml", "t"), (("throughput", ">= 19.4567 Mbit/s"),))
    check = Check("throughput", ">= 19.5 Mbit/s", 2e7, True)
    assert bound_limits(check, record.parsed_bounds()["throughput"]) == [("min", 19.4567e6)]


def test_names_that_collide_keep_the_first_series_only() -> None:
    result = QosResult("t", [Measurement("benchmark", {"a.b": 1.0, "a-b": 2.0})], outcome="passed")
    named = [s for s in result_samples(result) if s.name == "qos_a_b"]
    assert [s.value for s in named] == [1.0]


def test_the_exposition_passes_promtool(tmp_path: object) -> None:
    promtool = pytest.importorskip("shutil").which("promtool")
    if promtool is None:
        pytest.skip("needs promtool (make test-install)")
    identity = Identity("scenarios/bad\udcff name.yaml", 'te"st\n', (("from", "a"), ("to", "b")))
    text = exposition(result_samples(_result(), common=identity.grouping()))
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "bad\ufffd name.yaml".encode() in text
