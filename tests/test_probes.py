"""Latency probes with real sockets, the real responder and the system ping, on loopback."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from nft_namespace import nft_namespace

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.endpoints import Local, Netns, wait_until
from pytest_qos.hosts.target import Target, local_target, remote_target
from pytest_qos.probes import Probe, run_probe, stamp
from pytest_qos.probes.run import responder_command
from pytest_qos.probes.udp import HELLO_BASE


def _responders_on(port: int) -> list[str]:
    """Responder processes on `port` still running (a teardown bug when not empty)."""
    found = subprocess.run(
        ["pgrep", "-af", f"pytest_qos responder .*--port {port}( |$)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return found.splitlines()


def _unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_udp_probe_against_a_spawned_responder() -> None:
    probe = Probe.from_options(
        {"kind": "udp", "interval": "20 ms", "duration": "1 s", "dscp": "EF"}
    )
    measurement = run_probe(probe, local_target())
    metrics = measurement.metrics
    assert measurement.tool == "probe:udp"
    assert measurement.details["sent"] == 50
    assert metrics["latency.loss"] == 0.0
    assert metrics["latency.reordered"] == 0.0
    assert 0 < metrics["latency.min"] <= metrics["latency.p50"] <= metrics["latency.p99"]
    assert metrics["latency.p99"] <= metrics["latency.max"] < 0.05
    assert metrics["mos"] == pytest.approx(4.41, abs=0.01)
    assert len(measurement.series["rtt"]) == 50
    assert measurement.command[1:4] == ["-m", "pytest_qos", "probe"]
    assert measurement.details["responder"][3] == "responder"
    assert _responders_on(measurement.details["port"]) == []


def test_icmp_probe_runs_the_system_ping() -> None:
    if shutil.which("ping") is None:
        pytest.skip("needs ping (iputils-ping)")
    probe = Probe.from_options({"kind": "icmp", "interval": "10 ms", "count": 30})
    measurement = run_probe(probe, local_target())
    assert measurement.tool == "probe:icmp"
    assert os.path.basename(measurement.command[0]) == "ping"
    assert measurement.details["sent"] == 30
    assert measurement.metrics["latency.loss"] == 0.0
    assert measurement.metrics["latency.p50"] < 0.01


def test_tcp_probe_times_connects_to_a_spawned_listener() -> None:
    probe = Probe.from_options({"kind": "tcp", "interval": "10 ms", "count": 30})
    measurement = run_probe(probe, local_target())
    assert measurement.tool == "probe:tcp"
    assert measurement.metrics["latency.loss"] == 0.0
    assert 0 < measurement.metrics["latency.p50"] < 0.01
    assert _responders_on(measurement.details["port"]) == []


def test_tcp_probe_to_a_port_of_our_own() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        probe = Probe.from_options(
            {"kind": "tcp", "interval": "10 ms", "count": 10, "target": {"port": port}}
        )
        measurement = run_probe(probe, local_target())
    assert measurement.details["received"] == 10
    assert "responder" not in measurement.details


def test_no_responder_reads_as_one_clear_line() -> None:
    port = _unused_udp_port()
    probe = Probe.from_options({"interval": "20 ms", "count": 5, "timeout": "300 ms"})
    started = time.monotonic()
    with pytest.raises(MeasurementError) as raised:
        run_probe(probe, remote_target("127.0.0.1", [], responder_port=port))
    assert str(raised.value).startswith(
        f"no reply from 127.0.0.1:{port} within 1 s (3 hello packets sent, one every 20 ms; "
        "port unreachable: 3 ICMP errors came back) — is the responder running?"
    )
    assert raised.value.command[3] == "probe"
    assert time.monotonic() - started < 5


def test_a_silent_far_end_reads_the_same() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        probe = Probe.from_options({"count": 5, "timeout": "200 ms", "target": {"port": port}})
        with pytest.raises(MeasurementError) as raised:
            run_probe(probe, local_target())
    # Loss is what a probe measures: the start-up check tries every 20 ms over 1 s at least.
    assert str(raised.value).startswith(
        f"no reply from 127.0.0.1:{port} within 1 s (50 hello packets sent, one every 20 ms; "
        "no reply and no ICMP error came back) — is the responder running?"
    )


def test_tcp_refused_everywhere_is_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connects are refused
        probe = Probe.from_options({"kind": "tcp", "count": 3, "target": {"port": port}})
        with pytest.raises(MeasurementError, match=f"connection refused by 127.0.0.1:{port}"):
            run_probe(probe, local_target())


def test_standalone_responder_command_serves_a_remote_target() -> None:
    port = _unused_udp_port()
    responder = Local().spawn(responder_command("127.0.0.1", port))
    try:
        assert wait_until(lambda: Local().is_listening(port, "udp", responder), 5.0)
        target = remote_target("127.0.0.1", [], responder_port=port)
        udp = run_probe(Probe.from_options({"interval": "5 ms", "count": 40}), target)
        tcp = run_probe(
            Probe.from_options({"kind": "tcp", "interval": "5 ms", "count": 20}), target
        )
    finally:
        responder.stop()
    assert udp.details["received"] == 40
    assert tcp.details["received"] == 20
    assert not responder.alive()


class FaultyEcho:
    """A stateless STAMP reflector of our own: records TOS bytes, drops and reorders on purpose."""

    def __init__(self, drop_every: int = 0, swap_pairs: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        self.port = int(self.sock.getsockname()[1])
        self.drop_every = drop_every
        self.swap_pairs = swap_pairs
        self.tos: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultyEcho:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        held: tuple[bytes, Any] | None = None
        deadline = time.monotonic() + 30  # bounded even if the test never stops it
        while not self._stop.is_set() and time.monotonic() < deadline:
            if not select.select([self.sock], [], [], 0.05)[0]:
                continue
            datagram, ancillary, _, address = self.sock.recvmsg(2048, socket.CMSG_SPACE(1))
            self.tos += [data[0] for level, kind, data in ancillary if kind == socket.IP_TOS]
            if len(datagram) < stamp.PACKET_SIZE:
                continue
            seq = int.from_bytes(datagram[:4], "big")
            now = time.time_ns()
            reply, _ = stamp.reflect(
                datagram, seq=None, t2_ns=now, t3_ns=now, error=0, ttl=64, tos=None
            )
            measured = seq < HELLO_BASE
            if measured and self.drop_every and seq % self.drop_every == 0:
                continue
            if measured and self.swap_pairs and held is None and seq % 2 == 0:
                held = (reply, address)  # sent after its successor: one reordering per pair
                continue
            self.sock.sendto(reply, address)
            if held is not None:
                self.sock.sendto(held[0], held[1])
                held = None


def test_dscp_marks_every_probe() -> None:
    with FaultyEcho() as echo:
        probe = Probe.from_options(
            {"interval": "5 ms", "count": 20, "dscp": "AF41", "target": {"port": echo.port}}
        )
        run_probe(probe, local_target())
    assert len(echo.tos) == 21  # the handshake and 20 probes
    assert set(echo.tos) == {34 << 2}


def test_drops_and_reordering_are_counted() -> None:
    with FaultyEcho(drop_every=5, swap_pairs=True) as echo:
        probe = Probe.from_options(
            {"interval": "5 ms", "count": 40, "timeout": "200 ms", "target": {"port": echo.port}}
        )
        measurement = run_probe(probe, local_target())
    # seq 0, 5, 10, ... 35 dropped: 8 of 40
    assert measurement.metrics["latency.loss"] == pytest.approx(20.0)
    assert measurement.details["received"] == 32
    assert measurement.metrics["latency.reordered"] > 0
    # A stateless reflector: no per-direction loss, and the record says why.
    assert "latency.up.loss" not in measurement.metrics
    assert "stateless" in measurement.details["per_direction_loss"]


@pytest.fixture
def lab_namespace() -> Iterator[str]:
    """A namespace `qos-PID-probes` joined to this one by a veth: 198.18.200.1 ↔ 198.18.200.2."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("needs the ip command (iproute2)")
    name = f"qos-{os.getpid()}-probes"  # the leftover check and stale sweep see it
    outer, inner = f"qp{os.getpid()}a", f"qp{os.getpid()}b"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", outer, "type", "veth", "peer", "name", inner],
        ["ip", "link", "set", inner, "netns", name],
        ["ip", "addr", "add", "198.18.200.1/30", "dev", outer],
        ["ip", "link", "set", outer, "up"],
        ["ip", "-n", name, "addr", "add", "198.18.200.2/30", "dev", inner],
        ["ip", "-n", name, "link", "set", inner, "up"],
        ["ip", "-n", name, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, timeout=10)
        yield name
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


@pytest.mark.root
def test_probe_client_runs_inside_a_namespace(lab_namespace: str) -> None:
    target = Target(name="lab", host="198.18.200.1", client=Netns(lab_namespace), server=Local())
    udp = run_probe(Probe.from_options({"interval": "10 ms", "count": 30, "dscp": "EF"}), target)
    icmp = run_probe(Probe.from_options({"kind": "icmp", "interval": "10 ms", "count": 30}), target)
    tcp = run_probe(Probe.from_options({"kind": "tcp", "interval": "10 ms", "count": 30}), target)
    for measurement in (udp, icmp, tcp):
        assert measurement.metrics["latency.loss"] == 0.0
        assert measurement.metrics["latency.p50"] < 0.01
    assert udp.command[:4] == ["ip", "netns", "exec", lab_namespace]


@pytest.fixture
def syn_dropping_namespace() -> Iterator[str]:
    """A namespace of our own whose loopback drops 20 % of TCP SYNs at random (nftables)."""
    rules = (
        "add table inet probes\n"
        "add chain inet probes input { type filter hook input priority 0; }\n"
        "add rule inet probes input tcp flags & (syn | ack) == syn "
        "numgen random mod 100 < 20 drop\n"
    )
    with nft_namespace("probes-syn", rules) as name:
        yield name


@pytest.mark.root
def test_tcp_probe_keeps_its_schedule_through_syn_loss(syn_dropping_namespace: str) -> None:
    """Lost SYNs are lost probes: no connect blocks the next one, and the run ends on time."""
    inside = Netns(syn_dropping_namespace)
    target = Target(name="syn-loss", host="127.0.0.1", client=inside, server=inside)
    probe = Probe.from_options(
        {"kind": "tcp", "interval": "10 ms", "count": 100, "timeout": "300 ms"}
    )
    started = time.monotonic()
    measurement = run_probe(probe, target)
    elapsed = time.monotonic() - started
    details = measurement.details
    print(
        f"loss {measurement.metrics['latency.loss']:.0f} %, elapsed {elapsed:.2f} s, "
        f"send late p99 {measurement.metrics['probe.send_late.p99'] * 1e3:.2f} ms"
    )
    # 20 % random SYN drop of 100 probes: within 3 sigma (±12) of 20 %.
    assert 5.0 <= measurement.metrics["latency.loss"] <= 35.0
    assert details["timed_out"] == 100 - details["received"]
    # 0.99 s of sends + 0.3 s timeout + responder start: far from 100 × 0.3 s of blocking.
    assert elapsed < 4.0
    # a blocked connect would be 300 ms late
    assert measurement.metrics["probe.send_late.p99"] < 0.02
    assert measurement.metrics["latency.p50"] < 0.01


class _SpawnsTheClient(Local):
    """This machine, but not recognised as such: the client runs as `python -m pytest_qos probe`,
    as it does over ssh."""


def test_a_spawned_client_reports_the_same_record() -> None:
    target = Target(name="spawned", host="127.0.0.1", client=_SpawnsTheClient())
    udp = run_probe(Probe.from_options({"interval": "5 ms", "count": 10, "dscp": "EF"}), target)
    tcp = run_probe(Probe.from_options({"kind": "tcp", "interval": "5 ms", "count": 10}), target)
    assert udp.details["received"] == 10 and tcp.details["received"] == 10
    assert udp.metrics["dscp.received"] == 46 and udp.metrics["latency.up.loss"] == 0.0
    # An endpoint it does not know may run another clock: no one-way delay, and why.
    assert "latency.up.p50" not in udp.metrics
    assert udp.details["one_way"].startswith("unavailable: the probe's host and 127.0.0.1:")
    assert udp.command[1:4] == ["-m", "pytest_qos", "probe"]
