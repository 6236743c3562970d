"""Monitoring's cost: a push on the test's thread, a 1,000-test session with pushing, and a
60 s probe's send lateness with live figures every second.

Run with `pytest benchmarks/bench_monitor.py --benchmark-only -p no:cacheprovider -s`; each
figure is printed and stored in the benchmark's extra_info. Needs Debian's
prometheus-pushgateway (make test-install); a real one is started on a free loopback port.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from prometheus_servers import Server, running_pushgateway

from pytest_qos.hosts.target import local_target
from pytest_qos.live import observing
from pytest_qos.monitor.live import LivePusher
from pytest_qos.monitor.pusher import Gateway, Pusher
from pytest_qos.monitor.series import Identity, Record, result_samples
from pytest_qos.probes import Probe, run_probe
from pytest_qos.results import Check, Measurement, QosResult

SESSION_TESTS = 1000
SESSION_ROUNDS = 3
TESTS = f"""
import pytest
from pytest_qos.results import Measurement

@pytest.mark.qos
@pytest.mark.parametrize("n", range({SESSION_TESTS}))
def test_path(qos_check, n):
    measured = Measurement("iperf3", {{"throughput": 9.4e8 + n, "retransmits": 3.0}})
    qos_check(measured, throughput=">= 900 Mbit/s", retransmits="<= 10")
"""


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[Server]:
    with running_pushgateway(tmp_path) as server:
        yield server


def _result(n: int) -> QosResult:
    measured = Measurement("iperf3", {"throughput": 9.4e8, "retransmits": 3.0, "loss": 0.1})
    checks = [Check("throughput", ">= 900 Mbit/s", 9.4e8, True), Check("loss", "<= 1 %", 0.1, True)]
    return QosResult(f"scenarios/x.yaml::t{n}", [measured], checks, outcome="passed")


def test_push_cost_on_the_tests_thread(benchmark: Any, pushgateway: Server) -> None:
    """What a test's thread pays per push (identity, queueing); the push itself is elsewhere."""
    pusher = Pusher(Gateway(pushgateway.url, instance="bench"))
    results = [_result(n) for n in range(2000)]
    count = iter(range(2000))

    def on_the_tests_thread() -> None:
        n = next(count)
        record = Record(Identity("scenarios/x.yaml", f"t{n}"), (("throughput", ">= 900 Mbit/s"),))
        result = results[n]
        pusher.replace(
            record.identity.grouping(), lambda: result_samples(result, record.parsed_bounds())
        )

    benchmark.pedantic(on_the_tests_thread, rounds=500, iterations=1)
    started = time.perf_counter()
    pusher.close(timeout=60)
    drained = time.perf_counter() - started
    assert pusher.tally.failed == 0 and pusher.tally.dropped == 0
    median_ms = benchmark.stats.stats.median * 1e3
    benchmark.extra_info["median_ms_on_tests_thread"] = round(median_ms, 4)
    benchmark.extra_info["drain_after_500_s"] = round(drained, 3)
    print(f"\npush cost on the test's thread: median {median_ms:.4f} ms (goal <= 5 ms)")
    assert median_ms <= 5.0


def _session(directory: Path, extra: list[str]) -> tuple[float, str]:
    """(wall time, the run's line about pushes that did not arrive, '' if all did)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--qos", *extra],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
    )
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    warning = [line for line in done.stdout.splitlines() if "--qos-prometheus" in line]
    return took, warning[0] if warning else ""


# Debian's Pushgateway 1.5.1 checks each push against everything it holds; on this busy
# machine that costs it 50-300 ms a push (0.25 ms without the check): measured both ways.
GATEWAYS = {"checked": (), "unchecked": ("--push.disable-consistency-check",)}


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
def test_a_1000_test_session_with_pushing(benchmark: Any, tmp_path: Path, gateway: str) -> None:
    """Wall time of a 1,000-test session pushing every test vs the same without (ratio)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_many.py").write_text(TESTS)
    without: list[float] = []
    pushing: list[float] = []
    lost: list[str] = []
    with running_pushgateway(tmp_path, *GATEWAYS[gateway]) as pushgateway:

        def pair() -> None:
            without.append(_session(project, [])[0])
            took, warning = _session(project, [f"--qos-prometheus={pushgateway.url}"])
            pushing.append(took)
            lost.append(warning)

        benchmark.pedantic(pair, rounds=SESSION_ROUNDS, iterations=1)
    ratio = statistics.median(pushing) / statistics.median(without)
    benchmark.extra_info.update(
        without_s=[round(t, 2) for t in without],
        pushing_s=[round(t, 2) for t in pushing],
        ratio=round(ratio, 3),
        not_arrived=lost,
    )
    print(
        f"\n1000 tests, {gateway} gateway: without {statistics.median(without):.2f} s, pushing "
        f"{statistics.median(pushing):.2f} s, ratio {ratio:.3f} (goal <= 1.05); {lost}"
    )


LATENESS_ROUNDS = 3
LATENESS_KEYS = tuple(f"probe.send_late.{f}" for f in ("p50", "p99", "max", "over_1ms"))


def test_probe_send_lateness_with_live_pushes(benchmark: Any, pushgateway: Server) -> None:
    """A 60 s probe at 50 pps without and with live figures pushed every 1 s, alternating
    (3 rounds each): the medians of each send-lateness figure side by side."""
    # No send_late limit: the figures are what is measured here, never an error.
    probe = Probe.from_options({"interval": "20 ms", "duration": "60 s", "send_late": {}})
    rounds: dict[str, list[dict[str, float]]] = {"without": [], "live": []}
    pushes: list[dict[str, int]] = []

    def both() -> None:
        rounds["without"].append(run_probe(probe, local_target()).metrics)
        pusher = Pusher(Gateway(pushgateway.url, instance="bench"))
        live = LivePusher(pusher, 1.0)
        live.identity = Identity("bench.yaml", "lateness").grouping()
        with observing(live):
            rounds["live"].append(run_probe(probe, local_target(), "ef").metrics)
        pusher.close()
        pushes.append({"attempted": pusher.tally.attempted, "failed": pusher.tally.failed})

    benchmark.pedantic(both, rounds=LATENESS_ROUNDS, iterations=1)
    for name, metrics in rounds.items():
        medians = {key: statistics.median(m[key] for m in metrics) for key in LATENESS_KEYS}
        benchmark.extra_info[name] = medians
        benchmark.extra_info[f"{name}_rounds"] = [{k: m[k] for k in LATENESS_KEYS} for m in metrics]
        print(f"\n{name}: " + ", ".join(f"{key} {value:.6g}" for key, value in medians.items()))
    benchmark.extra_info["pushes"] = pushes
    print(f"live pushes per round: {pushes}")
    assert all(p["attempted"] >= 55 and p["failed"] == 0 for p in pushes)
