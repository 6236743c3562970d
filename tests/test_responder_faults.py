"""The responder under abuse (issue 23): a forged datagram must not start a reflection loop
between two responders; --allow must hold for TCP; a spawned responder's rate limit fits its
probe; --bind '' is refused."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_qos.hosts.endpoints import Netns, Process, listening_in
from pytest_qos.hosts.target import remote_target
from pytest_qos.probes import Probe, run_probe, stamp
from pytest_qos.probes.responder import LOOP_PORTS, Policy, Responder, is_loop
from pytest_qos.probes.run import SpawnedResponder

FORGE = """
import socket, struct, sys, time
from pytest_qos.probes import stamp
source, target = int(sys.argv[1]), int(sys.argv[2])
payload = bytes(stamp.sender_packet(0, time.time_ns(), 0, 44))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
raw.sendto(struct.pack("!HHHH", source, target, 8 + len(payload), 0) + payload, ("127.0.0.1", 0))
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and ip (iproute2)")
    name = f"qos-{os.getpid()}-loop"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
    try:
        Netns(name).run(["ip", "link", "set", "lo", "up"], timeout=10)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def _responder(namespace: str, port: int) -> Process:
    argv = [sys.executable, "-m", "pytest_qos", "responder", "--port", str(port)]
    argv += ["--rate-limit", "20000", "--lifetime", "3", "--no-tcp"]
    process = Netns(namespace).spawn(argv)
    deadline = time.monotonic() + 10
    while not listening_in(process.pid, port, "udp") and time.monotonic() < deadline:
        time.sleep(0.02)
    return process


def _counts(process: Process) -> dict[str, int]:
    _, err = process.communicate(timeout=15)
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", err.splitlines()[-1])}


@pytest.mark.root
def test_a_forged_datagram_does_not_loop_between_two_responders(namespace: str) -> None:
    """One STAMP packet 'from' A sent to B: B answers A once; A never answers a reflection."""
    a_port, b_port = 31862, 31863
    a, b = _responder(namespace, a_port), _responder(namespace, b_port)
    try:
        Netns(namespace).run([sys.executable, "-c", FORGE, str(a_port), str(b_port)], 10)
        a_counts, b_counts = _counts(a), _counts(b)
    finally:
        a.stop()
        b.stop()
    print(f"A {a_counts}, B {b_counts}")
    assert b_counts["reflected"] == 1  # the forged datagram, as any sender's
    assert a_counts["reflected"] == 0 and a_counts["looped"] == 1  # B's reply: never answered


def test_a_reflected_packet_is_never_reflected() -> None:
    with Responder("127.0.0.1", 0, tcp=False, policy=Policy(rate=0)) as responder:
        thread = threading.Thread(target=responder.serve, args=(5.0,), daemon=True)
        thread.start()
        reflected, _ = stamp.reflect(
            bytes(stamp.sender_packet(1, time.time_ns(), 0, 44)),
            seq=7,
            t2_ns=time.time_ns(),
            t3_ns=time.time_ns(),
            error=0,
            ttl=64,
            tos=0,
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.settimeout(0.5)
            sender.sendto(bytes(reflected), ("127.0.0.1", responder.port))
            with pytest.raises(TimeoutError):
                sender.recv(2048)
            sender.sendto(
                bytes(stamp.sender_packet(2, time.time_ns(), 0, 44)), ("127.0.0.1", responder.port)
            )
            assert len(sender.recv(2048)) == 44  # a session-sender's packet is answered
        responder.stop()
        thread.join(timeout=5)
    assert responder.counts["looped"] == 1 and responder.counts["reflected"] == 1


@pytest.mark.parametrize("port", sorted(LOOP_PORTS - {0}))
def test_well_known_reflector_ports_are_never_answered(port: int) -> None:

    packet = bytes(stamp.sender_packet(1, time.time_ns(), 0, 44))
    assert is_loop(packet, port, frozenset())
    assert not is_loop(packet, 40000, frozenset())


def _connects(source: str, port: int) -> bool:
    with socket.socket() as client:
        client.bind((source, 0))
        client.settimeout(0.7)
        try:
            client.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_allow_guards_the_tcp_listener() -> None:
    """A source --allow refuses gets no handshake (was: accepted, and a tcp probe measured)."""
    policy = Policy(allow=[ipaddress.ip_network("127.0.0.2/32")])
    with Responder("127.0.0.1", 0, tcp=True, policy=policy) as responder:
        thread = threading.Thread(target=responder.serve, args=(10.0,), daemon=True)
        thread.start()
        assert _connects("127.0.0.2", responder.port)
        assert not _connects("127.0.0.1", responder.port)
        probe = Probe.from_options(
            {"kind": "tcp", "count": 5, "interval": "10 ms", "timeout": "200 ms"}
        )
        measured = run_probe(probe, remote_target("127.0.0.1", [], responder.port))
        responder.stop()
        thread.join(timeout=5)
    assert measured.metrics["latency.loss"] == 100.0


def test_a_spawned_responders_rate_limit_fits_its_probe() -> None:
    """It was 20,000/s for every spawned responder, whatever its probe."""
    from pytest_qos.hosts.endpoints import Local

    slow = SpawnedResponder(Local(), "127.0.0.1", Probe.from_options({"interval": "20 ms"}))
    fast = SpawnedResponder(Local(), "127.0.0.1", Probe.from_options({"interval": "1 ms"}))
    assert slow.command()[slow.command().index("--rate-limit") + 1] == "100"
    assert fast.command()[fast.command().index("--rate-limit") + 1] == "2000"


def test_bind_to_nothing_is_refused() -> None:
    """`--bind ""` listened on every address."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_qos", "responder", "--bind", "", "--lifetime", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "--bind '' is not usable" in done.stderr
