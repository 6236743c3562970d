"""Ssh and Exec endpoints for real: sshd in site namespaces, ip netns exec, nsenter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pytest_qos.errors import ToolMissingError
from pytest_qos.hosts import ship
from pytest_qos.hosts.endpoints import Netns
from pytest_qos.hosts.ssh import MUX, Exec, Ssh, SshError
from pytest_qos.hosts.target import Target
from pytest_qos.lab.sitelab import SiteLab, sites_unavailable_reason
from pytest_qos.probes import Probe, run_probe

UNAVAILABLE = sites_unavailable_reason()
needs_sites = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}")


def test_shipped_script_is_stdlib_only_and_runs_without_pytest_qos(tmp_path: object) -> None:
    """The responder/probe script runs under `python3 -I` where pytest_qos is not importable."""
    names = [name for name, _ in ship.modules()]
    assert "pytest_qos.probes.responder" in names and "pytest_qos.probes.udp" in names
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    isolated = [python, "-I", "-c", ship.one_liner()]
    done = subprocess.run(
        [*isolated, "responder", "--bind", "127.0.0.1", "--port", "33011", "--lifetime", "0.2"],
        capture_output=True,
        text=True,
        timeout=20,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert "listening on 127.0.0.1" in done.stderr
    assert len(ship.one_liner()) < 100_000  # one argv string: MAX_ARG_STRLEN is 128 kB


def test_remote_line_quotes_argv_once() -> None:
    """No word of an argv is ever interpreted by the remote shell."""
    host = Ssh("example.invalid", mux=None, programs={"iperf3": "/opt/bin/iperf3"})
    line = host.remote_line(["/usr/bin/iperf3", "-c", "x; rm -rf / $(id) `id` 'q'"], bound=7)
    assert line.endswith(
        "exec timeout -k 2 7 /opt/bin/iperf3 -c 'x; rm -rf / $(id) `id` '\"'\"'q'\"'\"''"
    )
    in_container = Exec(["docker", "exec", "dc1"], programs={"python3": "/opt/py/bin/python3"})
    assert in_container.command(["/usr/bin/iperf3", "-s"]) == [
        "docker",
        "exec",
        "dc1",
        "iperf3",
        "-s",
    ]
    assert in_container.python_argv()[:2] == ["/opt/py/bin/python3", "-c"]
    argv = host.command(["sleep", "1"])
    assert argv[:1] == ["ssh"] and "-tt" in argv and "BatchMode=yes" in argv


@pytest.fixture(scope="module")
def sites() -> Iterator[SiteLab]:
    lab = SiteLab.create(2)
    try:
        yield lab
    finally:
        lab.destroy()


@pytest.mark.root
@needs_sites
def test_run_quoting_exit_code_and_newlines(sites: SiteLab) -> None:
    """Quoted once: shell syntax arrives as text; -tt's \\r\\n is \\n; exit codes pass through."""
    host = sites.endpoint("site1")
    done = host.run(["echo", "a;b", "$(id)", "*"], timeout=10)
    assert done.stdout == "a;b $(id) *\n"
    assert host.run(["sh", "-c", "exit 3"], timeout=10).returncode == 3
    start = time.monotonic()
    for _ in range(3):
        host.run(["true"], timeout=10)
    assert (time.monotonic() - start) / 3 < 0.6  # through the master, not a new login


@pytest.mark.root
@needs_sites
def test_remote_listening_and_free_port(sites: SiteLab) -> None:
    """Readiness and free ports come from the far host's /proc, not ours."""
    host = sites.endpoint("site2")
    assert host.is_listening(22)  # sshd, in the site only
    assert not host.is_listening(22, "udp")
    port = host.free_port("198.19.2.2", ("udp", "tcp"))
    assert not host.is_listening(port) and 20000 <= port <= 32767


@pytest.mark.root
@needs_sites
def test_probes_across_sites_need_nothing_installed(sites: SiteLab) -> None:
    """The udp probe's responder and client are shipped with python3 -c."""
    target = Target(
        name="site1->site2",
        host="198.19.2.2",
        client=sites.endpoint("site1"),
        server=sites.endpoint("site2"),
        bind="198.19.2.2",
    )
    measured = run_probe(Probe.from_options({"kind": "udp", "duration": "0.5 s"}), target)
    assert measured.details["received"] == measured.details["sent"] > 0
    assert "-c" in measured.command and "probe" in measured.command


@pytest.mark.root
@needs_sites
def test_missing_tool_is_one_line(sites: SiteLab) -> None:
    host = Ssh(
        "site1", name="site1", config=str(sites.ssh_config), programs={"iperf3": "/nope/iperf3"}
    )
    with pytest.raises(
        ToolMissingError, match=r"host site1: '/nope/iperf3' not found there — install iperf3"
    ):
        host.run(["iperf3", "--version"], timeout=10)


@pytest.mark.root
@needs_sites
def test_host_key_changed_not_known_and_unreachable(
    sites: SiteLab, tmp_path: os.PathLike[str]
) -> None:
    """BatchMode: a changed host key, an unknown one, a closed port each fail at once, told
    apart, naming the known-hosts file ssh used and what to do."""
    wrong = os.path.join(tmp_path, "known_hosts")
    with open(wrong, "w") as known:
        known.write(
            "198.19.1.2 ssh-ed25519 "
            "AAAAC3NzaC1lZDI1NTE5AAAAIBsIte2aHqTQ/7RMfX5nN2wBhVCXoZAyx3UVVxRPDl2z\n"
        )
    host = Ssh(
        "site1", name="s1", config=str(sites.ssh_config), options=[f"UserKnownHostsFile={wrong}"]
    )
    with pytest.raises(SshError) as changed:
        host.run(["true"], timeout=10)
    said = str(changed.value)
    assert said.startswith("host s1 (site1): host key changed"), said
    assert f"recorded in {wrong}:1" in said and f"ssh-keygen -f {wrong} -R 198.19.1.2" in said
    empty = os.path.join(tmp_path, "empty_known_hosts")
    open(empty, "w").close()
    for strict in ("yes", "ask"):  # ask + BatchMode: ssh says only "verification failed"
        unknown = Ssh(
            "site1",
            name="s1",
            config=str(sites.ssh_config),
            options=[f"UserKnownHostsFile={empty}", f"StrictHostKeyChecking={strict}"],
        )
        with pytest.raises(SshError) as not_known:
            unknown.run(["true"], timeout=10)
        said = str(not_known.value)
        assert said.startswith("host s1 (site1): host key not known"), said
        assert f"known-hosts files ssh read: {empty})" in said, said
        assert "ssh-keygen -R" not in said and "StrictHostKeyChecking=accept-new" in said
    closed = Ssh("site1", name="s1", port=2, config=str(sites.ssh_config))
    with pytest.raises(SshError, match=r"host s1 \(site1\): unreachable: .*sshd listens"):
        closed.run(["true"], timeout=10)


@pytest.mark.root
@needs_sites
def test_killed_client_ends_remote_process(sites: SiteLab) -> None:
    """-tt: SIGKILL of the local ssh client sends SIGHUP to the remote process (via the master)."""
    host = sites.endpoint("site1")
    process = host.spawn(["sleep", "97"])
    namespace = sites.site("site1").namespace

    def sleeping() -> bool:
        pids = subprocess.run(
            ["ip", "netns", "pids", namespace], capture_output=True, text=True
        ).stdout
        return any("sleep97" in _cmdline(pid) for pid in pids.split())

    deadline = time.monotonic() + 5
    while not sleeping() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sleeping()
    os.kill(process.pid, 9)
    deadline = time.monotonic() + 5
    while sleeping() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.stop()
    assert not sleeping()


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b"").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.root
@needs_sites
def test_exec_endpoint_with_ip_netns_exec_and_nsenter(sites: SiteLab) -> None:
    """Exec runs argv behind any prefix; listening checks run inside, not here."""
    namespace = sites.site("site2").namespace
    via_ip = Exec(["ip", "netns", "exec", namespace], name="site2-ns")
    assert "198.19.2.2" in via_ip.run(["ip", "-br", "addr"], timeout=10).stdout
    assert via_ip.is_listening(22)
    sshd = sites.sshd["site2"].pid
    via_nsenter = Exec(["nsenter", "-t", str(sshd), "-n"], name="site2-nsenter")
    assert via_nsenter.is_listening(22)
    assert not Netns(namespace).run(["true"], timeout=5).returncode
    argv = via_ip.python_argv()
    assert argv[:2] == ["python3", "-c"]


def teardown_module() -> None:
    MUX.close()
