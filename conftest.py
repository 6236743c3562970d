"""Test-suite guards: root-only tests never skip silently in CI, and nothing is left running."""

from __future__ import annotations

import os
import subprocess

import pytest

pytest_plugins = ["pytester"]


def _leftovers() -> list[str]:
    """iperf3 processes and pytest-qos namespaces still present (a teardown bug)."""
    found = []
    processes = subprocess.run(
        ["pgrep", "-a", "-x", "iperf3"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    found += [f"process: {line}" for line in processes]
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    found += [f"namespace: {line}" for line in namespaces if line.startswith("qos")]
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running() -> object:
    """Fail the run when any test left an iperf3 process or a lab namespace behind."""
    before = set(_leftovers())
    yield
    after = [entry for entry in _leftovers() if entry not in before]
    if after:
        pytest.fail("left running after the tests:\n  " + "\n  ".join(after), pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In CI (QOS_REQUIRE_ROOT_TESTS=1) a root-only test that cannot run fails instead."""
    if os.environ.get("QOS_REQUIRE_ROOT_TESTS") != "1":
        return
    for item in items:
        if item.get_closest_marker("root"):
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
