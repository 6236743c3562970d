"""Named concurrent flows: parsing, the one measured window, prefixed metrics in every report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_tools import ok_iperf3
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError, MeasurementError, ScenarioError
from pytest_qos.hosts.target import remote_target
from pytest_qos.judge.compare import compare
from pytest_qos.judge.metrics import lookup, split_name
from pytest_qos.judge.thresholds import Threshold, parse_compare_fail
from pytest_qos.measure.client import Iperf3Client
from pytest_qos.measure.iperf3 import Iperf3, parse_result
from pytest_qos.measure.request import WINDOW_KEYS, FlowsRequest
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.traffic import TRAFFIC_KEYS, Traffic
from pytest_qos.measure.windows import window_metrics, window_total
from pytest_qos.results import Measurement, QosResult
from pytest_qos.scenario.reader import load_scenario
from pytest_qos.scenario.spec import FlowsTest, TrafficTest

MIX = """\
tests:
  mix:
    flows:
      voice: {protocol: udp, bitrate: 64 kbit/s, length: 160, dscp: EF}
      video: {protocol: udp, bitrate: 12 Mbit/s, dscp: AF41}
      bulk: {protocol: tcp, streams: 4}
    probe: {kind: udp, dscp: EF, interval: 20 ms}
    duration: 5 s
    settle: 2 s
    expect:
      voice.loss: "<= 0.5 %"
      video.throughput: ">= 10 Mbit/s"
      bulk.throughput: ">= 20 Mbit/s"
      latency.p99: "<= 10 ms"
"""


# --- parsing ------------------------------------------------------------------------------------


def test_flows_test_parses_names_window_and_prefixed_bounds(tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(MIX)
    (spec,) = load_scenario(path).tests
    assert isinstance(spec, FlowsTest)  # not a traffic test: no measured flow of its own
    request = spec.request
    assert list(request.flows) == ["voice", "video", "bulk"]
    assert request.flows["video"] == Traffic.from_options(
        {"protocol": "udp", "bitrate": "12 Mbit/s", "dscp": "AF41"}
    )
    assert (request.duration, request.settle) == (5.0, 2.0)
    assert request.probe is not None
    assert set(spec.expect) == {"voice.loss", "video.throughput", "bulk.throughput", "latency.p99"}


def test_named_probes_parse(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "tests:\n  t:\n    probes:\n      ef: {kind: udp, dscp: EF}\n      be: {kind: udp}\n"
        "    load: {protocol: tcp}\n    expect:\n      ef.latency.p99: '<= 5 ms'\n"
        "      be.latency.p50: '< 1 s'\n"
    )
    (spec,) = load_scenario(path).tests
    assert isinstance(spec, TrafficTest)
    assert set(spec.request.probes) == {"ef", "be"} and spec.request.probes["ef"].dscp == 46


FLOW_ERRORS = [
    # (test body lines, key, words); every case is one line naming file, line and key.
    (
        "    flows:\n      - {protocol: udp}\n",
        "tests.t.flows",
        "'flows' is a mapping of flow name → options, e.g. 'flows: {video: {protocol: udp}}'",
    ),
    (
        "    flows:\n      throughput: {protocol: udp}\n",
        "tests.t.flows.throughput",
        "flow name 'throughput' is also a metric's name",
    ),
    (
        "    flows:\n      latency: {protocol: udp}\n",
        "tests.t.flows.latency",
        "call it e.g. 'latency-flow'",
    ),
    (
        "    flows:\n      video.hd: {protocol: udp}\n",
        "tests.t.flows.video.hd",
        "'.' separates it from the metric",
    ),
    (
        "    flows:\n      video: {protocol: udp}\n"
        "    expect:\n      vidoe.throughput: '>= 1 Mbit/s'\n",
        "tests.t.expect.vidoe.throughput",
        "this test has no flow or probe named 'vidoe' — did you mean 'video'? (it has: video)",
    ),
    (
        "    flows:\n      video: {protocol: udp}\n"
        "    expect:\n      video.throughpt: '>= 1 Mbit/s'\n",
        "tests.t.expect.video.throughpt",
        "unknown metric 'video.throughpt' — did you mean 'video.throughput'?",
    ),
    (
        "    traffic: {protocol: udp}\n    flows:\n      video: {protocol: udp}\n",
        "tests.t.flows",
        "'flows' and 'traffic' cannot be combined: name the measured flow under 'flows:'",
    ),
    (
        "    load: {protocol: tcp}\n    flows:\n      video: {protocol: udp}\n",
        "tests.t.flows",
        "'flows' and 'load' cannot be combined",
    ),
    (
        "    flows:\n      video: {protocol: udp, duration: 3 s}\n",
        "tests.t.flows.video.duration",
        "all flows share the test's window: set 'duration:'",
    ),
    (
        "    traffic: {protocol: udp}\n    duration: 3 s\n",
        "tests.t.duration",
        "'duration' is the measured window of a 'flows:' test",
    ),
    (
        "    flows:\n      video: {protocol: udp}\n    probe: {kind: udp, count: 10}\n",
        "tests.t.probe.count",
        "a probe beside 'flows:' sends over the test's window; remove 'count'",
    ),
    (
        "    flows:\n      video: {protocol: udp}\n    expect:\n      throughput: '>= 1 Mbit/s'\n",
        "tests.t.expect.throughput",
        "this test has named flows (video); say whose throughput, e.g. 'video.throughput'",
    ),
    (
        "    flows:\n      bulk: {protocol: tcp}\n    expect:\n      bulk.loss: '<= 1 %'\n",
        "tests.t.expect.bulk.loss",
        "flow 'bulk': 'loss' is measured for UDP only",
    ),
    (
        "    flows:\n      bulk: {protocol: tcp}\n    expect:\n      bulk.latency.p99: '<= 1 s'\n",
        "tests.t.expect.bulk.latency.p99",
        "'bulk' is an iperf3 flow; 'latency.p99' is measured by a probe",
    ),
    (
        "    probes:\n      ef: {kind: udp}\n    expect:\n      ef.throughput: '>= 1 Mbit/s'\n",
        "tests.t.expect.ef.throughput",
        "'ef' is a latency probe; 'throughput' is measured by an iperf3 flow",
    ),
    (
        "    probes:\n      ef: {kind: udp}\n    expect:\n      latency.p99: '<= 1 s'\n",
        "tests.t.expect.latency.p99",
        "say which probe's latency.p99, e.g. 'ef.latency.p99'",
    ),
    (
        "    probe: {kind: udp}\n    probes:\n      ef: {kind: udp}\n",
        "tests.t.probes",
        "'probes' and 'probe' cannot be combined",
    ),
    (
        "    flows: {}\n",
        "tests.t.flows",
        "'flows:' is empty; name at least one flow",
    ),
]


@pytest.mark.parametrize(("body", "key", "words"), FLOW_ERRORS)
def test_bad_flows_input_is_one_clear_line(tmp_path: Path, body: str, key: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tests:\n  t:\n" + body)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert error.key == key
    assert words in error.message
    assert error.line is not None and str(error).startswith(f"{path}:{error.line}: {key}: ")
    assert "\n" not in str(error)


def test_schema_flow_keys_are_traffic_keys_but_the_window() -> None:
    schema = json.loads(
        (Path(__file__).parents[1] / "pytest_qos" / "scenario" / "scenario.schema.json").read_text()
    )
    flow = schema["$defs"]["flow"]["properties"]
    assert set(flow) == set(TRAFFIC_KEYS) - set(WINDOW_KEYS)


def test_schema_accepts_a_flows_test_and_rejects_flows_beside_traffic() -> None:
    import jsonschema
    import yaml

    schema = json.loads(
        (Path(__file__).parents[1] / "pytest_qos" / "scenario" / "scenario.schema.json").read_text()
    )
    jsonschema.validate(yaml.safe_load(MIX), schema)
    bad = yaml.safe_load(MIX)
    bad["tests"]["mix"]["traffic"] = {"protocol": "tcp"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = yaml.safe_load(MIX)
    bad["tests"]["mix"]["flows"]["throughput"] = {"protocol": "tcp"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# --- metric names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("throughput", ("", "throughput")),
        ("throughput.sent", ("", "throughput.sent")),
        ("video.throughput.wire", ("video", "throughput.wire")),
        ("ef.latency.p99", ("ef", "latency.p99")),
        ("cpu.local", ("", "cpu.local")),
    ],
)
def test_prefixed_names_split_into_flow_and_metric(name: str, parts: tuple[str, str]) -> None:
    assert split_name(name) == parts
    assert lookup(name).name == parts[1]


def test_compare_fail_takes_a_flows_metric() -> None:
    assert parse_compare_fail("video.throughput:5%,ef.latency.p99:20%+1ms") == {
        "video.throughput": Threshold(5.0),
        "ef.latency.p99": Threshold(20.0, 0.001),
    }
    with pytest.raises(InputError, match=r"unknown metric 'video\.throughpt'"):
        parse_compare_fail("video.throughpt:5%")


def test_baseline_compares_flows_metrics_flow_by_flow() -> None:
    def result(video: float, bulk: float) -> QosResult:
        metrics = {"video.throughput": video, "bulk.throughput": bulk, "video.loss": 0.0}
        return QosResult("t", [Measurement("iperf3", metrics)])

    comparison = compare(result(5e6, 30e6), result(10e6, 30e6), {"video.throughput": 5.0})
    assert [change.metric for change in comparison.changes] == ["video.throughput"]
    assert comparison.changes[0].verdict.name == "REGRESSION"
    everything = compare(result(10e6, 30e6), result(10e6, 30e6))
    assert [c.metric for c in everything.changes] == [
        "bulk.throughput",
        "video.throughput",
        "video.loss",
    ]


# --- the window from interval data --------------------------------------------------------------


def _interval(start: float, seconds: float, octets: float, **more: float) -> dict[str, Any]:
    return {
        "start": start,
        "end": start + seconds,
        "seconds": seconds,
        "bytes": octets,
        "bits_per_second": octets * 8 / seconds,
        **more,
    }


@given(
    rates=st.lists(st.floats(1e3, 1e9), min_size=8, max_size=8),
    low=st.integers(0, 3),
    length=st.integers(1, 4),
)
def test_whole_second_windows_take_whole_intervals(
    rates: list[float], low: int, length: int
) -> None:
    intervals = [_interval(float(i), 1.0, rate / 8) for i, rate in enumerate(rates)]
    octets, covered = window_total(intervals, (low, low + length), "bytes")
    assert covered == pytest.approx(length)
    assert octets == pytest.approx(sum(rates[low : low + length]) / 8)


def test_an_interval_straddling_an_edge_counts_pro_rata() -> None:
    intervals = [_interval(0.0, 1.0, 1000.0), _interval(1.0, 1.0, 3000.0)]
    assert window_total(intervals, (0.5, 1.5), "bytes") == pytest.approx((2000.0, 1.0))


def _document(client: list[dict[str, Any]], server: list[dict[str, Any]] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "start": {"test_start": {"protocol": "UDP", "reverse": 0}},
        "intervals": [{"sum": i} for i in client],
    }
    if server is not None:
        document["server_output_json"] = {"intervals": [{"sum": i} for i in server]}
    return document


def test_udp_loss_and_jitter_come_from_the_receivers_intervals_in_the_window() -> None:
    sent = [_interval(float(i), 1.0, 125_000.0, packets=100) for i in range(4)]
    received = [
        _interval(0.0, 1.0, 62_500.0, packets=100, lost_packets=50, jitter_ms=9.0),  # settling
        _interval(1.0, 1.0, 125_000.0, packets=100, lost_packets=0, jitter_ms=1.0),
        _interval(2.0, 1.0, 112_500.0, packets=100, lost_packets=10, jitter_ms=3.0),
        _interval(3.0, 1.0, 0.0, packets=0, lost_packets=0, jitter_ms=0.0),  # the tail
    ]
    figures = window_metrics(_document(sent, received), (1.0, 3.0), "udp")
    assert figures.source == "receiver"
    assert figures.metrics["throughput"] == pytest.approx(0.95e6)
    assert figures.metrics["throughput.sent"] == pytest.approx(1e6)
    assert figures.metrics["loss"] == pytest.approx(5.0)
    assert figures.metrics["packets"] == pytest.approx(200)
    assert figures.metrics["jitter"] == pytest.approx(0.002)


def test_without_the_servers_json_the_window_falls_back_to_the_sender() -> None:
    sent = [_interval(float(i), 1.0, 125_000.0, packets=100) for i in range(3)]
    figures = window_metrics(_document(sent, None), (1.0, 2.0), "udp")
    assert figures.source == "sender"
    assert figures.metrics["throughput"] == pytest.approx(1e6)
    assert "loss" not in figures.metrics
    document = {
        **_document(sent, None),
        "end": {
            "sum_sent": {"bits_per_second": 1e6},
            "sum": {"bits_per_second": 1e6, "jitter_ms": 2.0, "lost_percent": 1.5},
            "sum_received": {"bits_per_second": 1e6},
        },
    }
    document["end"]["sum"].update(packets=300, lost_packets=4)
    measurement = parse_result(document, ["iperf3"], (1.0, 2.0))
    assert measurement.details["window_source"] == "sender"
    assert measurement.metrics["loss"] == 1.5  # the whole run's, as details say
    assert measurement.metrics["throughput"] == pytest.approx(1e6)


def test_a_window_the_intervals_do_not_cover_is_an_error() -> None:
    sent = [_interval(float(i), 1.0, 125_000.0) for i in range(2)]
    with pytest.raises(MeasurementError, match=r"cover 1\.00 s of the 1-4 s window"):
        window_metrics(_document(sent, sent), (1.0, 4.0), "udp")


# --- the runner, on a fake iperf3 -----------------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iperf3:
    """Iperf3 pointed at the fake in "ok" mode, logging every run to tmp_path/runs."""
    return ok_iperf3(tmp_path, monkeypatch)


def test_flows_start_together_and_report_prefixed_metrics_of_the_window(
    fake: Iperf3, tmp_path: Path
) -> None:
    flows = {
        "video": Traffic.from_options({"protocol": "udp", "bitrate": "12 Mbit/s"}),
        "bulk": Traffic.from_options({"protocol": "tcp", "bitrate": "30 Mbit/s"}),
    }
    with Runner(fake, remote_target("127.0.0.1", [30011, 30012])) as runner:
        result = runner.run("t", FlowsRequest(flows=flows, settle=1.5, duration=2.0))
    runs = [json.loads(line) for line in (tmp_path / "runs").read_text().splitlines()]
    assert len(runs) == 2
    assert abs(runs[0]["time"] - runs[1]["time"]) < 1.0  # started together, not in turn
    for run in runs:
        argv = run["argv"]
        assert argv[argv.index("-t") + 1] == "5"  # ceil(1.5 + 2) + the 1 s tail
        assert "--get-server-output" in argv and "-O" not in argv
    assert result.window == (1.5, 3.5)
    metrics = result.metrics
    assert metrics["video.throughput"] == pytest.approx(12e6)
    assert metrics["bulk.throughput"] == pytest.approx(30e6)
    assert metrics["video.loss"] == 0.0 and "bulk.retransmits" in metrics
    assert "throughput" not in metrics
    assert [m.details["name"] for m in result.measurements] == ["video", "bulk"]


def test_a_failed_flow_names_itself(fake: Iperf3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_IPERF3_FAIL_PORT", "30012")
    flows = {"video": Traffic(protocol="udp"), "bulk": Traffic()}
    with (
        Runner(fake, remote_target("127.0.0.1", [30011, 30012])) as runner,
        pytest.raises(MeasurementError, match=r"^flow 'bulk' failed: iperf3 failed: unable"),
    ):
        runner.run("t", FlowsRequest(flows=flows, settle=0.0, duration=1.0))


# --- end to end on loopback: every report names FLOW.METRIC --------------------------------------


def test_flows_metrics_reach_table_json_junit_and_markdown(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("mix.qos.yaml").write_text(
        "tests:\n  mix:\n    flows:\n"
        "      video: {protocol: udp, bitrate: 2 Mbit/s, dscp: AF41}\n"
        "      bulk: {protocol: tcp, bitrate: 5 Mbit/s}\n"
        "    settle: 1 s\n    duration: 1 s\n    expect:\n"
        "      video.throughput: '>= 1.8 Mbit/s'\n      bulk.throughput: '>= 4 Mbit/s'\n"
    )
    result = pytester.runpytest_subprocess(
        "--qos",
        "--qos-json=out.json",
        "--junitxml=junit.xml",
        "--qos-md=out.md",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*mix*video.throughput*>= 1.8 Mbit/s*pass*",
            "*mix*bulk.throughput*>= 4 Mbit/s*pass*",
            "*mix*window*(measured)*1 s .. 2 s of each flow*",
        ]
    )
    (entry,) = json.loads((pytester.path / "out.json").read_text())["results"]
    assert entry["window"] == {"start": 1.0, "end": 2.0}
    assert {"video.throughput", "video.loss", "bulk.throughput"} <= set(entry["metrics"])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="qos.video.throughput"' in junit
    assert 'name="qos.bound.bulk.throughput"' in junit
    assert "video.throughput" in (pytester.path / "out.md").read_text()


def test_run_flows_from_python(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        def test_mix(iperf3, qos_check):
            measured = iperf3.run_flows(
                {"voice": {"protocol": "udp", "bitrate": "64 kbit/s", "length": 160},
                 "video": {"protocol": "udp", "bitrate": "2 Mbit/s"}},
                duration="1 s", settle="1 s",
            )
            assert measured.details["window"] == [1.0, 2.0]
            assert [p["name"] for p in measured.details["parts"]] == ["voice", "video"]
            qos_check(measured, {"voice.loss": "<= 1 %", "video.throughput": ">= 1.8 Mbit/s"})
        """
    )
    result = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_run_flows_refuses_a_flow_named_like_a_metric(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_qos.errors import InputError

        @pytest.mark.qos
        def test_bad(iperf3):
            with pytest.raises(InputError, match="flow name 'loss'"):
                iperf3.run_flows({"loss": {"protocol": "udp"}}, duration="1 s")
            with pytest.raises(InputError, match="all flows share the test's window"):
                iperf3.run_flows({"v": {"duration": "2 s"}})
        """
    )
    pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider").assert_outcomes(passed=1)


NAMING_CASES = [
    ("flows", "loss", {"protocol": "udp"}),  # a metric's word
    ("flows", "a.b", {"protocol": "udp"}),  # '.' separates the name from the metric
    ("flows", "v", {"protocol": "udp", "duration": "2 s"}),  # the window is the test's
    ("probes", "voice", {"kind": "udp"}),  # already a flow's name
    ("probes", "ef", {"kind": "udp", "count": 10}),  # a probe sends over the window
]


@pytest.mark.parametrize(("section", "name", "options"), NAMING_CASES)
def test_naming_rules_are_one_rule_for_yaml_and_python(
    tmp_path: Path, section: str, name: str, options: dict[str, Any]
) -> None:
    """The same name or option fails in a scenario and in run_flows with the same message."""
    flows = {"voice": {"protocol": "udp"}, **({name: options} if section == "flows" else {})}
    probes = {name: options} if section == "probes" else None
    client = Iperf3Client(Iperf3, remote_target("127.0.0.1", [30011]), lambda result: None)
    with pytest.raises(InputError) as python:
        client.run_flows(flows, probes=probes)
    path = tmp_path / "names.yaml"
    test = {"flows": flows, **({"probes": probes} if probes else {})}
    path.write_text(json.dumps({"tests": {"t": test}}))  # JSON is YAML
    with pytest.raises(ScenarioError) as scenario:
        load_scenario(path)
    assert scenario.value.message == python.value.message
