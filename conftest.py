"""Test-suite guards: root-only tests never skip silently in CI, and nothing is left running."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


# Every process this test run starts inherits this mark, so leftovers are found exactly,
# not confused with other runs on the same machine.
KEPT = Path("/run/pytest-qos/kept")  # pytest_qos.lab.routerlab.KEPT_DIRECTORY, without importing it
RUN_MARK = f"PYTEST_QOS_TEST_RUN={os.getpid()}-{uuid.uuid4().hex[:8]}"
os.environ["PYTEST_QOS_TEST_RUN"] = RUN_MARK.split("=", 1)[1]


def _marked_processes() -> list[str]:
    """Processes (other than this one) carrying this run's mark in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            if RUN_MARK.encode() in environ:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"process {entry.name}: {command.strip()}")
        except OSError:
            continue
    return found


def _orphaned_namespaces() -> list[str]:
    """Lab namespaces (qos-<owner pid>-...) owned by this run or by a process now gone."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    found = []
    for line in listing.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "qos" or not parts[1].isdigit():
            continue
        owner = int(parts[1])
        if (KEPT / "-".join(parts[:3])).exists():
            continue  # kept on purpose (--qos-keep-lab); the test that keeps one removes it
        if owner == os.getpid() or not Path(f"/proc/{owner}").exists():
            found.append(f"namespace: {name}")
    return found


def _leftovers() -> list[str]:
    """Processes started by this run, and lab namespaces nobody alive owns, still present."""
    return _marked_processes() + _orphaned_namespaces()


# Written when a run leaked: `make test` then does not run its failures again by themselves
# (a leak is never a busy machine's doing).
LEAKED = Path(".pytest_cache/qos-leaked")


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(request: pytest.FixtureRequest) -> object:
    """Fail the run when any test left an iperf3 process or a lab namespace behind."""
    before = set(_leftovers())
    yield
    after = [entry for entry in _leftovers() if entry not in before]
    if after:
        leaked = request.config.rootpath / LEAKED
        leaked.parent.mkdir(exist_ok=True)
        leaked.write_text("\n".join(after) + "\n")
        pytest.fail("left running after the tests:\n  " + "\n  ".join(after), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, each worker (and every run it starts) has a temporary directory of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    # The path locks live there (pytest_qos.hosts.locks): one machine-wide lock made the four
    # workers take turns on loopback, which no test of the parallel part judges near a bound
    # (the parallel part: 289 -> 242 s). What an ssh session or a site lab keeps there is its
    # process's own either way.
    directory = tempfile.mkdtemp(prefix=f"qos-{worker}-")
    os.chmod(directory, 0o1777)  # as /tmp: tests plant files there as other users
    os.environ["TMPDIR"] = directory
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    config.add_cleanup(lambda: shutil.rmtree(directory, ignore_errors=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Lab modules first; in CI (QOS_REQUIRE_ROOT_TESTS=1) a root test that cannot run fails."""
    # The lab's modules are the long ones: under `-n N --dist loadfile` (make test) they start
    # first, so no worker begins a two-minute module when the others are done. Stable: the
    # order within each group stays as collected, identical on every worker.
    items.sort(key=lambda item: item.get_closest_marker("root") is None)
    if os.environ.get("QOS_REQUIRE_ROOT_TESTS") != "1":
        return
    for item in items:
        # A kernel feature CI's own kernel lacks (netem here) is a reason to skip; being
        # unable to run as root is not.
        if item.get_closest_marker("root") and not item.get_closest_marker("kernel_optional"):
            item.add_marker(pytest.mark.qos_required)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Turn the skip of a required root test into a failure naming what was missing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("qos_required"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"CI requires root-only tests to run, but it skipped: {reason}"
    return None
