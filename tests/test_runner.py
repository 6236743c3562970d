"""The runner on loopback: background load lasts as long as what it loads."""

from __future__ import annotations

from pytest_qos.iperf3 import Iperf3
from pytest_qos.probes import Probe
from pytest_qos.runner import Runner
from pytest_qos.target import local_target
from pytest_qos.traffic import Traffic


def test_load_covers_a_probe_longer_than_its_own_duration() -> None:
    probe = Probe.from_options({"kind": "udp", "interval": "20 ms", "duration": "3 s"})
    load = Traffic.from_options({"protocol": "udp", "bitrate": "1 Mbit/s", "duration": "1 s"})
    with Runner(Iperf3(), local_target()) as runner:
        result = runner.run("t", probe=probe, load=(load,), settle=0.2)
    (measured_load,) = result.loads
    # settle + the probe's 3 s (+ its reply timeout) + the tail: never shorter than the probe.
    assert measured_load.details["duration"] >= 0.2 + probe.send_time + probe.timeout
    assert result.metrics["latency.loss"] == 0.0
