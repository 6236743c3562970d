"""SIGKILL of pytest at random moments of traffic+probe and load+probe tests (issue 15).

Probe processes are spawned from the probe's thread; every process pytest-qos starts must
still die with pytest. The spawn tag (TREE_VARIABLE=<pytest pid>-<n>) finds them all.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_qos.hosts.endpoints import TREE_VARIABLE, wait_until

SCENARIOS = {
    "traffic+probe": (
        "tests:\n  both:\n    traffic: {protocol: udp, bitrate: 2 Mbit/s, duration: 3 s}\n"
        "    probe: {kind: udp, duration: 3 s}\n"
    ),
    "load+probe": (
        "tests:\n  under-load:\n    load: {protocol: udp, bitrate: 2 Mbit/s, duration: 3 s}\n"
        "    probe: {kind: udp, duration: 3 s}\n"
    ),
}


def _spawned_by(pid: int) -> list[int]:
    """Live processes carrying the spawn tag of pytest `pid` (zombies have no environ)."""
    needle = f"\0{TREE_VARIABLE}={pid}-".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    if needle in b"\0" + environ.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.parametrize(("kind", "seed"), [(k, s) for k in SCENARIOS for s in (1, 2)])
def test_sigkill_at_a_random_moment_leaves_no_process(tmp_path: Path, kind: str, seed: int) -> None:
    scenario = tmp_path / "scenarios" / "kill.yaml"
    scenario.parent.mkdir()
    scenario.write_text(SCENARIOS[kind])
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--qos", str(scenario), "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Wait until the probe's processes run too, then kill at a random moment after.
        assert wait_until(lambda: len(_spawned_by(run.pid)) >= 3, timeout=20)
        wait_until(lambda: False, random.Random(seed).uniform(0.0, 1.5))
        run.send_signal(signal.SIGKILL)
        run.wait(10)
        left = wait_until(lambda: not _spawned_by(run.pid), timeout=5)
        assert left, f"left running after SIGKILL: {_spawned_by(run.pid)}"
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in _spawned_by(run.pid):
            os.kill(pid, signal.SIGKILL)
