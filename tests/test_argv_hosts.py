"""Hosts from files reach tools' argv only as hosts: checked once, and after `--` (issue 23)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError, ScenarioError
from pytest_qos.hosts.names import check_destination, check_host
from pytest_qos.hosts.ssh import Ssh
from pytest_qos.probes import Probe
from pytest_qos.probes.icmp import ping_command
from pytest_qos.probes.run import client_command
from pytest_qos.scenario.reader import parse_scenario

HOSTILE = ["-f", "-c 99999 127.0.0.1", "-h", "a\nb", "a b", "", " ", "-oProxyCommand=x", "\x00"]


@pytest.mark.parametrize("host", HOSTILE)
def test_probe_target_host_is_an_address_or_name(host: str) -> None:
    """`target: {host: "-f"}` would have been `ping -f` (a flood): refused in one line."""
    with pytest.raises(InputError) as error:
        Probe.from_options({"kind": "icmp", "target": {"host": host}})
    assert error.value.key == "target.host"
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", ["icmp", "udp", "tcp"])
def test_scenario_probe_host_is_one_line_with_file_and_line(kind: str) -> None:
    text = f'tests:\n  t:\n    probe: {{kind: {kind}, target: {{host: "-f"}}}}\n'
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, Path("s.qos.yaml"))
    assert str(error.value).startswith("s.qos.yaml:3: tests.t.probe.target.host: ")
    assert "would be read as an option" in str(error.value)


def test_scenario_target_host_is_checked() -> None:
    text = 'target: {host: "-c 1 127.0.0.1"}\ntests:\n  t: {traffic: {protocol: tcp}}\n'
    with pytest.raises(ScenarioError, match=r"s.qos.yaml:1: target.host: "):
        parse_scenario(text, Path("s.qos.yaml"))


def test_ping_takes_the_host_after_double_dash() -> None:
    argv = ping_command("ping", "example.net", interval=0.02, count=5, size=64, timeout=1)
    assert argv[-2:] == ["--", "example.net"]


def test_probe_client_takes_the_host_as_one_word() -> None:
    argv = client_command(Probe(kind="udp"), "-h", 7000)
    assert "--host=-h" in argv and "-h" not in argv


def test_shipped_probe_client_reads_a_dash_host_as_a_host() -> None:
    """`--host=-h` is a host to argparse (`--host -h` printed the help)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_qos", "probe", "--host=-h", "--count", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "usage:" not in done.stdout
    assert done.returncode == 3 and '"error"' in done.stdout


def test_ssh_takes_the_destination_after_double_dash() -> None:
    host = Ssh("ops@branch1", mux=None)
    argv = host.command(["true"])
    assert argv[-3:-1] == ["--", "ops@branch1"]


@pytest.mark.parametrize(
    "good", ["198.18.1.2", "2001:2::2", "fe80::1%eth0", "branch-1", "a.example.net.", "dc_1"]
)
def test_good_hosts_pass(good: str) -> None:
    assert check_host(good) == good


@pytest.mark.parametrize("good", ["ops@branch1", "root@198.18.1.2", "branch1"])
def test_good_destinations_pass(good: str) -> None:
    assert check_destination(good) == good


@given(st.text(max_size=40))
def test_nothing_accepted_starts_with_a_dash_or_spans_lines(text: str) -> None:
    try:
        host = check_destination(text)
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert not host.startswith("-") and host.isprintable() and " " not in host
