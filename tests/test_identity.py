"""Several measurements in one Python test keep their identity: keys, rows, JUnit names."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import pytest

from pytest_qos.judge.metrics import format_metric, split_name
from pytest_qos.results import Measurement, QosResult

needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


def test_labels_prefix_and_clashes_get_their_own_name() -> None:
    """No metric of one measurement is ever overwritten by another's."""
    result = QosResult(
        "t",
        [
            Measurement("iperf3", {"throughput": 2e6, "throughput.wire": 2.06e6}),
            Measurement("values", {"throughput": 0.0}, label="tc"),
            Measurement("iperf3", {"throughput": 3e6}),
            Measurement("probe:udp", {"latency.p99": 0.001}),
        ],
    )
    assert result.metrics == {
        "throughput": 2e6,
        "throughput.wire": 2.06e6,
        "tc.throughput": 0.0,
        "iperf3-3.throughput": 3e6,
        "latency.p99": 0.001,  # no clash: a scenario's flow + probe keep their plain names
    }
    assert split_name("tc.throughput") == ("tc", "throughput")
    assert split_name("iperf3-3.latency.p99") == ("iperf3-3", "latency.p99")
    assert split_name("latency.p99") == ("", "latency.p99")
    assert format_metric("tc.throughput.wire", 2.06e6) == "2.06 Mbit/s"


def test_a_label_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError, match=r"label 'a\.b'"):
        Measurement("values", {}, label="a.b")


@needs_iperf3
def test_a_counter_reading_and_a_flow_keep_apart_in_junit_and_the_table(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        def test_two(iperf3, qos_check):
            flow = iperf3.run(protocol="udp", bitrate="2 Mbit/s", duration="1 s")
            qos_check({"throughput": 0.0}, label="tc")
            qos_check(flow, throughput=">= 1 Mbit/s")
        """
    )
    result = pytester.runpytest("--qos", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    junit = ET.parse(pytester.path / "junit.xml")
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert float(properties["qos.throughput"]) == pytest.approx(2e6, rel=0.1)
    assert float(properties["qos.throughput.wire"]) > 2e6
    assert properties["qos.tc.throughput"] == "0.0"
    result.stdout.fnmatch_lines_random(
        ["*test_two*tc.throughput*(reported)*0 bit/s*", "*test_two*throughput*>= 1 Mbit/s*pass*"]
    )


@needs_iperf3
def test_measurements_from_threads_each_get_a_row_and_say_they_waited(
    pytester: pytest.Pytester,
) -> None:
    """Two threads measuring one path: the path lock runs them one after the other, and says so."""
    pytester.makepyfile(
        """
        import threading
        import pytest

        @pytest.mark.qos
        def test_threads(iperf3):
            def measure():
                iperf3.run(protocol="udp", bitrate="1 Mbit/s", duration="1 s")
            threads = [threading.Thread(target=measure) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        """
    )
    result = pytester.runpytest("--qos")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_threads*throughput*(reported)*1* Mbit/s*",
            "*test_threads*iperf3-2.throughput*(reported)*1* Mbit/s*",
            "*test_threads*(serialised)*iperf3-2 waited * s for the path*",
        ]
    )


@needs_iperf3
def test_waiting_for_another_tests_measurement_is_not_reported() -> None:
    """The path lock's ordinary job (tests taking turns) adds no (serialised) row."""
    import threading

    from pytest_qos.hosts.target import local_target
    from pytest_qos.measure.iperf3 import Iperf3
    from pytest_qos.measure.request import TrafficRequest
    from pytest_qos.measure.runner import Runner
    from pytest_qos.measure.traffic import Traffic

    flow = Traffic.from_options({"protocol": "udp", "bitrate": "1 Mbit/s", "duration": "1 s"})
    results: list[QosResult] = []

    def measure(test_id: str) -> None:
        with Runner(Iperf3(), local_target()) as runner:
            results.append(runner.run(test_id, TrafficRequest(traffic=flow, settle=0)))

    threads = [threading.Thread(target=measure, args=(name,)) for name in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert not any("path_wait" in r.measurements[0].details for r in results)
