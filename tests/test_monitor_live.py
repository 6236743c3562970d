"""Live figures while measuring (measure/live.py, probes/live.py): real probes, real iperf3."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from pytest_qos.hosts.endpoints import Local
from pytest_qos.hosts.ssh import MUX
from pytest_qos.hosts.target import Target, local_target
from pytest_qos.hosts.testbed import load_testbed
from pytest_qos.lab.sitelab import SiteLab, sites_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.live import LiveFigures, observer_for, observing
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.traffic import Traffic
from pytest_qos.probes import Probe, run_probe
from pytest_qos.probes.live import LiveWindows, ProbeInterval
from pytest_qos.scenario.sites import pair_target


@dataclass
class Recorder:
    """A live observer that keeps what it is handed, with when."""

    every: float
    seen: list[tuple[float, LiveFigures, dict[str, float]]] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)

    def interval(self, figures: LiveFigures) -> None:
        self.threads.add(threading.current_thread().name)
        self.seen.append((time.monotonic(), figures, figures.metrics()))


def test_windows_count_by_scheduled_send_and_close_after_the_timeout() -> None:
    handed: list[ProbeInterval] = []
    windows = LiveWindows(handed.append, "ef", every=1.0, interval=0.25, timeout=0.5)
    windows.begin(0)
    for seq in range(8):  # two windows of four probes
        windows.sent(seq)
    for seq in (0, 1, 2, 4, 5, 6, 7):  # probe 3 is lost
        windows.reply(seq, 1_000_000 * (seq + 1))
    windows.tick(1_400_000_000)  # window 0 waits for its last probe's timeout
    assert handed == []
    windows.tick(1_500_000_000)
    (first,) = handed
    assert (first.name, first.start, first.end, first.sent, first.received) == (
        "ef",
        0.0,
        1.0,
        4,
        3,
    )
    figures = first.metrics()
    assert figures["latency.loss"] == 25.0
    assert figures["latency.min"] == pytest.approx(0.001) and figures[
        "latency.max"
    ] == pytest.approx(0.003)
    windows.finish()
    assert [w.sent for w in handed] == [4, 4] and handed[1].metrics()["latency.loss"] == 0.0


def test_no_observer_or_a_short_measurement_samples_nothing() -> None:
    assert observer_for(100.0) is None
    with observing(Recorder(every=2.0)):
        assert observer_for(2.0) is None
        assert observer_for(2.5) is not None
    with observing(Recorder(every=0.0)):
        assert observer_for(100.0) is None


def test_a_running_udp_probe_hands_over_each_interval_while_it_runs() -> None:
    recorder = Recorder(every=1.0)
    probe = Probe.from_options({"interval": "20 ms", "duration": "4 s", "timeout": "200 ms"})
    with observing(recorder):
        started = time.monotonic()
        measurement = run_probe(probe, local_target(), "ef")
        ended = time.monotonic()
    intervals = [(at, figures, metrics) for at, figures, metrics in recorder.seen]
    assert len(intervals) >= 3
    assert all(figures.name == "ef" and figures.kind == "probe" for _, figures, _ in intervals)
    # Handed over while the probe ran, about a second apart, not all at its end.
    assert intervals[0][0] - started < 2.5 and ended - intervals[0][0] > 1.5
    assert sum(f.sent for _, f, _ in intervals) == measurement.details["sent"]  # type: ignore[attr-defined]
    assert all(
        0 < m["latency.p99"] < 0.2 and m["latency.loss"] == 0.0 for _, _, m in intervals[:-1]
    )


def test_a_tcp_probe_hands_over_intervals_too() -> None:
    recorder = Recorder(every=1.0)
    probe = Probe.from_options(
        {"kind": "tcp", "interval": "50 ms", "duration": "3 s", "timeout": "200 ms"}
    )
    with observing(recorder):
        run_probe(probe, local_target())
    assert len(recorder.seen) >= 2
    assert all("latency.p50" in metrics for _, _, metrics in recorder.seen)


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_a_running_flow_reports_its_receivers_throughput(direction: str) -> None:
    recorder = Recorder(every=1.0)
    traffic = Traffic(protocol="udp", bitrate=40e6, duration=4.0, direction=direction)
    with observing(recorder), Runner(Iperf3(), local_target()) as runner:
        result = runner.run("live-flow", traffic=traffic)
    rates = [
        metrics["throughput"] for _, figures, metrics in recorder.seen if figures.kind == "flow"
    ]
    assert len(rates) >= 2, recorder.seen
    # The receiver's bytes over each second: the flow's 40 Mbit/s (+ UDP payload framing).
    assert all(30e6 < rate < 50e6 for rate in rates[:-1]), rates
    assert 30e6 < result.metrics["throughput"] < 50e6
    assert recorder.threads == {"qos-live-flow"}  # never the measuring thread


class _ElsewhereLocal(Local):
    """This host, but treated as a place the probe client must be spawned at (like ssh)."""


def test_a_spawned_probe_client_hands_over_its_intervals_as_lines_while_it_runs() -> None:
    recorder = Recorder(every=1.0)
    probe = Probe.from_options({"interval": "20 ms", "duration": "4 s", "timeout": "200 ms"})
    base = local_target()
    target = Target(
        name="elsewhere", host=base.host, client=_ElsewhereLocal(), server=_ElsewhereLocal()
    )
    with observing(recorder):
        started = time.monotonic()
        measurement = run_probe(probe, target, "far")
        ended = time.monotonic()
    assert "--live" in measurement.command
    intervals = [(at, figures) for at, figures, _ in recorder.seen]
    assert len(intervals) >= 3 and all(f.name == "far" for _, f in intervals)
    assert ended - intervals[0][0] > 1.5  # handed over while the client still ran
    assert intervals[0][0] - started < 4.0
    assert sum(f.sent for _, f in intervals) == measurement.details["sent"]  # type: ignore[attr-defined]


@pytest.mark.root
def test_a_probe_between_sites_over_ssh_hands_over_intervals_while_it_runs() -> None:
    """The far host's client (the shipped script, over `ssh -tt`) prints each interval as a
    line; they arrive here a second apart, before the probe ends."""
    reason = sites_unavailable_reason()
    if reason:
        pytest.skip(f"site lab {reason}")
    lab = SiteLab.create(2)
    try:
        target = pair_target(load_testbed(lab.testbed), ("site1", "site2"))
        recorder = Recorder(every=1.0)
        probe = Probe.from_options({"interval": "20 ms", "duration": "4 s"})
        with observing(recorder):
            measurement = run_probe(probe, target, "wan")
            ended = time.monotonic()
        assert measurement.command[0] == "ssh" and "--live" in measurement.command[-1]
        arrivals = [at for at, figures, _ in recorder.seen if figures.name == "wan"]
        assert len(arrivals) >= 3, recorder.seen
        assert ended - arrivals[0] > 1.5  # the first came while the far client still ran
        assert sum(f.sent for _, f, _ in recorder.seen) == measurement.details["sent"]  # type: ignore[attr-defined]
    finally:
        MUX.close()
        lab.destroy()
