"""Probe figures: schedule at 1000/s, CPU at 50/s, agreement with ping, soak statistics, start-up.

Run with `pytest benchmarks/bench_probes.py --benchmark-only -p no:cacheprovider -s`; each figure
is printed and stored in the benchmark's extra_info.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_qos.hosts.endpoints import Local, Process, wait_until
from pytest_qos.hosts.target import Target, local_target, remote_target
from pytest_qos.probes import Probe, run_probe, udp
from pytest_qos.probes.clock import ScheduledClient, wait_readable
from pytest_qos.probes.run import responder_command
from pytest_qos.probes.stats import Reply, record_metrics, replies_record
from pytest_qos.results import Measurement

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


# Issue 21 goal 3: which send-loop technique keeps 1000 probes/s on time. Each technique runs
# SCHEDULE_RUNS times, interleaved with the others, in one session (a ratio to today's main,
# "in-process, normal priority"). "both cores busy" adds two CPU-bound processes at normal
# priority on top of whatever else the machine runs.
SCHEDULE_SECONDS = 5
SCHEDULE_RUNS = int(os.environ.get("QOS_BENCH_SCHEDULE_RUNS", "3"))
QUIET_LIMIT, BUSY_LIMIT = 1.0, 2.0  # % of sends over 1 ms late
_DEDICATED = (
    "import sys\n"
    "from pytest_qos.probes.clock import ScheduledClient\n"
    "ScheduledClient.realtime = sys.argv[1] == 'realtime'\n"
    "from pytest_qos.probes.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def _sleep_until(sock: Any, until_ns: int) -> bool:
    """Sleep to the deadline (time.sleep: clock_nanosleep, TIMER_ABSTIME), then read."""
    remaining = (until_ns - time.monotonic_ns()) / 1e9
    if remaining > 0:
        time.sleep(remaining)
    return bool(select.select([sock], [], [], 0)[0])


def _in_process(target: Target, realtime: bool, absolute: bool = False) -> dict[str, float]:
    ScheduledClient.realtime = realtime
    if absolute:  # the loop's waits become sleeps to the next send, replies read after it
        udp.wait_readable = _sleep_until
    try:
        probe = Probe.from_options(
            {"interval": "1 ms", "duration": f"{SCHEDULE_SECONDS} s", "send_late": {}}
        )
        metrics = run_probe(probe, target).metrics
    finally:
        ScheduledClient.realtime = True
        udp.wait_readable = wait_readable
    return {
        "over_1ms": metrics["probe.send_late.over_1ms"],
        "p99_ms": metrics["probe.send_late.p99"] * 1e3,
    }


def _dedicated(target: Target, realtime: bool) -> dict[str, float]:
    """The client in a process of its own (no GIL shared with pytest)."""
    argv = [sys.executable, "-c", _DEDICATED, "realtime" if realtime else "normal", "probe"]
    argv += ["--host", target.host, "--port", str(target.responder_port)]
    argv += ["--interval", "0.001", "--count", str(SCHEDULE_SECONDS * 1000)]
    record = json.loads(Local().run(argv, timeout=SCHEDULE_SECONDS + 30).stdout)
    return {"over_1ms": record["send_late_over_1ms"], "p99_ms": record["send_late_p99"] * 1e3}


TECHNIQUES: dict[str, Callable[[Target], dict[str, float]]] = {
    "in-process, normal priority (main)": lambda target: _in_process(target, False),
    "in-process, normal priority, absolute-time sleeps": lambda target: _in_process(
        target, False, absolute=True
    ),
    "in-process, real-time priority": lambda target: _in_process(target, True),
    "dedicated process, normal priority": lambda target: _dedicated(target, False),
    "dedicated process, real-time priority": lambda target: _dedicated(target, True),
}


@contextlib.contextmanager
def _busy_cores(count: int) -> Iterator[None]:
    hogs = [Local().spawn([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.stop(grace=0.1)


@pytest.mark.parametrize("machine", ["as it is", "both cores busy"])
def test_schedule_at_1000_per_second(
    benchmark: Any, responder: tuple[Process, Target], machine: str
) -> None:
    """At 1000 probes/s for 5 s: % of sends over 1 ms late and p99 lateness, per technique."""
    _, target = responder
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in TECHNIQUES}
    loads: list[float] = []

    def measure() -> None:
        with _busy_cores(2 if machine == "both cores busy" else 0):
            for _ in range(SCHEDULE_RUNS):
                for name, technique in TECHNIQUES.items():
                    loads.append(os.getloadavg()[0])
                    runs[name].append(technique(target))

    _once(benchmark, measure)
    print(
        f"\n1000/s for {SCHEDULE_SECONDS} s, machine {machine}, load average "
        f"{min(loads):.1f}-{max(loads):.1f} (2 cores, shared):"
    )
    medians = {}
    for name, results in runs.items():
        over = statistics.median(r["over_1ms"] for r in results)
        p99 = statistics.median(r["p99_ms"] for r in results)
        medians[name] = over
        benchmark.extra_info[name] = {"over_1ms_percent": over, "p99_ms": p99, "runs": results}
        print(
            f"  {name:50s} over 1 ms late: median {over:6.2f} %  p99 {p99:7.3f} ms  "
            f"runs {[round(r['over_1ms'], 2) for r in results]}"
        )
    benchmark.extra_info["load_average"] = [min(loads), max(loads)]
    limit = BUSY_LIMIT if machine == "both cores busy" else QUIET_LIMIT
    assert medians["in-process, real-time priority"] <= limit


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
    """The figures of one minute at 1000/s held in memory: raw-sample percentiles stay cheap."""
    generator = random.Random(1)
    replies = [Reply(seq, generator.lognormvariate(-9, 0.5)) for seq in range(60_000)]
    order = [reply.seq for reply in replies]
    metrics = benchmark(lambda: record_metrics(60_000, *replies_record(replies, order)))
    assert metrics["latency.loss"] == 0.0


SOAK_SAMPLES = int(os.environ.get("QOS_BENCH_SAMPLES", "10000000"))
SOAK_SECONDS = float(os.environ.get("QOS_BENCH_SOAK_S", "600"))


_FEED = """
import json, random, resource, sys, time
from pytest_qos.probes.hdr import Recorder
samples = int(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
generator = random.Random(7)
recorder = Recorder()
started = time.perf_counter()
for seq in range(samples):  # ~50 µs median, heavy tail: log-normal in ns
    recorder.add(seq, int(generator.lognormvariate(10.8, 0.6)))
fed = time.perf_counter() - started
started = time.perf_counter()
summary = recorder.summary()
summarised = time.perf_counter() - started
growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
summary.pop("histogram")
print(json.dumps({"fed": fed, "summarised": summarised, "growth_mib": growth, **summary}))
"""


def test_ten_million_samples_in_constant_memory(benchmark: Any) -> None:
    """A synthetic feed of 10 M RTTs: memory growth, feed time, summary time, percentile error."""
    import subprocess

    from pytest_qos.probes.stats import PERCENTILES

    def feed() -> dict[str, Any]:
        # A fresh interpreter, so its peak RSS is the recorder's alone.
        completed = subprocess.run(
            [sys.executable, "-c", _FEED, str(SOAK_SAMPLES)],
            capture_output=True,
            text=True,
            check=True,
            timeout=3600,
        )
        result: dict[str, Any] = json.loads(completed.stdout)
        return result

    summary = _once(benchmark, feed)
    # The exact percentiles of the same feed, for the error (a second pass, not measured).
    generator = random.Random(7)
    exact = sorted(int(generator.lognormvariate(10.8, 0.6)) for _ in range(SOAK_SAMPLES))
    errors = {}
    for p in PERCENTILES:
        truth = exact[max(1, -(-p * SOAK_SAMPLES // 100)) - 1]
        errors[p] = abs(summary[f"p{p}"] - truth) / truth
    figures = {
        "samples": SOAK_SAMPLES,
        "rss_growth_mib": summary["growth_mib"],
        "feed_s": summary["fed"],
        "feed_us_per_sample": summary["fed"] / SOAK_SAMPLES * 1e6,
        "summary_s": summary["summarised"],
        "max_relative_error_percent": 100 * max(errors.values()),
    }
    benchmark.extra_info.update(figures)
    print(f"\n{SOAK_SAMPLES} samples: {figures}")
    assert not summary["exact"]
    assert max(errors.values()) <= 0.001
    assert summary["growth_mib"] < 64
    assert summary["summarised"] < 1.0


class _SpawnsTheClient(Local):
    """This machine, but run_probe does not recognise it: the client is spawned, as before."""


def test_probe_start_up_in_process_vs_spawned(benchmark: Any) -> None:
    """Wall time of a 1-probe run: the client in-process vs `python -m pytest_qos probe`."""

    def measure() -> dict[str, float]:
        times: dict[str, list[float]] = {"in_process": [], "spawned": []}
        probe = Probe.from_options({"interval": "1 ms", "count": 1})
        for _ in range(5):  # interleaved so both see the same machine load
            for name, client in (("in_process", Local()), ("spawned", _SpawnsTheClient())):
                target = Target(name="local", host="127.0.0.1", client=client)
                started = time.perf_counter()
                run_probe(probe, target)
                times[name].append(time.perf_counter() - started)
        return {name: statistics.median(values) for name, values in times.items()}

    figures = _once(benchmark, measure)
    benchmark.extra_info.update(figures)
    print(
        f"\n1-probe run, median of 5: in-process {figures['in_process'] * 1e3:.0f} ms, "
        f"spawned client {figures['spawned'] * 1e3:.0f} ms (both include spawning the responder)"
    )
    assert figures["in_process"] < figures["spawned"]


def test_soak_at_1000_per_second(benchmark: Any, responder: tuple[Process, Target]) -> None:
    """A real 10-minute probe at 1000/s on loopback (QOS_BENCH_SOAK_S): schedule and memory."""
    import resource

    _, target = responder
    probe = Probe.from_options({"interval": "1 ms", "duration": f"{SOAK_SECONDS} s"})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measurement: Measurement = _once(benchmark, lambda: run_probe(probe, target))
    details = measurement.details
    figures = {key: details[key] for key in ("sent", "received", "percentiles")}
    figures["send_late_p99"] = measurement.metrics["probe.send_late.p99"]
    figures["send_late_over_1ms"] = measurement.metrics["probe.send_late.over_1ms"]
    figures["maxrss_growth_mib"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    ) / 1024
    figures["series_points"] = len(measurement.series["rtt"])
    benchmark.extra_info.update(figures)
    print(f"\n1000/s for {SOAK_SECONDS:g} s: {figures}")
    assert figures["send_late_over_1ms"] <= 1.0
