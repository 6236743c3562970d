"""TCP_INFO read with ss: the parser on captured output, the bounded sampling loop, a live read."""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pytest

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.endpoints import Local
from pytest_qos.measure.tcpinfo import TcpInfoSampler, parse_ss, sampler_script, ss_filter

DATA = Path(__file__).parent / "data"


def test_ss_output_parses_to_ports_rtt_and_bytes() -> None:
    """Captured `ss -tinH`: an IPv6 upload (+ its control connection), a download's two ends."""
    sockets = parse_ss((DATA / "ss-tinH.txt").read_text())
    by_ports = {(s.local_port, s.peer_port): s for s in sockets}
    assert set(by_ports) == {(45514, 45513), (43254, 45511), (45512, 45511), (45513, 45514)}
    upload = by_ports[(45512, 45511)]
    assert upload.rtt == pytest.approx(0.359e-3) and upload.bytes_acked > 9e8
    assert by_ports[(43254, 45511)].bytes_acked == 186  # iperf3's control connection
    assert by_ports[(45514, 45513)].bytes_received > 1e6  # a download's receiving end
    assert parse_ss("") == [] and parse_ss("garbage\n\t rtt:1/1\n") == []
    assert parse_ss((DATA / "ss-tinH.txt").read_text().replace("\n", "\r\n")) == sockets


def test_sampler_loop_is_bounded_and_filtered_to_our_ports() -> None:
    assert ss_filter([20001, 20002], "sport") == "( sport = :20001 or sport = :20002 )"
    script = sampler_script([20001], "dport", 0.1, 201)
    assert "-lt 201" in script and "'( dport = :20001 )'" in script and "sleep 0.1" in script


def test_a_live_connection_is_read_by_its_port_and_nothing_else() -> None:
    """A loopback connection of our own: the sampler sees its bytes grow, at its port only."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        port, server_port = client.getsockname()[1], server.getsockname()[1]
        sampler = TcpInfoSampler(Local(), [port], "sport", 0.05, 5.0).start()
        try:
            for _ in range(20):
                client.sendall(b"x" * 65536)
                peer.recv(1 << 20)
            time.sleep(0.3)
            snapshots = sampler.snapshots()
        finally:
            sampler.stop()
            client.close()
            peer.close()
    assert len(snapshots) >= 2 and sampler.problem() is None
    ours = [s for snap in snapshots for s in snap.sockets]
    assert ours and {s.local_port for s in ours} == {port}
    assert max(s.bytes_acked for s in ours) >= 65536
    assert all(a.time <= b.time for a, b in itertools.pairwise(snapshots))
    # Only the sending end matched: the accepted socket (local port = the server's) did not.
    assert {s.peer_port for s in ours} == {server_port}


def test_a_failing_ss_is_one_clear_error(tmp_path: Path) -> None:
    """No ss on the endpoint's PATH: the shell's complaint is read, not silently empty."""
    sampler = TcpInfoSampler(Local(), [20001], "sport", 0.05, 2.0)
    sampler.command[2] = sampler.command[2].replace("ss -tinH", str(tmp_path / "no-ss") + " -tinH")
    sampler.start()
    try:
        deadline = time.monotonic() + 5
        while sampler.problem() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(
            MeasurementError, match=r"reading TCP_INFO with ss at local failed: .*no-ss"
        ):
            sampler.check()
    finally:
        sampler.stop()
