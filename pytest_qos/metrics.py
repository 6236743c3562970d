"""The metric catalogue: one table that parsing, judging, comparing and reporting all read."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum

from .errors import InputError
from .units import Kind, format_value


class Better(str, Enum):
    """Which way a metric improves; baselines use it to tell a regression from a gain."""

    HIGHER = "higher"
    LOWER = "lower"
    NEITHER = "neither"


@dataclass(frozen=True)
class Metric:
    """A named measured quantity, its unit kind and which direction is better."""

    name: str
    kind: Kind
    better: Better
    definition: str

    def format(self, value: float | None) -> str:
        """Humanise a base-unit value of this metric."""
        return format_value(value, self.kind)


_H, _L, _N = Better.HIGHER, Better.LOWER, Better.NEITHER

CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        # iperf3 flows
        Metric("throughput", Kind.RATE, _H, "receiver-side goodput (iperf3 end.sum_received)"),
        Metric("throughput.sent", Kind.RATE, _H, "sender-side rate (iperf3 end.sum_sent)"),
        Metric(
            "throughput.reverse", Kind.RATE, _H, "goodput of the reverse direction of a bidir test"
        ),
        Metric(
            "throughput.wire",
            Kind.RATE,
            _H,
            "goodput scaled to the Ethernet frames that carried it "
            "(IP, TCP/UDP and Ethernet headers counted; preamble and FCS not)",
        ),
        Metric("retransmits", Kind.COUNT, _L, "TCP segments retransmitted by the sender"),
        Metric(
            "jitter",
            Kind.DURATION,
            _L,
            "iperf3 UDP jitter: RFC 3550 smoothed interarrival jitter estimate",
        ),
        Metric("loss", Kind.PERCENT, _L, "iperf3 UDP datagrams lost, percent of sent"),
        Metric("packets", Kind.COUNT, _N, "iperf3 UDP datagrams sent"),
        Metric("lost_packets", Kind.COUNT, _L, "iperf3 UDP datagrams lost"),
        Metric("cpu.local", Kind.PERCENT, _L, "CPU used by the iperf3 client host"),
        Metric("cpu.remote", Kind.PERCENT, _L, "CPU used by the iperf3 server host"),
        # latency probes
        Metric("latency.min", Kind.DURATION, _L, "smallest round-trip time"),
        Metric("latency.mean", Kind.DURATION, _L, "mean round-trip time"),
        Metric("latency.p50", Kind.DURATION, _L, "median round-trip time (raw samples)"),
        Metric("latency.p90", Kind.DURATION, _L, "90th percentile round-trip time"),
        Metric("latency.p95", Kind.DURATION, _L, "95th percentile round-trip time"),
        Metric("latency.p99", Kind.DURATION, _L, "99th percentile round-trip time"),
        Metric("latency.max", Kind.DURATION, _L, "largest round-trip time"),
        Metric("latency.stdev", Kind.DURATION, _L, "standard deviation of round-trip times"),
        Metric(
            "latency.jitter",
            Kind.DURATION,
            _L,
            "mean |IPDV| between consecutive replies (RFC 3393 style)",
        ),
        Metric("latency.loss", Kind.PERCENT, _L, "probes without a reply within the timeout"),
        Metric("latency.reordered", Kind.PERCENT, _L, "replies arriving out of sequence order"),
        Metric(
            "mos",
            Kind.SCORE,
            _H,
            "ITU-T G.107 E-model MOS from one-way delay ≈ RTT/2, jitter and loss",
        ),
    )
}


def lookup(name: str) -> Metric:
    """The metric called `name`, or an error naming the closest known one."""
    try:
        return CATALOGUE[name]
    except KeyError:
        close = difflib.get_close_matches(name, CATALOGUE, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        known = ", ".join(CATALOGUE)
        raise InputError(f"unknown metric '{name}'{hint} (known: {known})") from None


def format_metric(name: str, value: float | None) -> str:
    """Humanise a metric's base-unit value using the catalogue (plain number if unknown)."""
    metric = CATALOGUE.get(name)
    return metric.format(value) if metric else format_value(value, Kind.SCORE)
