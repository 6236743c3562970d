"""Site-lab host locks carry the lab's identity (issue 23): every xdist worker and every run
builds its own site lab, but all locked `site1…siteN` and waited on each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.locks import host_locks
from pytest_qos.lab.sitelab import sites_unavailable_reason

UNAVAILABLE = sites_unavailable_reason()


def _hold(scope: str, ready: threading.Event, release: threading.Event) -> None:
    with host_locks(["site1", "site2"], exclusive=True, scope=scope):
        ready.set()
        release.wait(30)


def test_locks_of_two_labs_do_not_contend_but_one_labs_do() -> None:
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=("qos-1-1", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with host_locks(["site1"], exclusive=True, scope="qos-2-1", timeout=5):
            pass
        assert time.monotonic() - started < 1.0  # another lab's site1: no wait
        with (
            pytest.raises(MeasurementError, match="stayed busy"),
            host_locks(["site1"], exclusive=True, scope="qos-1-1", timeout=0.3),
        ):
            pass
    finally:
        release.set()
        holder.join(timeout=10)


@pytest.mark.root
@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}")
def test_a_site_lab_does_not_wait_for_another_runs_sites(tmp_path: Path) -> None:
    """This process holds 'site1' and 'site2' as every site lab used to name them."""
    (tmp_path / "path.qos.yaml").write_text(
        textwrap.dedent(
            """\
            lab: {sites: 2}
            path: {from: site1, to: site2}
            tests:
              tcp: {traffic: {protocol: tcp, duration: 1 s}, settle: 0 s}
            """
        )
    )
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=("", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", "path.qos.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,  # it used to wait for the lock (up to 900 s)
        )
    finally:
        release.set()
        holder.join(timeout=10)
    assert "1 passed" in done.stdout, done.stdout[-2000:]
