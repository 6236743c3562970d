"""A far host's processes when the controller is gone, and transport failures that name the host
(issue 23): a blackholed site kept its sshd session, `timeout 900` and iperf3 server for 15
minutes; a killed ControlMaster read "iperf3 printed no complete JSON (exit 255): nothing"."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from pytest_qos.errors import MeasurementError, MeasurementTimeout
from pytest_qos.hosts import farguard
from pytest_qos.hosts.endpoints import Local, Process
from pytest_qos.hosts.ssh import MUX
from pytest_qos.hosts.target import local_target
from pytest_qos.lab.sitelab import SiteLab, site_processes, sites_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.request import TrafficRequest
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.traffic import Traffic
from pytest_qos.probes import Probe
from pytest_qos.probes.run import SpawnedResponder

UNAVAILABLE = sites_unavailable_reason()
needs_sites = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}")
BLACKHOLE = (
    "add table inet blackhole\n"
    "add chain inet blackhole in { type filter hook input priority -10; policy drop; }\n"
    "add chain inet blackhole out { type filter hook output priority -10; policy drop; }\n"
)


@pytest.fixture
def lab() -> Iterator[SiteLab]:
    created = SiteLab.create(2)
    try:
        yield created
    finally:
        MUX.close(containing=str(created.ssh_config))
        created.destroy()


def _blackhole(lab: SiteLab, site: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", lab.site(site).namespace, "nft", "-f", "-"],
        input=BLACKHOLE,
        text=True,
        check=True,
        capture_output=True,
        timeout=10,
    )


def _sessions(lab: SiteLab, site: str) -> list[str]:
    """sshd's per-connection processes in a site (its listener excluded)."""
    pids = subprocess.run(
        ["ip", "netns", "pids", lab.site(site).namespace], capture_output=True, text=True
    ).stdout.split()
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                text = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text.startswith("sshd:") and "[listener]" not in text:
            found.append(f"{pid} {text[:60]}")
    return found


def _far(lab: SiteLab) -> list[str]:
    return [line for line in site_processes(lab) if " site2 " in line]


@pytest.mark.root
@needs_sites
def test_a_blackholed_site_ends_its_processes_within_the_silence(lab: SiteLab) -> None:
    host = lab.endpoint("site2")
    server = Iperf3().server(host, "198.19.2.2")
    server.lifetime = 600.0
    responder = SpawnedResponder(host, "198.19.2.2", Probe.from_options({"duration": "300 s"}))
    server.start()
    responder.start()
    try:
        assert len(_far(lab)) >= 3, _far(lab)  # iperf3, its timeout, the responder
        _blackhole(lab, "site2")
        blackholed = time.monotonic()
        deadline = blackholed + farguard.SILENCE_S + 3 * farguard.HEARTBEAT_S + 10
        while (_far(lab) or _sessions(lab, "site2")) and time.monotonic() < deadline:
            time.sleep(0.5)
        took = time.monotonic() - blackholed
        print(f"far processes and sshd sessions gone {took:.1f} s after the blackhole")
        assert _far(lab) == [] and _sessions(lab, "site2") == []
    finally:
        server.stop()
        responder.stop()


@pytest.mark.root
@needs_sites
def test_a_blackholed_command_names_the_host(lab: SiteLab) -> None:
    host = lab.endpoint("site2")
    host.run(["true"], timeout=10)  # the connection is up
    _blackhole(lab, "site2")
    # 1 s: a command the blackhole swallowed never answers; how long we wait is not the point.
    with pytest.raises(MeasurementTimeout, match=r"sleep on host site2 \(over ssh\) did not"):
        host.run(["sleep", "30"], timeout=1)


@pytest.mark.root
@needs_sites
def test_a_killed_control_master_names_the_host_and_the_connection(lab: SiteLab) -> None:
    client, server_host = lab.endpoint("site1"), lab.endpoint("site2")
    iperf3 = Iperf3()
    with iperf3.server(server_host, "198.19.2.2") as server:
        traffic = Traffic.from_options({"duration": "5 s", "bitrate": "10 Mbit/s"})
        flow = iperf3.start(traffic, "198.19.2.2", server.port, endpoint=client, server=server)
        time.sleep(1.5)
        master = MUX._masters[client.key]
        os.kill(master.pid, signal.SIGKILL)
        with pytest.raises(MeasurementError) as caught:
            flow.result()
        flow.stop()
    message = str(caught.value)
    print(message)
    assert message.startswith("host site1: ") and "printed no complete JSON" not in message


class _Recording(Local):
    """This machine, noting the lifetime each spawn asks for."""

    def __init__(self) -> None:
        self.lifetimes: list[float | None] = []

    def spawn(self, argv: object, **options: object) -> Process:  # type: ignore[override]
        self.lifetimes.append(options.get("lifetime"))  # type: ignore[arg-type]
        return super().spawn(argv, **options)  # type: ignore[arg-type]


def test_servers_live_as_long_as_their_test_not_fifteen_minutes() -> None:
    endpoint = _Recording()
    target = local_target()
    target.server = endpoint
    with Runner(None, target) as runner:
        traffic = Traffic.from_options({"duration": "1 s"})
        runner.run("t", TrafficRequest(traffic=traffic, repeat=2, settle=0.0))
    (server_lifetime,) = endpoint.lifetimes  # one server, kept across the repeats
    assert server_lifetime is not None
    # 2 repeats × (1 s + iperf3's 10 s of slack) + 30 s of margin: far below 900 s.
    assert 2 * 11.0 + 30.0 - 5 <= server_lifetime <= 2 * 11.0 + 30.0
    probe = Probe.from_options({"duration": "2 s"})
    assert SpawnedResponder(endpoint, "127.0.0.1", probe).lifetime < 120
