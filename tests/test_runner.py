"""The runner: repeats and medians, background load, the server pool, probe errors.

Unit tests run a fake iperf3 (tests/fake_iperf3.py, mode "ok") against a target whose
"servers" are a list of ports, so nothing is measured; one test runs the real tools.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_tools import ok_iperf3

import pytest_qos.measure.rounds as rounds_module
from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.target import Target, local_target, remote_target
from pytest_qos.judge.bounds import parse_expectations
from pytest_qos.judge.verdict import judge
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.request import TrafficRequest
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.traffic import Traffic
from pytest_qos.probes import Probe
from pytest_qos.results import Measurement

PORTS = [30001, 30002, 30003]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iperf3:
    """Iperf3 pointed at the fake in "ok" mode, logging every run to tmp_path/runs."""
    return ok_iperf3(tmp_path, monkeypatch)


@pytest.fixture
def target() -> Target:
    """Three 'running servers' on loopback: the fake never connects to them."""
    return remote_target("127.0.0.1", PORTS)


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    """Every fake run, in start order: argv, pid, start time."""
    lines = (tmp_path / "runs").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda run: run["time"])


def option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.fixture
def runner(fake: Iperf3, target: Target) -> Iterator[Runner]:
    with Runner(fake, target) as running:
        yield running


def test_repeat_judges_the_median_and_reports_the_spread(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_IPERF3_RATES", "10e6,30e6,20e6")
    expect = parse_expectations({"throughput": ">= 15 Mbit/s"})
    result = judge(runner.run("t", TrafficRequest(traffic=Traffic(), repeat=3)), expect)
    assert result.metrics["throughput"] == 20e6
    assert result.spread["throughput"] == 20e6
    assert result.measurements[0].details["repeats"] == 3
    assert result.passed
    assert len(runs(tmp_path)) == 3


def test_load_starts_first_and_lasts_through_settle_and_measurement(
    runner: Runner, tmp_path: Path
) -> None:
    traffic = Traffic(duration=3.0, omit=1.0)
    load = Traffic(protocol="udp", bitrate=5e6, duration=1.0)
    result = runner.run("t", TrafficRequest(traffic=traffic, load=(load,), settle=0.5))
    first, second = runs(tmp_path)
    assert "-u" in first["argv"] and "-u" not in second["argv"]  # the load started first
    assert second["time"] - first["time"] >= 0.45  # ... a settle before the measurement
    # settle 0.5 + omit 1 + duration 3 + the 1 s tail, in iperf3's whole seconds.
    assert int(option(first["argv"], "-t")) == 6
    assert result.loads[0].metrics["throughput"] == 5e6
    # Concurrent flows never share a server.
    assert option(first["argv"], "-p") != option(second["argv"], "-p")


def test_load_is_reported_over_the_measured_span_not_its_settling(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The load's first second (settling, before the measurement) runs at 100 Mbit/s.
    monkeypatch.setenv(f"FAKE_IPERF3_SECONDS_{PORTS[1]}", "100e6,10e6")
    request = TrafficRequest(traffic=Traffic(duration=2.0), load=(Traffic(),), settle=1.0)
    result = runner.run("t", request)
    (load,) = result.loads
    assert load.metrics["throughput"] == pytest.approx(10e6)
    low, high = load.details["window"]
    assert 0.95 < low < 1.5 and high - low == pytest.approx(2.0)


def test_spawned_servers_one_per_concurrent_flow_kept_across_repeats(
    fake: Iperf3, tmp_path: Path
) -> None:
    with Runner(fake, local_target()) as runner:
        request = TrafficRequest(traffic=Traffic(), load=(Traffic(), Traffic()), settle=0, repeat=2)
        runner.run("t", request)
        servers = list(runner.servers.spawned)
        assert len(servers) == 3 and len({server.port for server in servers}) == 3
        assert all(server.process is not None and server.process.alive() for server in servers)
        pids = [server.process.pid for server in servers if server.process is not None]
        runner.run("t", TrafficRequest(traffic=Traffic(), settle=0))
        assert [s.process.pid for s in runner.servers.spawned if s.process is not None] == pids
    assert not any(server.process is not None and server.process.alive() for server in servers)
    ports = {option(run["argv"], "-p") for run in runs(tmp_path)}
    assert ports == {str(server.port) for server in servers}


def test_more_flows_than_running_servers_is_a_clear_error(fake: Iperf3) -> None:
    with (
        Runner(fake, remote_target("127.0.0.1", [30001])) as runner,
        pytest.raises(MeasurementError, match=r"has 1 iperf3 port.*runs 2 concurrent flows"),
    ):
        runner.run("t", TrafficRequest(traffic=Traffic(), load=(Traffic(),), settle=0))


def test_a_failed_load_names_itself(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_IPERF3_FAIL_PORT", str(PORTS[2]))
    with pytest.raises(MeasurementError) as caught:
        runner.run("t", TrafficRequest(traffic=Traffic(), load=(Traffic(), Traffic()), settle=0))
    assert str(caught.value) == (
        "background load 2 failed: iperf3 failed: unable to connect to server: Connection refused"
    )
    assert option(caught.value.command, "-p") == str(PORTS[2])


def test_a_busy_background_server_is_retried_while_the_load_runs(
    fake: Iperf3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAKE_IPERF3_BUSY", "1")
    flow = fake.start(Traffic(), "127.0.0.1", PORTS[0])
    try:
        measurement = flow.result(timeout=10)
    finally:
        flow.stop()
    assert measurement.metrics["throughput"] == 1e9
    assert len(runs(tmp_path)) == 2


def test_a_probe_error_propagates(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(probe: Probe, target: Target, name: str = "") -> Measurement:
        raise MeasurementError("the probe client failed: injected")

    monkeypatch.setattr(rounds_module, "run_probe", broken)
    with pytest.raises(MeasurementError, match=r"^the probe client failed: injected$"):
        runner.run("t", TrafficRequest(traffic=Traffic(), probe=Probe()))


def test_a_probe_overrunning_its_join_is_a_measurement_error(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(probe: Probe, target: Target, name: str = "") -> Measurement:
        time.sleep(1.5)
        return Measurement("probe:udp", {"latency.p99": 0.001})

    monkeypatch.setattr(rounds_module, "run_probe", slow)
    monkeypatch.setattr(rounds_module, "PROBE_START_ALLOWANCE", 0.0)
    monkeypatch.setattr(Probe, "timeout_total", property(lambda self: 0.3))
    with pytest.raises(MeasurementError) as caught:
        runner.run("t", TrafficRequest(traffic=Traffic(), probe=Probe()))
    assert str(caught.value) == (
        "the latency probe did not finish within 0.3 s of the measurement's end"
    )


def test_load_covers_a_probe_longer_than_its_own_duration() -> None:
    # 1.5 s: longer than the load's own 1 s, which is all this needs.
    probe = Probe.from_options({"kind": "udp", "interval": "20 ms", "duration": "1.5 s"})
    load = Traffic.from_options({"protocol": "udp", "bitrate": "1 Mbit/s", "duration": "1 s"})
    with Runner(Iperf3(), local_target()) as runner:
        result = runner.run("t", TrafficRequest(probe=probe, load=(load,), settle=0.2))
    (measured_load,) = result.loads
    # settle + the probe's 1.5 s (+ its reply timeout) + the tail: never shorter than the probe.
    assert measured_load.details["duration"] >= 0.2 + probe.send_time + probe.timeout
    assert result.metrics["latency.loss"] == 0.0


def test_a_loads_start_time_is_when_it_started() -> None:
    """JSON `loads[].started` is the load's start: before the measurement, not after it."""
    flow = Traffic.from_options({"protocol": "udp", "bitrate": "1 Mbit/s", "duration": "1 s"})
    with Runner(Iperf3(), local_target()) as runner:
        result = runner.run("t", TrafficRequest(traffic=flow, load=(flow,), settle=0.3))
    document = result.to_json()
    (load,) = document["loads"]
    (measured,) = document["measurements"]
    assert load["started"] <= measured["started"] - 0.25  # the settle time lies between
