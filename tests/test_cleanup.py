"""Nothing outlives a run: Ctrl-C, SIGTERM (a CI timeout) and SIGKILL of pytest mid-measurement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_qos.hosts.endpoints import wait_until
from pytest_qos.measure.iperf3 import find_iperf3

SCENARIO = """\
tests:
  long-udp:
    traffic: {protocol: udp, bitrate: 1 Mbit/s, duration: 20 s}
    load: {protocol: udp, bitrate: 1 Mbit/s}
    settle: 0.1 s
"""


def _processes_of(marker: str) -> list[str]:
    """Processes whose command line contains `marker` (this test's private iperf3 path)."""
    listing = subprocess.run(["pgrep", "-a", "-f", marker], capture_output=True, text=True)
    return [line for line in listing.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name
)
def test_interrupted_run_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    # A private path to the real iperf3 makes this run's processes findable by name.
    private = tmp_path / f"iperf3-{sig.name.lower()}"
    private.symlink_to(find_iperf3())
    scenario = tmp_path / "scenarios" / "long.yaml"
    scenario.parent.mkdir()
    scenario.write_text(SCENARIO)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--qos",
            f"--qos-iperf3={private}",
            str(scenario),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        # Wait until servers, the load and the measured client all run (2 servers + 2 clients).
        assert wait_until(lambda: len(_processes_of(str(private))) >= 4, timeout=15), _processes_of(
            str(private)
        )
        os.kill(run.pid, sig)
        output, _ = run.communicate(timeout=20)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert wait_until(lambda: not _processes_of(str(private)), timeout=5), (
        f"left running after {sig.name}: {_processes_of(str(private))}\n{output}"
    )
    if sig is not signal.SIGKILL:
        assert "Interrupted" in output or "KeyboardInterrupt" in output, output
