"""Servers kept across a session's tests at ssh sites (hosts/serverpool.py): reused only when
alive and idle, never after a failed test, and gone from the site when the session ends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qos.hosts.endpoints import wait_until
from pytest_qos.hosts.serverpool import POOL
from pytest_qos.hosts.ssh import MUX
from pytest_qos.lab.sitelab import SiteLab, site_processes, sites_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.scenario.reader import load_scenario
from pytest_qos.scenario.run import run_test
from pytest_qos.scenario.sites import pair_target

UNAVAILABLE = sites_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}"),
]
PATH = """\
path: {from: site1, to: site2}
defaults: {duration: 1 s, settle: 0 s}
tests:
  tcp1: {traffic: {protocol: tcp}}
  tcp2: {traffic: {protocol: tcp}}
  udp: {traffic: {protocol: udp, bitrate: 20 Mbit/s}}
  voice1: {probe: {kind: udp, duration: 0.5 s}}
  voice2: {probe: {kind: udp, duration: 0.5 s}}
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[SiteLab]:
    sites = SiteLab.create(2)
    try:
        yield sites
    finally:
        sites.destroy()


def _iperf3_at(lab: SiteLab, site: str) -> list[int]:
    """Pids of iperf3 processes running in one site."""
    found = site_processes(lab, ("iperf3",))
    return [int(line.split()[0]) for line in found if f" {site} " in line]


def _leftovers(lab: SiteLab, masters: bool) -> list[str]:
    """Anything of ours still running at the sites (and, with `masters`, an ssh master for
    the lab: another pytest's; this one's masters are its session's, closed at its end)."""
    if not masters:
        return site_processes(lab)
    mux = subprocess.run(["pgrep", "-af", str(lab.ssh_config)], capture_output=True, text=True)
    return site_processes(lab) + [line for line in mux.stdout.splitlines() if "pgrep" not in line]


def _settled(lab: SiteLab, masters: bool = False, within: float = 5.0) -> list[str]:
    """What is still left after up to `within` s."""
    deadline = time.monotonic() + within
    left = _leftovers(lab, masters)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _leftovers(lab, masters)
    return left


def _ports(document: dict[str, object], kind: str) -> set[str]:
    """The server ports the tests named `kind*` measured against (from their setup lines)."""
    ports = set()
    for result in document["results"]:  # type: ignore[attr-defined]
        if result["test"].split("::")[-1].startswith(kind):
            for measurement in result["measurements"]:
                for argv in measurement.get("setup", []):
                    ports.update(re.findall(r"(?:-p|--port) (\d+)", " ".join(argv)))
    return ports


def test_a_session_reuses_its_servers_and_leaves_nothing(lab: SiteLab, tmp_path: Path) -> None:
    """Five tests on one path in one pytest: one iperf3 server (same port for TCP and UDP),
    one responder; the session's end leaves no process and no ssh master behind."""
    (tmp_path / "path.qos.yaml").write_text(textwrap.dedent(PATH))
    report = tmp_path / "out.json"
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", "-q"]
    argv += [f"--qos-testbed={lab.testbed}", f"--qos-json={report}", "path.qos.yaml"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "5 passed" in done.stdout, done.stdout[-3000:]
    document = json.loads(report.read_text())
    assert len(_ports(document, "tcp") | _ports(document, "udp")) == 1
    assert len(_ports(document, "voice")) == 1
    assert _settled(lab, masters=True) == []


def _run(lab: SiteLab, name: str) -> None:
    spec = next(t for t in load_scenario(_scenario_file(lab)).tests if t.name == name)
    target = pair_target(lab.hosts, ("site1", "site2"))
    with POOL.lending():
        result = run_test(spec, target, iperf3=Iperf3())
    assert result.error in (None, ""), result.error


def _scenario_file(lab: SiteLab) -> Path:
    path = lab.directory / "reuse.qos.yaml"
    if not path.exists():
        path.write_text(textwrap.dedent(PATH))
    return path


def test_a_dead_kept_server_is_replaced_not_lent(lab: SiteLab) -> None:
    """The kept iperf3 server killed at the site between two tests (its ssh session ended
    with it): the second test gets a new server and passes; closing the pool leaves no iperf3
    at the site. (A server dying after it was lent fails its test, as one dying mid-test does.)"""
    try:
        _run(lab, "tcp1")
        (first,) = _iperf3_at(lab, "site2")
        (kept,) = POOL.kept()
        os.kill(first, signal.SIGKILL)
        # Its session ends with it (the far guard): what the pool knows without a round trip.
        assert wait_until(lambda: kept.process is None or not kept.process.alive(), 5.0)
        _run(lab, "tcp2")
        assert [pid for pid in _iperf3_at(lab, "site2") if pid != first], "no new server"
        assert len(POOL.kept()) == 1
    finally:
        POOL.close(containing=str(lab.ssh_config))
    assert _settled(lab) == []


def test_a_failed_test_keeps_nothing(lab: SiteLab) -> None:
    """A server given back after a failure is stopped, never kept."""
    server = Iperf3().server(lab.endpoint("site2"), lab.site("site2").address)
    with POOL.lending():
        POOL.lend(server)
        assert _iperf3_at(lab, "site2")
        POOL.give_back(server, clean=False)
    assert POOL.kept() == []
    assert _settled(lab) == []


def test_without_lending_nothing_is_kept(lab: SiteLab) -> None:
    """The library outside a pytest session (no POOL.lending): servers stop with their test."""
    spec = next(t for t in load_scenario(_scenario_file(lab)).tests if t.name == "tcp1")
    run_test(spec, pair_target(lab.hosts, ("site1", "site2")), iperf3=Iperf3())
    assert POOL.kept() == []
    assert _iperf3_at(lab, "site2") == []


def test_sigkill_with_kept_servers_leaves_nothing(lab: SiteLab, tmp_path: Path) -> None:
    """SIGKILL of pytest while a kept (idle) server waits at the site and another test runs:
    nothing is left at the sites, and no ssh master, within 5 s."""
    (tmp_path / "kill.qos.yaml").write_text(
        textwrap.dedent(
            """\
            path: {from: site1, to: site2}
            tests:
              first: {traffic: {protocol: tcp, duration: 1 s}, settle: 0 s}
              long: {probe: {kind: udp, duration: 20 s}, settle: 0 s}
            """
        )
    )
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider"]
    MUX.close(containing=str(lab.ssh_config))  # only the inner pytest's masters are looked for
    inner = subprocess.Popen(
        [*argv, f"--qos-testbed={lab.testbed}", "kill.qos.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def probing() -> bool:
            running = [line.split()[2] for line in site_processes(lab, ("iperf3", "python3"))]
            return sum("python" in p for p in running) >= 2 and any("iperf3" in p for p in running)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not probing():
            time.sleep(0.1)
        assert probing(), site_processes(lab)
        inner.send_signal(signal.SIGKILL)
        inner.wait(timeout=5)
        assert _settled(lab, masters=True) == []
    finally:
        if inner.poll() is None:
            inner.kill()
        inner.communicate(timeout=10)
        MUX.close(containing=str(lab.ssh_config))
