"""Figures of the harness through the pytest plugin: overhead per test and throughput ratio.

Run: pytest benchmarks/bench_plugin.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from pytest_qos.hosts.endpoints import Local
from pytest_qos.measure.iperf3 import Iperf3

TESTS = 3


def _scenario(tests: int) -> str:
    return "tests:\n" + "".join(
        f"  udp-{n}:\n    traffic: {{protocol: udp, bitrate: 10 Mbit/s, duration: 1 s}}\n"
        f"    expect: {{loss: '<= 5 %'}}\n"
        for n in range(tests)
    )


BULK = "tests:\n  bulk:\n    traffic: {protocol: tcp, duration: 2 s}\n"


def _run_scenario(pytester: pytest.Pytester, text: str) -> dict[str, object]:
    path = pytester.path / "scenarios" / "bench.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    result = pytester.runpytest("--qos", "--qos-json=bench.json", "-q", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    document: dict[str, object] = json.loads((pytester.path / "bench.json").read_text())
    return document


def test_plugin_overhead_per_measurement(
    benchmark: pytest.FixtureRequest, pytester: pytest.Pytester
) -> None:
    """Marginal wall time of one more 1 s scenario test, beyond its 1 s (start-up excluded)."""

    def wall(tests: int) -> float:
        started = time.perf_counter()
        _run_scenario(pytester, _scenario(tests))
        return time.perf_counter() - started

    one: list[float] = []
    many: list[float] = []

    def pair() -> None:
        one.append(wall(1))
        many.append(wall(TESTS))

    benchmark.pedantic(pair, rounds=5, iterations=1)  # type: ignore[attr-defined]
    per_test = (statistics.median(many) - statistics.median(one)) / (TESTS - 1) - 1.0
    session = statistics.median(one) - 1.0 - per_test
    benchmark.extra_info["overhead_per_test_s"] = per_test  # type: ignore[attr-defined]
    benchmark.extra_info["session_start_s"] = session  # type: ignore[attr-defined]
    print(
        f"\noverhead per 1 s measurement through the plugin: {per_test * 1000:.0f} ms "
        f"(medians: 1 test {statistics.median(one):.3f} s, {TESTS} tests "
        f"{statistics.median(many):.3f} s; pytest session start-up {session * 1000:.0f} ms)"
    )


def test_plugin_vs_bare_iperf3_throughput(
    benchmark: pytest.FixtureRequest, pytester: pytest.Pytester
) -> None:
    """TCP goodput measured through a scenario vs the bare iperf3 command, alternated."""
    iperf3 = Iperf3()
    through_plugin: list[float] = []
    bare: list[float] = []

    def bare_run() -> float:
        with iperf3.server(Local(), "127.0.0.1") as server:
            argv = [iperf3.path, "-c", "127.0.0.1", "-p", str(server.port), "--json", "-t", "2"]
            output = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True)
        return float(json.loads(output.stdout)["end"]["sum_received"]["bits_per_second"])

    def pair() -> None:
        document = _run_scenario(pytester, BULK)
        results = document["results"]
        assert isinstance(results, list)
        through_plugin.append(float(results[0]["metrics"]["throughput"]))
        bare.append(bare_run())

    benchmark.pedantic(pair, rounds=5, iterations=1)  # type: ignore[attr-defined]
    ratio = statistics.median(through_plugin) / statistics.median(bare)
    benchmark.extra_info["ratio_plugin_to_bare"] = ratio  # type: ignore[attr-defined]
    print(
        f"\nTCP loopback goodput: plugin median {statistics.median(through_plugin) / 1e9:.2f} "
        f"Gbit/s, bare iperf3 median {statistics.median(bare) / 1e9:.2f} Gbit/s, ratio {ratio:.3f}"
    )
    assert Path(iperf3.path).exists()
