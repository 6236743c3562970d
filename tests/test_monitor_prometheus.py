"""--qos-prometheus, --qos-live-interval, --qos-openmetrics against a real Prometheus and
Pushgateway (Debian's packages), started on free loopback ports for each test.

Runs of pytest that need no process of their own (no xdist, no run watched while it goes) run
in-process: a subprocess costs 1-3 s of start-up on this loaded 2-core machine."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_servers import (
    Server,
    alerts,
    pushed,
    query,
    running_pushgateway,
    start_prometheus,
    tools_or_skip,
    wait_evaluations,
    wait_for,
)

from pytest_qos.hosts.endpoints import Local

SCENARIO = """\
target: local
tests:
  steady:
    traffic: {protocol: udp, bitrate: 10 Mbit/s, duration: 1 s}
    expect:
      throughput: ">= 5 Mbit/s"
      loss: "<= 5 %"
  starved:
    traffic: {protocol: udp, bitrate: 10 Mbit/s, duration: 1 s}
    expect:
      throughput: ">= 1 Gbit/s"
"""
QUIET = ["-p", "no:cacheprovider"]
PYTEST = [sys.executable, "-m", "pytest", *QUIET]


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[Server]:
    with running_pushgateway(tmp_path) as server:
        yield server


def _groups(gateway: Server) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """Each pushed group by its labels (job, instance, scenario, test, ...)."""
    return {tuple(sorted(group["labels"].items())): group for group in pushed(gateway)}


def _value(group: dict[str, Any], name: str, **labels: str) -> float | None:
    for metric in group.get(name, {}).get("metrics", []):
        if all(metric["labels"].get(k) == v for k, v in labels.items()):
            return float(metric["value"])
    return None


def _group(gateway: Server, test: str) -> dict[str, Any]:
    for labels, group in _groups(gateway).items():
        if ("test", test) in labels:
            return group
    raise AssertionError(f"no group for {test}: {list(_groups(gateway))}")


def test_a_run_pushes_prometheus_scrapes_and_the_failing_bounds_rule_fires(
    pytester: pytest.Pytester, write_scenario: Any, pushgateway: Server, tmp_path: Path
) -> None:
    write_scenario(SCENARIO, "scenarios/alerts.yaml")
    rules = tmp_path / "rules.yml"
    made = subprocess.run(
        [sys.executable, "-m", "pytest_qos", "rules", "scenarios", "-o", str(rules)],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    prometheus = start_prometheus(tmp_path, pushgateway, rules)
    try:
        result = pytester.runpytest_inprocess("--qos", f"--qos-prometheus={pushgateway.url}")
        result.assert_outcomes(passed=1, failed=1)  # the verdicts are the run's own
        steady, starved = _group(pushgateway, "steady"), _group(pushgateway, "starved")
        assert (
            _value(steady, "qos_test_passed") == 1.0 and _value(starved, "qos_test_passed") == 0.0
        )
        rate = _value(steady, "qos_throughput_bytes_per_second")
        assert rate is not None and 0.9e6 < rate < 1.4e6  # 10 Mbit/s in bytes/s
        assert _value(starved, "qos_bound_throughput_bytes_per_second", kind="min") == 1.25e8
        assert _value(starved, "qos_bound_passed", bound=">= 1 Gbit/s") == 0.0
        assert _groups(pushgateway)  # the run's info is a group of its own
        assert any("qos_run_info" in g for g in pushed(pushgateway))

        def firing() -> list[dict[str, Any]]:
            return [a for a in alerts(prometheus) if a["state"] == "firing"]

        fired = wait_for(firing, timeout=30.0)
        assert fired, prometheus.log.read_text()[-2000:]
        # Three more evaluations of every rule: the passing bounds' rules stay quiet.
        assert wait_evaluations(prometheus, 3, timeout=30.0), prometheus.log.read_text()[-2000:]
        fired = firing()
        assert {(a["labels"]["test"], a["labels"]["qos_metric"]) for a in fired} == {
            ("starved", "throughput")
        }
        assert fired[0]["annotations"]["scenario"] == "scenarios/alerts.yaml:11"
        scraped = query(prometheus, 'qos_test_passed{scenario="scenarios/alerts.yaml"}')
        assert {r["metric"]["test"]: r["value"][1] for r in scraped} == {
            "steady": "1",
            "starved": "0",
        }
    finally:
        prometheus.stop()


def test_a_long_probe_is_seen_updating_while_it_runs(
    pytester: pytest.Pytester, write_scenario: Any, pushgateway: Server
) -> None:
    write_scenario(
        "target: local\ntests:\n  soak:\n    probes:\n"
        "      ef: {kind: udp, interval: 20 ms, duration: 8 s}\n"
        "    expect: {ef.latency.p99: '< 100 ms'}\n"
    )
    run = subprocess.Popen(
        [*PYTEST, "--qos", f"--qos-prometheus={pushgateway.url}", "--qos-live-interval=1s", "-q"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[float, float] = {}  # elapsed → live p99, while pytest still runs
    try:
        deadline = time.monotonic() + 60
        while run.poll() is None and time.monotonic() < deadline:
            for group in pushed(pushgateway):
                elapsed = _value(group, "qos_live_elapsed_seconds", probe="ef")
                p99 = _value(group, "qos_live_latency_p99_seconds", probe="ef")
                if elapsed is not None and p99 is not None:
                    seen[elapsed] = p99
            time.sleep(0.2)
        output = run.communicate(timeout=60)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, output
    assert len(seen) >= 4, seen  # a new interval about every second, while it ran
    # Whole intervals of the 8 s schedule (a poll may miss one on a loaded machine).
    assert set(seen) <= {float(n) for n in range(1, 9)}, seen
    assert all(0 < p99 < 0.1 for p99 in seen.values())
    final = _group(pushgateway, "soak")
    assert "qos_live_latency_p99_seconds" not in final  # the test's end replaced them
    assert _value(final, "qos_latency_p99_seconds", probe="ef") is not None


def test_xdist_workers_pushes_all_arrive(
    pytester: pytest.Pytester, write_scenario: Any, pushgateway: Server
) -> None:
    tests = "".join(
        f"  t{n}:\n    probe: {{kind: udp, interval: 10 ms, count: 20}}\n"
        "    expect: {latency.p99: '< 1 s'}\n"
        for n in range(10)
    )
    write_scenario("target: local\ntests:\n" + tests)
    result = pytester.runpytest_subprocess(
        *QUIET,
        "--qos",
        "-n",
        "2",
        f"--qos-prometheus={pushgateway.url}",
        "--qos-openmetrics=out.prom",
    )
    result.assert_outcomes(passed=10)
    tested = {dict(labels).get("test") for labels in _groups(pushgateway)}
    assert tested >= {f"t{n}" for n in range(10)}
    for n in range(10):
        assert _value(_group(pushgateway, f"t{n}"), "qos_test_passed") == 1.0
    text = (pytester.path / "out.prom").read_text()
    assert all(
        f'qos_test_passed{{scenario="scenarios/path.yaml",test="t{n}"}} 1.0' in text
        for n in range(10)
    )
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


class _Failing(http.server.BaseHTTPRequestHandler):
    """A gateway that answers every push with 500."""

    def _fail(self) -> None:
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"storage broken")

    do_PUT = do_POST = do_GET = _fail

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def failing_gateway() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _down_url() -> str:
    return f"http://127.0.0.1:{Local().free_port('127.0.0.1')}"  # nothing listens there


@pytest.mark.parametrize("gateway", ["down", "500"])
def test_a_broken_pushgateway_changes_no_verdict_and_is_one_warning_line(
    pytester: pytest.Pytester, write_scenario: Any, failing_gateway: str, gateway: str
) -> None:
    url = _down_url() if gateway == "down" else failing_gateway
    write_scenario(SCENARIO)
    started = time.monotonic()
    result = pytester.runpytest_inprocess(
        "--qos", f"--qos-prometheus={url}", "--qos-live-interval=1s"
    )
    took = time.monotonic() - started
    result.assert_outcomes(passed=1, failed=1)  # what the bounds said, nothing else
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    warned = [line for line in result.outlines if "--qos-prometheus" in line]
    assert len(warned) == 1, result.outlines
    assert f"3 of 3 pushes to {url} did not arrive" in warned[0]
    assert ("500" in warned[0]) if gateway == "500" else ("refused" in warned[0].lower())
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert took < 60


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--qos-prometheus=pushgateway:9091",
            "--qos-prometheus: 'pushgateway:9091' is not a Pushgateway URL",
        ),
        ("--qos-prometheus=http://:9091", "it names no host"),
        ("--qos-prometheus=http://h:99999", "out of range"),
        ("--qos-prometheus=http://h:9091/?x=1", "no '?' query"),
        ("--qos-live-interval=fast", "--qos-live-interval: 'fast'"),
        ("--qos-live-interval=100 ms", "out of range: write 0 (off) or from 1 s to 1 h"),
        ("--qos-live-interval=10", "needs a unit"),
    ],
)
def test_a_malformed_url_or_interval_is_a_one_line_usage_error(
    pytester: pytest.Pytester, option: str, message: str
) -> None:
    result = pytester.runpytest("--qos", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and message in errors[0], result.errlines


def test_an_unwritable_openmetrics_file_fails_alone_with_one_line(
    pytester: pytest.Pytester, write_scenario: Any
) -> None:
    write_scenario(
        "target: local\ntests:\n  rtt:\n    probe: {kind: udp, count: 20}\n"
        "    expect: {latency.p99: '< 1 s'}\n"
    )
    (pytester.path / "blocker").write_text("a file where a directory is wanted")
    result = pytester.runpytest_inprocess(
        "--qos", "--qos-openmetrics=blocker/q.prom", "--qos-json=r.json"
    )
    result.stdout.fnmatch_lines(["pytest-qos: --qos-openmetrics: cannot write*blocker*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (pytester.path / "r.json").is_file()  # the other outputs are still written


def test_promtool_is_installed_with_the_test_tools() -> None:
    tools_or_skip()
    assert shutil.which("promtool")
