"""Probe figures: schedule keeping at 1000/s, CPU cost at 50/s, agreement with ping, stats speed.

Run with `pytest benchmarks/bench_probes.py --benchmark-only -p no:cacheprovider -s`; each figure
is printed and stored in the benchmark's extra_info.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_qos.endpoints import Local, Process, wait_until
from pytest_qos.probes import Probe, run_probe
from pytest_qos.probes.run import responder_command
from pytest_qos.probes.stats import Reply, latency_metrics
from pytest_qos.results import Measurement
from pytest_qos.target import Target, local_target, remote_target

AGREEMENT_S = 50e-6
AGREEMENT_FRACTION = 0.05


@pytest.fixture
def responder() -> Iterator[tuple[Process, Target]]:
    """A responder we started ourselves, so its CPU time can be read from /proc."""
    port = Local().free_port("127.0.0.1", ("udp", "tcp"))
    process = Local().spawn(responder_command("127.0.0.1", port))
    try:
        assert wait_until(lambda: Local().is_listening(port, "udp", process), 5.0)
        yield process, remote_target("127.0.0.1", [], responder_port=port)
    finally:
        process.stop()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _once(benchmark: Any, function: Any) -> Any:
    return benchmark.pedantic(function, rounds=1, iterations=1, warmup_rounds=0)


def test_schedule_at_1000_per_second(benchmark: Any, responder: tuple[Process, Target]) -> None:
    """At 1000 probes/s for 5 s, at least 99 % of sends leave within 1 ms of their schedule."""
    _, target = responder
    probe = Probe.from_options({"interval": "1 ms", "duration": "5 s"})
    measurement: Measurement = _once(benchmark, lambda: run_probe(probe, target))
    details = measurement.details
    figures = {
        key: details[key]
        for key in ("send_late_p50", "send_late_p99", "send_late_max", "send_late_over_1ms")
    }
    benchmark.extra_info.update(figures)
    print(f"\n1000/s for 5 s: {figures}")
    assert details["sent"] == 5000
    assert details["send_late_over_1ms"] <= 1.0


def test_cpu_cost_at_50_per_second(benchmark: Any, responder: tuple[Process, Target]) -> None:
    """At 50 probes/s the client and the responder together use under 5 % of one core."""
    process, target = responder
    probe = Probe.from_options({"interval": "20 ms", "duration": "5 s"})
    before = _cpu_seconds(process.pid)
    measurement: Measurement = _once(benchmark, lambda: run_probe(probe, target))
    responder_cpu = _cpu_seconds(process.pid) - before
    client_cpu = float(measurement.details["cpu_s"])
    share = 100 * (client_cpu + responder_cpu) / probe.send_time
    benchmark.extra_info.update(
        {"client_cpu_s": client_cpu, "responder_cpu_s": responder_cpu, "core_percent": share}
    )
    print(
        f"\n50/s for 5 s: client {client_cpu:.3f} s, responder {responder_cpu:.3f} s CPU, "
        f"{share:.2f} % of a core (excluding ~0.1 s of interpreter start-up)"
    )
    assert share < 5.0


@pytest.mark.parametrize(("interval", "duration"), [("20 ms", "4 s"), ("1 ms", "2 s")])
def test_udp_median_agrees_with_ping(benchmark: Any, interval: str, duration: str) -> None:
    """Median RTT of the udp probe vs ping on idle loopback: within 50 µs or 5 %, interleaved."""
    target = local_target()

    def measure() -> tuple[list[float], list[float]]:
        udp: list[float] = []
        icmp: list[float] = []
        for _ in range(3):  # interleaved so both see the same machine load
            for kind, medians in (("udp", udp), ("icmp", icmp)):
                options = {"kind": kind, "interval": interval, "duration": duration}
                medians.append(
                    run_probe(Probe.from_options(options), target).metrics["latency.p50"]
                )
        return udp, icmp

    udp, icmp = _once(benchmark, measure)
    udp_median, icmp_median = statistics.median(udp), statistics.median(icmp)
    difference = udp_median - icmp_median
    benchmark.extra_info.update({"udp_p50_s": udp, "ping_p50_s": icmp, "difference_s": difference})
    print(
        f"\n{interval}: udp p50 {[round(v * 1e6, 1) for v in udp]} µs, "
        f"ping p50 {[round(v * 1e6, 1) for v in icmp]} µs, median difference "
        f"{difference * 1e6:+.1f} µs"
    )
    assert abs(difference) <= max(AGREEMENT_S, AGREEMENT_FRACTION * icmp_median)


def test_statistics_of_60000_samples(benchmark: Any) -> None:
    """latency_metrics over one minute at 1000/s: raw-sample percentiles stay cheap."""
    generator = random.Random(1)
    replies = [Reply(seq, generator.lognormvariate(-9, 0.5)) for seq in range(60_000)]
    order = [reply.seq for reply in replies]
    metrics = benchmark(latency_metrics, 60_000, replies, order)
    assert metrics["latency.loss"] == 0.0
