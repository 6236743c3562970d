"""Endpoints: process groups killed and reaped, interrupts leave nothing, socket readiness."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from process_checks import process_gone

from pytest_qos.errors import MeasurementTimeout
from pytest_qos.hosts.endpoints import Local, Netns, listening_in, wait_until

# A child that starts a grandchild in its own process group, records both pids, and waits.
# Both sleeps are bounded so a broken test cannot leave them running for long.
FAMILY = """
import os, signal, subprocess, sys, time
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(f"{os.getpid()} {grandchild.pid}")
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


def read_pids(pidfile: Path) -> tuple[int, int]:
    """(child, grandchild) once the family has written them."""
    assert wait_until(pidfile.exists, 10.0), "the child never wrote its pids"
    child, grandchild = (int(pid) for pid in pidfile.read_text().split())
    return child, grandchild


@pytest.fixture
def pidfile(tmp_path: Path) -> Path:
    """Where the family writes its pids."""
    return tmp_path / "pids"


@pytest.mark.parametrize("temper", ["polite", "stubborn"])
def test_stop_kills_the_whole_process_group(pidfile: Path, temper: str) -> None:
    process = Local().spawn([sys.executable, "-c", FAMILY, str(pidfile), temper])
    child, grandchild = read_pids(pidfile)
    assert child == process.pid
    assert os.getpgid(grandchild) == process.pid  # same group, not the same process
    started = time.monotonic()
    process.stop(grace=0.3)
    elapsed = time.monotonic() - started
    assert not process.alive()
    assert process.returncode == -signal.SIGTERM if temper == "polite" else -signal.SIGKILL
    # A child ignoring SIGTERM costs the grace period, then SIGKILL ends it.
    assert elapsed < (0.3 if temper == "polite" else 3.0)
    assert process_gone(child)
    assert wait_until(lambda: process_gone(grandchild), 2.0)
    process.stop()  # idempotent


@pytest.fixture
def alarm() -> Iterator[None]:
    """SIGALRM raises KeyboardInterrupt, like Ctrl-C arriving mid-wait; restored afterwards."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("alarm")
def test_ctrl_c_during_run_leaves_nothing_behind(pidfile: Path) -> None:
    # Interrupt only once the family exists, so the test sees its pids either way.
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        Local().run([sys.executable, "-c", FAMILY, str(pidfile), "polite"], timeout=30)
    assert time.monotonic() - started < 5.0
    child, grandchild = read_pids(pidfile)
    assert process_gone(child)
    assert wait_until(lambda: process_gone(grandchild), 2.0)


def test_run_captures_output_and_exit_code() -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    completed = Local().run([sys.executable, "-c", script], timeout=10)
    assert (completed.returncode, completed.stdout, completed.stderr) == (3, "out\n", "err\n")
    assert completed.argv == [sys.executable, "-c", script]


def test_run_timeout_kills_and_raises(pidfile: Path) -> None:
    started = time.monotonic()
    with pytest.raises(MeasurementTimeout, match=r"did not finish within 1\.0 s and was killed"):
        Local().run([sys.executable, "-c", FAMILY, str(pidfile), "polite"], timeout=1.0)
    assert time.monotonic() - started < 4.0
    child, grandchild = read_pids(pidfile)
    assert process_gone(child)
    assert wait_until(lambda: process_gone(grandchild), 2.0)


def test_shell_strings_are_not_interpreted(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    completed = Local().run(["echo", f"; touch {marker}"], timeout=5)
    assert completed.stdout == f"; touch {marker}\n"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
)
def test_listening_in_sees_a_tcp_listener(family: socket.AddressFamily, host: str) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        port = server.getsockname()[1]
        assert not listening_in(os.getpid(), port)  # bound is not yet listening
        server.listen()
        assert listening_in(os.getpid(), port)
        assert not listening_in(os.getpid(), port, "udp")
    assert not listening_in(os.getpid(), port)


def test_listening_in_sees_a_bound_udp_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert listening_in(os.getpid(), port, "udp")
        assert not listening_in(os.getpid(), port, "tcp")
    assert not listening_in(os.getpid(), port, "udp")


def test_listening_in_a_vanished_process_is_false() -> None:
    completed = Local().spawn(["true"])
    completed.communicate(timeout=5)
    assert not listening_in(completed.pid, 22)


def test_wait_until_is_bounded() -> None:
    started = time.monotonic()
    assert not wait_until(lambda: False, 0.2, interval=0.05)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert wait_until(lambda: True, 0.0)


def test_netns_wraps_argv() -> None:
    assert Netns("qos-x").command(["iperf3", "-s"]) == [
        "ip",
        "netns",
        "exec",
        "qos-x",
        "iperf3",
        "-s",
    ]


@pytest.mark.parametrize("pidfds", [True, False], ids=["pidfd", "polling"])
def test_wait_sees_an_exit_and_times_out_on_a_process_still_running(
    pidfds: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfds:  # a kernel or Python without pidfd_open: Popen's own polling
        monkeypatch.delattr(os, "pidfd_open")
    with Local().spawn([sys.executable, "-c", "import time; time.sleep(0.2)"]) as child:
        assert child.wait(0.01) is False and child.alive()
        assert child.wait(10.0) is True and not child.alive()
        assert child.returncode == 0
        assert child.wait(0.0) is True  # reaped already: answered at once
