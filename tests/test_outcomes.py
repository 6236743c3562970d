"""Errors are not failures: a test that could not measure is `error` in every report.

A missed bound is a QoS failure (JUnit `<failure>`, pytest's `failed`); an unreachable host,
a refused login, a missing tool, a figure that cannot be trusted (a generator limit) is an
error (JUnit `<error>`, pytest's `error`, `ERROR` in the QoS table, `!` in the mesh matrix).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

HTML = importlib.util.find_spec("pytest_html") is not None


def _closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Run:
    """One pytest run of the two scenarios, with every report asked for; where it ran."""

    result: pytest.RunResult
    path: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """An unreachable server (an error) beside a missed bound (a failure), measured once: each
    test checks the reports it is about (the pytest-html page too, when it is installed)."""
    path = tmp_path_factory.mktemp("outcomes")
    (path / "scenarios").mkdir()
    (path / "scenarios" / "remote.yaml").write_text(
        f"target: {{host: 127.0.0.1, port: {_closed_port()}}}\n"
        "tests:\n"
        "  unreachable:\n"
        "    traffic: {protocol: tcp, duration: 1 s}\n"
        "    expect: {throughput: '>= 1 Mbit/s'}\n",
    )
    (path / "scenarios" / "local.yaml").write_text(
        "tests:\n"
        "  missed:\n"
        "    traffic: {protocol: udp, bitrate: 2 Mbit/s, duration: 1 s}\n"
        "    expect: {throughput: '>= 1 Gbit/s'}\n",
    )
    reports = ["--junitxml=junit.xml", "--qos-json=r.json", "--qos-md=r.md", "-rA"]
    reports += ["--html=report.html"] if HTML else []
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", *reports]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=path, capture_output=True, text=True, timeout=120)
    lines = (done.stdout.splitlines(), done.stderr.splitlines())
    return Run(pytest.RunResult(done.returncode, *lines, time.monotonic() - started), path)


def test_an_unreachable_server_is_an_error_and_a_missed_bound_a_failure_everywhere(
    run: Run,
) -> None:
    result = run.result
    # pytest itself: one error, one failure (exit status 1 either way).
    result.assert_outcomes(errors=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*ERROR scenarios/remote.yaml::unreachable*unable to connect*",
            "*FAILED scenarios/local.yaml::missed*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    # The QoS table: ERROR for the one, FAIL for the other.
    result.stdout.fnmatch_lines(
        [
            "*scenarios/local.yaml::missed*throughput*>= 1 Gbit/s*FAIL*",
            "*scenarios/remote.yaml::unreachable*(error)*unable to connect*ERROR*",
        ]
    )
    # JUnit: <error> and <failure>, and the suite counts them apart.
    junit = ET.parse(run.path / "junit.xml")
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == ("1", "1")
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    assert cases["unreachable"].find("error") is not None
    assert cases["unreachable"].find("failure") is None
    assert "unable to connect" in (cases["unreachable"].find("error").get("message") or "")
    assert cases["missed"].find("failure") is not None
    # The measured metrics still reach JUnit as properties, for the failure.
    names = {p.get("name") for p in cases["missed"].iter("property")}
    assert "qos.throughput" in names
    # JSON and Markdown.
    document = json.loads((run.path / "r.json").read_text())
    outcomes = {r["test"]: r["outcome"] for r in document["results"]}
    assert outcomes == {
        "scenarios/local.yaml::missed": "failed",
        "scenarios/remote.yaml::unreachable": "error",
    }
    markdown = (run.path / "r.md").read_text()
    assert "1 error, 1 failed" in markdown
    assert "**ERROR**" in markdown and "**FAIL**" in markdown


@pytest.mark.skipif(not HTML, reason="pytest-html (dev extra) not installed")
def test_pytest_html_counts_the_error_as_an_error(run: Run) -> None:
    run.result.assert_outcomes(errors=1, failed=1)
    page = (run.path / "report.html").read_text()
    # pytest-html's own outcome counts and rows (its data blob names each row's result).
    assert '<span class="error">1 Errors,' in page  # pytest-html's label is plural
    assert '<span class="failed">1 Failed,' in page
    assert page.count("&#34;result&#34;: &#34;Error&#34;") == 1
