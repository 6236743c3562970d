"""Collecting large scenario sets: parsing one big file, and pytest collecting many files.

Run: pytest benchmarks/bench_collect.py --benchmark-only -p no:cacheprovider -s
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_qos.scenario.reader import load_scenario

TESTS_PER_FILE = 50
FILES = 40


def _scenario(tests: int) -> str:
    lines = ["description: generated", "defaults: {duration: 1 s}", "tests:"]
    for n in range(tests):
        lines += [
            f"  flow-{n}:",
            f"    traffic: {{protocol: udp, bitrate: {n + 1} Mbit/s, dscp: AF41}}",
            "    repeat: 3",
            "    expect:",
            f"      throughput: '{n * 0.9 + 0.5:.1f} Mbit/s .. {n + 1.5:.1f} Mbit/s'",
            "      loss: '<= 0.5 %'",
            "      jitter: '< 5 ms'",
        ]
    return "\n".join(lines) + "\n"


def test_parse_a_2000_test_scenario_file(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(_scenario(2000))
    scenario = benchmark(load_scenario, path)  # type: ignore[operator]
    assert len(scenario.tests) == 2000


def test_collect_2000_tests_in_40_files(
    benchmark: pytest.FixtureRequest, pytester: pytest.Pytester
) -> None:
    directory = pytester.path / "scenarios"
    directory.mkdir()
    for index in range(FILES):
        (directory / f"site-{index}.yaml").write_text(_scenario(TESTS_PER_FILE))
    walls: list[float] = []

    def collect() -> None:
        started = time.perf_counter()
        result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider")
        walls.append(time.perf_counter() - started)
        assert result.ret == 0
        result.stdout.fnmatch_lines([f"{FILES * TESTS_PER_FILE} tests collected*"])

    benchmark.pedantic(collect, rounds=3, iterations=1)  # type: ignore[attr-defined]
    print(
        f"\ncollecting {FILES * TESTS_PER_FILE} scenario tests in {FILES} files: "
        f"median {sorted(walls)[len(walls) // 2]:.2f} s (pytest start-up included)"
    )
