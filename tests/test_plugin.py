"""The plugin as a user meets it: pytester runs with the real iperf3 on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from conftest import ScenarioWriter
from pytest_qos.measure.iperf3 import Iperf3Server

UDP_5M = """\
tests:
  udp-5m:
    traffic: {protocol: udp, bitrate: 5 Mbit/s, duration: 1 s}
    expect:
      throughput: "4.5 Mbit/s .. 5.5 Mbit/s"
      loss: "<= 1 %"
"""


def test_without_qos_scenarios_and_marked_tests_are_skipped(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        def test_link(iperf3):
            raise AssertionError("must not run without --qos")

        def test_ordinary():
            pass
        """
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*QoS measurements need --qos*"])


def test_scenario_passes_with_table_json_and_junit(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M)
    result = pytester.runpytest("--qos", "--qos-json=out/results.json", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*= QoS results =*",
            "*test*metric*expected*measured*verdict*",
            "scenarios/path.yaml::udp-5m*throughput*4.5 Mbit/s .. 5.5 Mbit/s*Mbit/s*pass*",
            "scenarios/path.yaml::udp-5m*loss*<= 1 %*pass*",
        ]
    )
    document = json.loads((pytester.path / "out" / "results.json").read_text())
    assert document["version"] == 1
    assert document["environment"]["iperf3"].startswith("iperf 3")
    (entry,) = document["results"]
    assert entry["test"] == "scenarios/path.yaml::udp-5m"
    assert entry["outcome"] == "passed"
    assert 4.5e6 <= entry["metrics"]["throughput"] <= 5.5e6
    assert {b["metric"] for b in entry["bounds"]} == {"throughput", "loss"}
    assert all(b["passed"] for b in entry["bounds"])
    assert entry["command"][1:3] == ["-c", "127.0.0.1"]
    junit = ET.parse(pytester.path / "junit.xml")
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert 4.5e6 <= float(properties["qos.throughput"]) <= 5.5e6
    assert "qos.loss" in properties


def test_missed_bound_fails_with_table_and_reproducing_command(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M.replace("4.5 Mbit/s .. 5.5 Mbit/s", ">= 50 Mbit/s"))
    result = pytester.runpytest("--qos")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*QoS bounds missed: throughput*",
            "*metric*expected*measured*verdict*",
            "*throughput*>= 50 Mbit/s*Mbit/s*FAIL*",
            "*loss*<= 1 %*pass*",
            "reproduce (iperf3):",
            "  */iperf3 -s -J -B 127.0.0.1 -p * -1 >/dev/null &",
            "  sleep 1",
            "  */iperf3 -c 127.0.0.1 -p * --json -t 1 * -u -b 5000000*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_on_ci_the_short_summary_gives_a_missed_bound_one_line(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[str],
) -> None:
    """pytest does not trim summary messages on CI: the table must not come twice."""
    monkeypatch.setenv("CI", "true")
    write_scenario(UDP_5M.replace("4.5 Mbit/s .. 5.5 Mbit/s", ">= 50 Mbit/s"))
    # Serially in this process (pytest reads CI when it writes the summary); with xdist, the
    # controller in a process of its own as well.
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    result = run("--qos", "-rf", *workers)
    result.assert_outcomes(failed=1)
    summary = result.stdout.str().split("short test summary info")[1].splitlines()[1:]
    assert summary[0] == "FAILED scenarios/path.yaml::udp-5m - QoS bounds missed: throughput"
    assert summary[1].startswith("=")
    assert result.stdout.str().count("reproduce (iperf3):") == 1


def test_python_tests_use_fixtures_and_qos_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        def test_backup_link(iperf3, qos_check):
            result = iperf3.run(protocol="udp", bitrate="5 Mbit/s", duration="1 s")
            qos_check(result, loss="<= 0.5 %", jitter="<= 2 ms", throughput=">= 4.5 Mbit/s")
            qos_check(result, {"throughput.sent": ">= 4.5 Mbit/s"})

        @pytest.mark.qos
        def test_too_demanding(iperf3, qos_check):
            result = iperf3.run(protocol="tcp", duration="1 s", dscp="AF41")
            assert result.command[-2:] == ["-S", str(34 << 2)]
            qos_check(result, throughput=">= 100 Tbit/s")
        """
    )
    result = pytester.runpytest("--qos", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_too_demanding*",
            "*throughput*>= 100 Tbit/s*Gbit/s*FAIL*",
            "*= QoS results =*",
        ]
    )
    summary = result.stdout.str().split("QoS results")[-1]
    assert "test_backup_link" in summary and "throughput.sent" in summary


def test_iperf3_server_factory_and_running_server_target(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
) -> None:
    server = iperf3_server()
    write_scenario(
        f"target: {{host: 127.0.0.1, port: {server.port}}}\n" + UDP_5M,
    )
    result = pytester.runpytest("--qos")
    result.assert_outcomes(passed=1)
    assert server.process is not None and server.process.alive()


def test_busy_running_server_is_retried(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
) -> None:
    server = iperf3_server()
    assert server.process is not None
    busy = subprocess.Popen(
        ["iperf3", "-c", "127.0.0.1", "-p", str(server.port), "-t", "2", "-b", "1M", "-u"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)  # the first client holds the server
        write_scenario(f"target: {{host: 127.0.0.1, port: {server.port}}}\n" + UDP_5M)
        started = time.monotonic()
        result = pytester.runpytest("--qos")
        result.assert_outcomes(passed=1)
        assert time.monotonic() - started >= 1.0  # it waited for the busy server
    finally:
        busy.kill()
        busy.wait()


def test_missing_iperf3_says_how_to_install(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M)
    result = pytester.runpytest("--qos", "--qos-iperf3=/nonexistent/iperf3")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*apt-get install iperf3*--qos-iperf3=PATH*"])
    assert "Traceback" not in result.stdout.str()


def test_scenario_files_found_by_pattern_argument_and_ini(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M, "net/wan.qos.yaml")
    write_scenario(UDP_5M, "other/lan.yaml")
    write_scenario(UDP_5M, "paths/dc.yaml")
    write_scenario("not: a scenario\n", "config/settings.yaml")
    pytester.makeini("[pytest]\nqos_scenario_dirs = paths\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines_random(["net/wan.qos.yaml::udp-5m", "paths/dc.yaml::udp-5m"])
    assert "lan.yaml" not in result.stdout.str()
    assert "settings.yaml" not in result.stdout.str()
    named = pytester.runpytest("--collect-only", "-q", "other/lan.yaml")
    named.stdout.fnmatch_lines(["other/lan.yaml::udp-5m"])


def test_repeat_judges_the_median_and_reports_spread(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(UDP_5M.replace("    expect:", "    repeat: 2\n    expect:"))
    result = pytester.runpytest("--qos", "--qos-json=r.json")
    result.assert_outcomes(passed=1)
    (entry,) = json.loads((pytester.path / "r.json").read_text())["results"]
    assert entry["measurements"][0]["details"]["repeats"] == 2
    assert "throughput" in entry["spread"]


def test_load_runs_beside_the_measured_flow_and_is_reported(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(
        """\
tests:
  udp-under-load:
    traffic: {protocol: udp, bitrate: 5 Mbit/s, duration: 1 s}
    load: {protocol: tcp, bitrate: 50 Mbit/s}
    settle: 0.2 s
    expect:
      throughput: ">= 4 Mbit/s"
""",
    )
    result = pytester.runpytest("--qos", "--qos-json=r.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*load 1 throughput*(reported)*Mbit/s*"])
    (entry,) = json.loads((pytester.path / "r.json").read_text())["results"]
    (load,) = entry["loads"]
    assert 40e6 <= load["metrics"]["throughput"] <= 60e6


def test_xdist_workers_report_into_one_table_and_never_share_a_path(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    write_scenario(UDP_5M, "scenarios/a.yaml")
    write_scenario(UDP_5M, "scenarios/b.yaml")
    result = pytester.runpytest_subprocess("--qos", "-n", "2", "--qos-json=all.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "scenarios/a.yaml::udp-5m*throughput*pass*",
            "scenarios/b.yaml::udp-5m*throughput*pass*",
        ]
    )
    results = json.loads((pytester.path / "all.json").read_text())["results"]
    assert sorted(r["test"] for r in results) == [
        "scenarios/a.yaml::udp-5m",
        "scenarios/b.yaml::udp-5m",
    ]
    # Both measure loopback: the per-path lock keeps their 1 s measurements apart.
    first, second = sorted(r["measurements"][0]["started"] for r in results)
    assert second - first >= 0.95


def test_qos_check_judges_pytest_benchmark_timings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest-benchmark disables itself inside an xdist worker: this run is not one.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(
        """
        import time

        def test_fast_enough(benchmark, qos_check):
            benchmark.pedantic(time.sleep, args=(0.001,), rounds=20)
            qos_check(benchmark, {"latency.p99": "<= 500 ms", "latency.p50": ">= 1 ms"})

        def test_too_slow(benchmark, qos_check):
            benchmark.pedantic(time.sleep, args=(0.001,), rounds=5)
            qos_check(benchmark, {"latency.p50": "<= 1 us"})
        """
    )
    result = pytester.runpytest("-p", "no:randomly", "--benchmark-disable-gc")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*latency.p50*<= 1 µs*ms*FAIL*",
            "*= QoS results =*",
            "*test_fast_enough*latency.p99*<= 500 ms*ms*pass*",
        ]
    )
    untimed = pytester.runpytest("-p", "no:randomly", "--benchmark-disable", "-rs")
    untimed.assert_outcomes(skipped=2)
    untimed.stdout.fnmatch_lines(["*qos_check: pytest-benchmark timed nothing*"])


def test_latency_probe_fixture_and_probe_scenario_reach_every_report(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
) -> None:
    write_scenario(
        """\
tests:
  voice-under-load:
    probe: {kind: udp, interval: 20 ms, duration: 1 s, dscp: EF}
    load: {protocol: tcp, congestion: cubic}
    settle: 0.2 s
    expect: {latency.p99: "<= 50 ms", latency.loss: "<= 5 %", mos: ">= 3.5"}
""",
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qos
        def test_ping_path(latency_probe, qos_check):
            result = latency_probe(kind="icmp", interval="20 ms", count=20)
            qos_check(result, latency_p50="<= 10 ms", latency_loss="<= 10 %")
        """
    )
    result = pytester.runpytest("--qos", "--qos-json=r.json", "--junitxml=j.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*voice-under-load*latency.p99*<= 50 ms*pass*",
            "*voice-under-load*load 1 throughput*(reported)*",
            "*test_ping_path*latency.p50*<= 10 ms*pass*",
        ]
    )
    results = {r["test"]: r for r in json.loads((pytester.path / "r.json").read_text())["results"]}
    voice = results["scenarios/path.yaml::voice-under-load"]
    assert voice["measurements"][0]["tool"] == "probe:udp"
    assert 0 < voice["metrics"]["latency.p99"] <= 0.05
    assert voice["loads"][0]["metrics"]["throughput"] > 0
    junit = ET.parse(pytester.path / "j.xml")
    names = {p.get("name") for p in junit.iter("property")}
    assert {"qos.latency.p99", "qos.mos", "qos.latency.jitter"} <= names


def test_port_pool_gives_each_concurrent_flow_its_own_running_server(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
) -> None:
    first, second = iperf3_server(), iperf3_server()
    flows = (
        "tests:\n  with-load:\n    traffic: {protocol: udp, bitrate: 5 Mbit/s, duration: 1 s}\n"
        "    load: {protocol: udp, bitrate: 2 Mbit/s}\n    settle: 0.2 s\n"
        "    expect: {throughput: '>= 4 Mbit/s'}\n"
    )
    write_scenario(f"target: {{host: 127.0.0.1, ports: [{first.port}, {second.port}]}}\n" + flows)
    pytester.runpytest("--qos").assert_outcomes(passed=1)
    write_scenario(f"target: {{host: 127.0.0.1, port: {first.port}}}\n" + flows)
    short = pytester.runpytest("--qos")
    short.assert_outcomes(errors=1)
    short.stdout.fnmatch_lines(
        [
            f"*target 127.0.0.1 has 1 iperf3 port(s) but this test runs 2 concurrent flows: give "
            f"'ports: {first.port}-{first.port + 1}'*"
        ]
    )
