"""The iperf3 runner: captured JSON, real iperf3 on loopback, its traps, and injected faults."""

from __future__ import annotations

import copy
import gzip
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from process_checks import process_gone

from pytest_qos.errors import MeasurementError, MeasurementTimeout, ToolMissingError
from pytest_qos.hosts.endpoints import Local, listening_in, wait_until
from pytest_qos.measure.iperf3 import Iperf3, Iperf3Server, find_iperf3, parse_json, parse_result
from pytest_qos.measure.traffic import Traffic

DATA = Path(__file__).parent / "data"
FAKE = Path(__file__).parent / "fake_iperf3.py"
HOST = "127.0.0.1"

needs_iperf3 = pytest.mark.skipif(
    shutil.which("iperf3") is None, reason="iperf3 is not installed (apt-get install iperf3)"
)


def load(name: str) -> dict[str, Any]:
    """A captured iperf3 3.12 --json document from tests/data."""
    if name.endswith(".gz"):
        with gzip.open(DATA / name, "rt") as file:
            return dict(json.load(file))
    return dict(json.loads((DATA / name).read_text()))


def established(pid: int, port: int) -> int:
    """Established TCP connections to local `port` in the namespace of `pid`."""
    count = 0
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            next(lines, None)
            for line in lines:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


# --- captured documents: parse_result -------------------------------------------------------


def test_tcp_document_gives_tcp_metrics() -> None:
    document = load("tcp.json")
    measurement = parse_result(document, ["iperf3"])
    assert set(measurement.metrics) == {
        "throughput",
        "throughput.sent",
        "throughput.wire",
        "retransmits",
        "cpu.local",
        "cpu.remote",
    }
    # Goodput scaled to the frames that carried it (headers of each MSS-sized segment).
    assert measurement.metrics["throughput.wire"] > measurement.metrics["throughput"]
    assert measurement.details["ipv6"] is False
    end = document["end"]
    # The trap: sum_received claims "sender": true, yet it is the receiver's count.
    assert end["sum_received"]["sender"] is True
    assert measurement.metrics["throughput"] == end["sum_received"]["bits_per_second"]
    assert measurement.metrics["throughput.sent"] == end["sum_sent"]["bits_per_second"]
    assert measurement.metrics["retransmits"] == end["sum_sent"]["retransmits"]
    assert measurement.metrics["cpu.local"] == end["cpu_utilization_percent"]["host_total"]
    assert measurement.metrics["cpu.remote"] == end["cpu_utilization_percent"]["remote_total"]
    assert measurement.details["protocol"] == "tcp"
    assert measurement.details["version"] == "iperf 3.12"
    assert measurement.details["tos"] == 0
    assert measurement.series["throughput"][0][0] == pytest.approx(1.0, abs=0.05)


def test_udp_document_takes_loss_and_jitter_from_end_sum() -> None:
    document = load("udp.json")
    end = document["end"]
    # The trap: sum_sent reports jitter and loss as 0 whatever happened.
    assert end["sum_sent"]["jitter_ms"] == 0
    measurement = parse_result(document, ["iperf3"])
    metrics = measurement.metrics
    assert metrics["jitter"] == pytest.approx(end["sum"]["jitter_ms"] / 1000)
    assert metrics["jitter"] > 0
    assert metrics["loss"] == end["sum"]["lost_percent"]
    assert metrics["packets"] == end["sum"]["packets"]
    assert metrics["lost_packets"] == end["sum"]["lost_packets"]
    assert metrics["throughput"] == end["sum_received"]["bits_per_second"]
    assert 19e6 <= metrics["throughput"] <= 21e6  # captured at -b 20000000
    assert "retransmits" not in metrics
    assert measurement.details["protocol"] == "udp"


def test_udp_reverse_document() -> None:
    measurement = parse_result(load("udp_reverse.json"), ["iperf3"])
    assert measurement.details["reverse"] is True
    assert measurement.metrics["jitter"] > 0
    assert 19e6 <= measurement.metrics["throughput"] <= 21e6


def test_bidir_document_gives_reverse_throughput() -> None:
    document = load("bidir.json")
    measurement = parse_result(document, ["iperf3"])
    reverse = document["end"]["sum_received_bidir_reverse"]["bits_per_second"]
    assert measurement.metrics["throughput.reverse"] == reverse
    assert measurement.metrics["throughput"] == document["end"]["sum_received"]["bits_per_second"]


def test_multistream_document_sums_streams() -> None:
    document = load("multistream.json")
    measurement = parse_result(document, ["iperf3"])
    assert measurement.details["streams"] == 4
    per_stream = sum(s["receiver"]["bits_per_second"] for s in document["end"]["streams"])
    assert measurement.metrics["throughput"] == pytest.approx(per_stream, rel=1e-3)


def test_ef_document_records_tos() -> None:
    assert parse_result(load("tcp_ef.json"), ["iperf3"]).details["tos"] == 184


def test_omitted_intervals_stay_out_of_the_series() -> None:
    document = copy.deepcopy(load("tcp_10s.json"))
    for interval in document["intervals"][:3]:
        interval["sum"]["omitted"] = True
    series = parse_result(document, ["iperf3"]).series["throughput"]
    assert len(series) == len(document["intervals"]) - 3
    assert series[0][0] == pytest.approx(4.0, abs=0.05)


def test_long_document_parses_every_interval() -> None:
    measurement = parse_result(load("long_3600.json.gz"), ["iperf3"])
    series = measurement.series["throughput"]
    assert len(series) == 3600
    assert [round(t) for t, _ in series] == list(range(1, 3601))


def test_error_document_is_complete_json_with_an_error() -> None:
    document = parse_json((DATA / "error.json").read_text(), "", 0, ["iperf3"])
    assert document["error"] == "unable to connect to server: Connection refused"


def test_document_without_end_names_the_missing_field() -> None:
    document = load("tcp.json")
    del document["end"]["sum_received"]
    with pytest.raises(MeasurementError, match=r"lacks the expected field 'end\.sum_received'"):
        parse_result(document, ["iperf3"])


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ('{"start": {"connected": [', r"no complete JSON \(exit 0\): \{\"start\""),
        ("", r"no complete JSON \(exit 0\): iperf3: boom"),
        ("[1, 2]", "JSON that is not an object"),
    ],
)
def test_parse_json_rejects_what_is_not_a_document(stdout: str, message: str) -> None:
    with pytest.raises(MeasurementError, match=message):
        parse_json(stdout, "iperf3: boom", 0, ["iperf3"])


# --- argv ------------------------------------------------------------------------------------


@needs_iperf3
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["-t", "1"]),
        ({"dscp": "EF"}, ["-S", "184"]),
        ({"dscp": "AF41"}, ["-S", "136"]),
        ({"protocol": "udp", "bitrate": "20 Mbit/s"}, ["-u", "-b", "20000000"]),
        ({"direction": "download"}, ["-R"]),
        ({"direction": "bidir"}, ["--bidir"]),
        ({"streams": 4}, ["-P", "4"]),
        ({"omit": "2 s", "duration": "3 s"}, ["-O", "2"]),
        ({"length": "1400 B"}, ["-l", "1400"]),
        ({"congestion": "cubic"}, ["-C", "cubic"]),
    ],
)
def test_command_carries_each_option(options: dict[str, Any], expected: list[str]) -> None:
    argv = Iperf3().command(Traffic.from_options(options), HOST, 5201)
    assert argv[1:7] == ["-c", HOST, "-p", "5201", "--json", "-t"]
    runs = [argv[i : i + len(expected)] for i in range(len(argv))]
    assert expected in runs


def test_missing_iperf3_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match="apt-get install iperf3"):
        find_iperf3(str(tmp_path / "no-such-iperf3"))


# --- real iperf3 on loopback ------------------------------------------------------------------


@pytest.fixture
def iperf3_tool() -> Iperf3:
    """The installed iperf3."""
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (apt-get install iperf3)")
    return Iperf3()


@pytest.fixture
def server(iperf3_tool: Iperf3) -> Iterator[Iperf3Server]:
    """A persistent iperf3 server on loopback, stopped after the test."""
    with iperf3_tool.server(Local(), HOST) as running:
        yield running
    assert running.process is not None and process_gone(running.process.pid)


def test_version_is_read(iperf3_tool: Iperf3) -> None:
    assert iperf3_tool.version.startswith("iperf 3.")


def test_server_is_ready_on_its_listening_socket(server: Iperf3Server) -> None:
    assert server.process is not None
    assert listening_in(server.process.pid, server.port)


def test_tcp_run_gives_sane_metrics(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    measurement = iperf3_tool.run(Traffic(), HOST, server.port, server=server)
    metrics = measurement.metrics
    assert {"throughput", "throughput.sent", "retransmits", "cpu.local", "cpu.remote"} <= set(
        metrics
    )
    # Loopback moves 12-35 Gbit/s here; a shared, busy machine still clears 100 Mbit/s.
    assert metrics["throughput"] > 100e6
    assert 0.8 < metrics["throughput"] / metrics["throughput.sent"] <= 1.01
    assert metrics["retransmits"] >= 0
    assert 0 < metrics["cpu.local"] <= 400 and 0 < metrics["cpu.remote"] <= 400
    assert measurement.details["protocol"] == "tcp"
    assert measurement.details["duration"] == 1
    assert measurement.command[:2] == [iperf3_tool.path, "-c"]
    assert measurement.series["throughput"]
    assert abs(measurement.started - time.time()) < 30


def test_udp_at_20_mbits_measures_20_mbits(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    traffic = Traffic.from_options({"protocol": "udp", "bitrate": "20 Mbit/s"})
    measurement = iperf3_tool.run(traffic, HOST, server.port, server=server)
    metrics = measurement.metrics
    assert 19e6 <= metrics["throughput"] <= 21e6
    assert 19e6 <= metrics["throughput.sent"] <= 21e6
    assert 0 <= metrics["jitter"] < 0.005
    assert 0 <= metrics["loss"] <= 5
    # The datagram count follows from the rate and iperf3's datagram size.
    datagram_bits = measurement.details["blksize"] * 8
    assert metrics["packets"] == pytest.approx(metrics["throughput.sent"] / datagram_bits, rel=0.2)
    assert 0 <= metrics["lost_packets"] <= metrics["packets"] * 0.05


def test_dscp_ef_reaches_argv_and_the_socket(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    traffic = Traffic.from_options({"dscp": "EF"})
    measurement = iperf3_tool.run(traffic, HOST, server.port, server=server)
    flag = measurement.command.index("-S")
    assert measurement.command[flag + 1] == "184"
    assert measurement.raw["start"]["test_start"]["tos"] == 184
    assert measurement.details["tos"] == 184


def test_udp_download(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    traffic = Traffic.from_options(
        {"protocol": "udp", "bitrate": "20 Mbit/s", "direction": "download"}
    )
    measurement = iperf3_tool.run(traffic, HOST, server.port, server=server)
    assert "-R" in measurement.command
    assert measurement.details["reverse"] is True
    assert 19e6 <= measurement.metrics["throughput"] <= 21e6


def test_tcp_bidir(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    traffic = Traffic.from_options({"direction": "bidir"})
    measurement = iperf3_tool.run(traffic, HOST, server.port, server=server)
    assert measurement.metrics["throughput"] > 100e6
    assert measurement.metrics["throughput.reverse"] > 100e6


def test_tcp_multistream(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    measurement = iperf3_tool.run(Traffic(streams=4), HOST, server.port, server=server)
    assert measurement.details["streams"] == 4
    assert len(measurement.raw["end"]["streams"]) == 4
    assert measurement.metrics["throughput"] > 100e6


def test_back_to_back_clients_against_one_server(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    assert server.process is not None
    pid = server.process.pid
    results = [iperf3_tool.run(Traffic(), HOST, server.port, server=server) for _ in range(5)]
    assert all(result.metrics["throughput"] > 100e6 for result in results)
    assert server.process.pid == pid and server.process.alive()


def test_failed_test_exits_zero_and_becomes_a_measurement_error(iperf3_tool: Iperf3) -> None:
    port = Local().free_port(HOST)  # nothing listens there
    command = iperf3_tool.command(Traffic(), HOST, port)
    completed = Local().run(command, timeout=10)
    # The trap: iperf3 -J reports the failure only inside its JSON.
    assert completed.returncode == 0
    assert (
        json.loads(completed.stdout)["error"] == "unable to connect to server: Connection refused"
    )
    with pytest.raises(MeasurementError) as caught:
        iperf3_tool.run(Traffic(), HOST, port)
    assert str(caught.value) == "iperf3 failed: unable to connect to server: Connection refused"
    assert caught.value.command == command


def _one_off_server(iperf3_tool: Iperf3, port: int) -> Any:
    return Local().spawn(
        [iperf3_tool.path, "-s", "-1", "-B", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_listening_socket_readiness_keeps_a_one_off_server(iperf3_tool: Iperf3) -> None:
    port = Local().free_port(HOST)
    with _one_off_server(iperf3_tool, port) as one_off:
        assert wait_until(lambda: listening_in(one_off.pid, port), 5.0)
        measurement = iperf3_tool.run(Traffic(), HOST, port)
        assert measurement.metrics["throughput"] > 100e6
        assert wait_until(lambda: not one_off.alive(), 5.0)  # -1: one test, then it exits


def test_tcp_connect_readiness_consumes_a_one_off_server(iperf3_tool: Iperf3) -> None:
    port = Local().free_port(HOST)
    with _one_off_server(iperf3_tool, port) as one_off:
        assert wait_until(lambda: listening_in(one_off.pid, port), 5.0)
        with socket.create_connection((HOST, port), timeout=2):
            pass
        # The bare connect was the server's one test: it is gone before any client came.
        assert wait_until(lambda: not one_off.alive(), 5.0)
        with pytest.raises(MeasurementError, match="Connection refused"):
            iperf3_tool.run(Traffic(), HOST, port)


def _occupy(iperf3_tool: Iperf3, server: Iperf3Server, seconds: int) -> Any:
    """A foreign client keeping `server` busy for `seconds`, once it is connected."""
    assert server.process is not None
    pid = server.process.pid
    client = Local().spawn(
        [iperf3_tool.path, "-c", HOST, "-p", str(server.port), "-t", str(seconds), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Control and data connections established: the server now refuses others as busy.
    assert wait_until(lambda: established(pid, server.port) >= 2, 5.0)
    return client


def test_busy_server_is_retried_until_free(iperf3_tool: Iperf3, server: Iperf3Server) -> None:
    with _occupy(iperf3_tool, server, 2) as other:
        started = time.monotonic()
        measurement = iperf3_tool.run(Traffic(), HOST, server.port, server=server, busy_timeout=10)
        elapsed = time.monotonic() - started
        assert other.returncode == 0  # the first test ran to its end
    assert measurement.metrics["throughput"] > 100e6
    # Our 1 s test could only start after most of the other's 2 s had passed.
    assert 1.5 < elapsed < 10


def test_busy_server_beyond_busy_timeout_fails_clearly(
    iperf3_tool: Iperf3, server: Iperf3Server
) -> None:
    with _occupy(iperf3_tool, server, 3), pytest.raises(MeasurementError) as caught:
        iperf3_tool.run(Traffic(), HOST, server.port, server=server, busy_timeout=0.2)
    assert str(caught.value) == (
        f"iperf3 server at {HOST}:{server.port} stayed busy for 0.2 s: "
        "the server is busy running a test. try again later"
    )


# --- fault injection with the fake iperf3 -------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path) -> Iperf3:
    """Iperf3 pointed at tests/fake_iperf3.py, run by this interpreter."""
    launcher = tmp_path / "iperf3"
    launcher.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    launcher.chmod(0o755)
    return Iperf3(str(launcher))


def test_fake_answers_version(fake: Iperf3) -> None:
    assert fake.version == "iperf 3.12"


def test_error_json_is_quoted_verbatim(fake: Iperf3, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "unable to send cookie to server: Connection reset by peer"
    monkeypatch.setenv("FAKE_IPERF3_MODE", "error")
    monkeypatch.setenv("FAKE_IPERF3_ERROR", text)
    with pytest.raises(MeasurementError) as caught:
        fake.run(Traffic(), HOST, 5201)
    assert str(caught.value) == f"iperf3 failed: {text}"
    assert caught.value.command[0] == fake.path


def test_truncated_output_is_no_complete_json(
    fake: Iperf3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_IPERF3_MODE", "truncated")
    with pytest.raises(MeasurementError, match=r"printed no complete JSON \(exit 0\): \{"):
        fake.run(Traffic(), HOST, 5201)


def test_plain_text_output_is_quoted(fake: Iperf3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_IPERF3_MODE", "garbage")
    with pytest.raises(MeasurementError, match=r"\(exit 1\): iperf3: parameter error"):
        fake.run(Traffic(), HOST, 5201)


def test_hang_times_out_and_leaves_nothing(
    fake: Iperf3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAKE_IPERF3_MODE", "hang")
    monkeypatch.setenv("FAKE_IPERF3_PIDFILE", str(pidfile))
    monkeypatch.setattr(Traffic, "timeout", property(lambda self: 1.5))
    started = time.monotonic()
    with pytest.raises(MeasurementTimeout, match=r"did not finish within 1\.5 s and was killed"):
        fake.run(Traffic(), HOST, 5201)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 4.0  # the timeout, plus at most the SIGTERM grace
    fake_pid, grandchild_pid = (int(pid) for pid in pidfile.read_text().split())
    assert process_gone(fake_pid)
    # The grandchild shared the fake's process group, so it was killed with it.
    assert wait_until(lambda: process_gone(grandchild_pid), 2.0)


def test_a_kept_server_is_idle_once_its_log_ends_every_test_it_served() -> None:
    """iperf3 -J prints one document per test, closed by '}' at column 0: a server that
    served two tests is idle at the second document's end, not at the first, and a
    document still being written does not count."""
    server = Iperf3Server("/usr/bin/iperf3", Local(), "127.0.0.1", 5201)
    document = '{\n\t"start": {\n\t\t"version": "3.12"\n\t},\n\t"end": {}\n}\n'
    with tempfile.TemporaryFile(mode="w+") as log:
        server._log = log
        server.served = 2
        log.write("qos: listening on port 5201\n" + document)
        log.flush()
        assert not server.idle()
        log.write(document[:-2])  # the second document, its last line not written yet
        log.flush()
        assert not server.idle()
        log.write("}\n")
        log.flush()
        assert server.idle()
        server._log = None
