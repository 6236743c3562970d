"""The rpm method on loopback (no root): a real run, the scenario and its reports, and a load
connection that fails aborting the test with one clear line."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_kill_faults import _spawned_by

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.endpoints import Local, Process, wait_until
from pytest_qos.hosts.target import local_target, remote_target
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.tcpinfo import Snapshot, SocketInfo
from pytest_qos.methods import rpm, rpm_run
from pytest_qos.methods.rpm_load import CLIENT_PORTS, Load, free_client_ports
from pytest_qos.report import terminal
from pytest_qos.report.markdown import render_markdown
from pytest_qos.results import QosResult

QUICK = {"interval": "0.25 s", "moving_average": 2, "connections": 2, "duration": "2 s"}
QUIET = ("-p", "no:cacheprovider")


def test_a_loopback_run_ramps_connections_and_reports_every_interval() -> None:
    spec = rpm.Rpm.from_options({**QUICK, "idle": "0.2 s"})
    with Runner(None, local_target()) as runner:
        result = rpm_run.run(spec, runner)
    metrics = result.metrics
    assert {"rpm", "rpm.foreign", "rpm.loaded", "rpm.goodput", "rpm.connections"} <= set(metrics)
    assert {"latency.idle", "latency.loaded", "latency.increase", "bufferbloat.grade"} <= set(
        metrics
    )
    assert metrics["latency.loaded"] == pytest.approx(60.0 / metrics["rpm"])
    assert metrics["rpm.goodput"] > 100e6  # loopback carries gigabits
    phase = result.details["phases"][0]
    steps = phase["steps"]
    counts = [row["connections"] for row in steps]  # one more each interval, once open
    assert counts == sorted(counts) and counts[-1] == 2 and counts[0] <= 1
    assert all(row["sent"] == {"tcp": 25, "udp": 25} for row in steps)  # 100/s × 0.25 s
    assert sum(row["loaded_samples"] for row in steps) > 0
    assert result.details["idle"]["answered"]["tcp"] >= 15  # 20 asked
    assert phase["confidence"]["goodput"] in ("low", "medium", "high")


def test_the_scenario_prints_the_step_table_and_keeps_it_in_json(
    pytester: pytest.Pytester, write_scenario: Any
) -> None:
    write_scenario(
        "tests:\n  bloat:\n    rpm: {interval: 0.25 s, moving_average: 2, connections: 2, "
        "duration: 2 s, idle: 0.2 s}\n    expect:\n      rpm: '>= 1000'\n"
        "      bufferbloat.grade: '>= A'\n"
    )
    out = pytester.path / "out.json"
    result = pytester.runpytest("--qos", "-rA", f"--qos-json={out}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*path.yaml::bloat*bufferbloat.grade*>= A*pass*",
            "*path.yaml::bloat — RPM upload: * (foreign *, loaded *), grade *",
            "interval*conns*goodput*moving average*stage*RPM*",
        ]
    )
    data = json.loads(out.read_text())
    details = data["results"][0]["measurements"][0]["details"]
    assert details["method"] == "rpm" and details["parameters"]["interval"] == 0.25
    assert details["phases"][0]["steps"][0].keys() >= {"goodput", "stage", "sent", "rpm"}
    rebuilt = QosResult.from_json(data["results"][0])
    assert "RPM upload" in terminal.failure(rebuilt) or rebuilt.passed
    assert "#### " in render_markdown([rebuilt]) and "| interval |" in render_markdown([rebuilt])


@pytest.fixture
def responder() -> Iterator[int]:
    """A responder on a free loopback port, so only the load can fail."""
    port = Local().free_port("127.0.0.1", ("udp", "tcp"))
    process: Process = Local().spawn(
        [
            sys.executable,
            "-m",
            "pytest_qos",
            "responder",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    )
    try:
        assert wait_until(lambda: Local().is_listening(port, "tcp", process), 10.0)
        yield port
    finally:
        process.stop()


def test_a_failing_load_connection_aborts_with_one_line(responder: int) -> None:
    """The draft: a load-generating connection ending with an error aborts the test."""
    closed = free_client_ports(Local(), 2)  # nothing listens there: iperf3 cannot connect
    target = remote_target("127.0.0.1", closed, responder_port=responder)
    spec = rpm.Rpm.from_options({**QUICK, "idle": "0.1 s"})
    with Runner(None, target) as runner, pytest.raises(MeasurementError) as caught:
        rpm_run.run(spec, runner)
    message = str(caught.value)
    assert "rpm: load-generating connection 1 (upload, client port" in message
    assert "unable to connect" in message and "\n" not in caught.value.message


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_a_congestion_control_the_sending_host_lacks_is_refused_before_the_load(
    direction: str,
) -> None:
    """Checked where the data is sent (the client, or the server of a download), as a flow's."""
    spec = rpm.Rpm.from_options(
        {**QUICK, "idle": "0.1 s", "direction": direction, "congestion": "vegas"}
    )
    with Runner(None, local_target()) as runner, pytest.raises(MeasurementError) as caught:
        rpm_run.run(spec, runner)
    assert caught.value.message.startswith(
        "TCP congestion control 'vegas' is not available on this host"
    ), caught.value.message


def test_download_needs_the_server_side(responder: int) -> None:
    target = remote_target("127.0.0.1", [5201, 5202], responder_port=responder)
    spec = rpm.Rpm.from_options({**QUICK, "idle": "0.1 s", "direction": "download"})
    with Runner(None, target) as runner, pytest.raises(MeasurementError, match="server side"):
        rpm_run.run(spec, runner)


def test_client_ports_are_free_and_below_the_ephemeral_range() -> None:
    ports = free_client_ports(Local(), 32)
    assert len(set(ports)) == 32
    assert all(CLIENT_PORTS[0] <= port <= CLIENT_PORTS[1] for port in ports)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_mid_ramp_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    """iperf3 servers and clients, the ss loop and probe clients all die with pytest."""
    scenario = tmp_path / "scenarios" / "rpm.yaml"
    scenario.parent.mkdir()
    # idle 0.1 s: the ramp (what is killed) starts 0.9 s sooner than after the default 1 s.
    scenario.write_text(
        "tests:\n  ramp:\n    rpm: {connections: 4, interval: 0.5 s, idle: 0.1 s}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--qos", str(scenario), *QUIET, "-q"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # 4 servers, the ss loop and at least two clients: the ramp is under way.
        assert wait_until(lambda: len(_spawned_by(run.pid)) >= 7, timeout=30)
        run.send_signal(sig)
        run.wait(30)
        assert wait_until(lambda: not _spawned_by(run.pid), timeout=5), _spawned_by(run.pid)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in _spawned_by(run.pid):
            os.kill(pid, signal.SIGKILL)


def test_both_directions_at_once_and_in_turn() -> None:
    """At once: one phase loading both ways; in turn: a phase each, figures per direction."""
    with Runner(None, local_target()) as runner:
        # idle 0.2 s rather than the default 1 s: enough probes for latency.idle (the grades).
        quick = {**QUICK, "idle": "0.2 s", "direction": "both"}
        together = rpm_run.run(rpm.Rpm.from_options(quick), runner)
        turns = rpm_run.run(rpm.Rpm.from_options({**quick, "sequential": True}), runner)
    steps = together.details["phases"][0]["steps"]
    assert set(steps[-1]["goodput"]) == {"upload", "download"}
    assert all(value > 0 for value in steps[-1]["goodput"].values())
    # One more each way per interval, counted once open (opening takes a moment on a busy host).
    counts = [row["connections"] for row in steps]
    assert counts == sorted(counts) and counts[-1] == 4
    assert all(later - earlier <= 2 for earlier, later in itertools.pairwise([0, *counts]))
    assert [phase["label"] for phase in turns.details["phases"]] == ["upload", "download"]
    metrics = turns.metrics
    assert {"rpm.upload", "rpm.download", "bufferbloat.grade.download"} <= set(metrics)
    assert metrics["rpm"] == min(metrics["rpm.upload"], metrics["rpm.download"])


def test_each_connection_carries_congestion_dscp_and_its_own_client_port() -> None:
    spec = rpm.Rpm.from_options({**QUICK, "congestion": "cubic", "dscp": "EF"})
    with Runner(None, local_target()) as runner:
        load = Load(runner, spec, ("upload",))
        try:
            load.start()
            load.add()
            assert wait_until(lambda: load.count == 1, 10.0)
            command = load.opener.opened()[0].flow.command
        finally:
            load.close()
    assert command[command.index("-C") + 1] == "cubic"
    assert command[command.index("-S") + 1] == str(46 << 2)  # EF: the whole TOS byte
    assert command[command.index("--cport") + 1] == str(load.ports["upload"][0])


class _Recorded:
    """A sampler replaying snapshots (ss readings) appended by the test."""

    def __init__(self) -> None:
        self.taken: list[Snapshot] = []

    def snapshots(self) -> list[Snapshot]:
        return list(self.taken)

    def stop(self) -> None:
        """Nothing runs."""


def _socket(port: int, acked: int, rtt: float = 0.05) -> SocketInfo:
    return SocketInfo(local_port=port, peer_port=5201, rtt=rtt, bytes_acked=acked, bytes_received=0)


def test_goodput_counts_acknowledged_bytes_once_per_connection() -> None:
    """Bytes acknowledged between readings, per interval; a reading missing a connection or a
    connection new since the last one never counts bytes twice; other ports are not ours."""
    with Runner(None, local_target()) as runner:
        load = Load(runner, rpm.Rpm(), ("upload",))
        recorded = _Recorded()
        load.samplers = {"upload": recorded}  # type: ignore[dict-item]
        load.ports = {"upload": [20001, 20002]}
        load.started = 100.0
        try:
            recorded.taken += [
                Snapshot(100.5, [_socket(20001, 1_000_000), _socket(40000, 9_000_000)]),
                Snapshot(101.0, [_socket(20001, 2_000_000, rtt=0.1)]),
            ]
            goodput, loaded = load.read()
            assert goodput["upload"] == pytest.approx(8 * 2_000_000 / 1.0)
            assert sorted(loaded) == [0.05, 0.1]
            recorded.taken += [
                Snapshot(101.5, [_socket(20002, 500_000)]),  # 20001 missing from this one
                Snapshot(102.0, [_socket(20001, 3_000_000), _socket(20002, 1_000_000)]),
            ]
            goodput, loaded = load.read()
            assert goodput["upload"] == pytest.approx(8 * (1_000_000 + 1_000_000) / 1.0)
            assert len(loaded) == 3
            assert load.read() == ({"upload": 0.0}, [])  # nothing new: nothing moved
        finally:
            load.close()
