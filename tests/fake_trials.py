"""A fake path for the methods' unit tests: a shaper of a fixed capacity and a fixed RTT."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_qos.methods.frames import overhead
from pytest_qos.methods.trial import Flow, Observed
from pytest_qos.results import Measurement


class ShaperTrial:
    """A fake path: a shaper of `capacity` frame bit/s, a fixed RTT; records what it was asked."""

    def __init__(
        self, capacity: float, rtt: float = 0.002, sender_limit: float | None = None
    ) -> None:
        self.capacity = capacity
        self.rtt = rtt
        # A generator that cannot send more than this (frame bit/s per flow); None: no limit,
        # and the sender does not report what it sent (throughput.sent absent).
        self.sender_limit = sender_limit
        self.calls: list[list[Flow]] = []

    def __call__(self, flows: Sequence[Flow]) -> list[Observed]:
        self.calls.append(list(flows))
        share = self.capacity / max(1, len(flows))
        observed = []
        for flow in flows:
            traffic = flow.traffic
            assert traffic is not None and traffic.bitrate and traffic.length
            frame = traffic.length + overhead()
            offered = traffic.bitrate * frame / traffic.length
            if self.sender_limit is not None:
                offered = min(offered, self.sender_limit)  # what the sender really sends
            packets = round(offered * traffic.duration / (8 * frame))
            delivered = min(offered, share)
            lost = round(packets * (1 - delivered / offered))
            metrics = {
                "packets": float(packets),
                "lost_packets": float(lost),
                "loss": 100.0 * lost / packets,
            }
            if self.sender_limit is not None:
                metrics["throughput.sent"] = offered * traffic.length / frame  # payload bit/s
            flow_m = Measurement("iperf3", metrics, details={"duration": traffic.duration})
            queue = 0.01 if offered > share else 0.0
            probe = Measurement(
                "probe:udp",
                {
                    "latency.mean": self.rtt + queue,
                    "latency.min": self.rtt,
                    "latency.p99": self.rtt + 2 * queue,
                },
            )
            observed.append(Observed(flow_m, probe if flow.probe else None))
        return observed
