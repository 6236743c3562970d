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


class Needs(str, Enum):
    """What a test must run for a metric to be measured (checked when a scenario is read)."""

    FLOW = "an iperf3 flow"
    UDP = "a UDP flow"
    TCP = "a TCP flow"
    BIDIR = "a bidir flow"
    PROBE = "a latency probe"


@dataclass(frozen=True)
class Metric:
    """A named measured quantity, its unit kind, which direction is better, what measures it."""

    name: str
    kind: Kind
    better: Better
    definition: str
    needs: Needs = Needs.FLOW

    def format(self, value: float | None) -> str:
        """Humanise a base-unit value of this metric."""
        return format_value(value, self.kind)


_H, _L, _N = Better.HIGHER, Better.LOWER, Better.NEITHER
_UDP, _TCP, _BIDIR, _PROBE = Needs.UDP, Needs.TCP, Needs.BIDIR, Needs.PROBE

CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        # iperf3 flows
        Metric("throughput", Kind.RATE, _H, "receiver-side goodput (iperf3 end.sum_received)"),
        Metric("throughput.sent", Kind.RATE, _H, "sender-side rate (iperf3 end.sum_sent)"),
        Metric(
            "throughput.reverse",
            Kind.RATE,
            _H,
            "goodput of the reverse direction of a bidir test",
            needs=_BIDIR,
        ),
        Metric(
            "throughput.wire",
            Kind.RATE,
            _H,
            "goodput scaled to the Ethernet frames that carried it "
            "(IP, TCP/UDP and Ethernet headers counted; preamble and FCS not)",
        ),
        Metric(
            "retransmits", Kind.COUNT, _L, "TCP segments retransmitted by the sender", needs=_TCP
        ),
        Metric(
            "jitter",
            Kind.DURATION,
            _L,
            "iperf3 UDP jitter: RFC 3550 smoothed interarrival jitter estimate",
            needs=_UDP,
        ),
        Metric("loss", Kind.PERCENT, _L, "iperf3 UDP datagrams lost, percent of sent", needs=_UDP),
        Metric("packets", Kind.COUNT, _N, "iperf3 UDP datagrams sent", needs=_UDP),
        Metric("lost_packets", Kind.COUNT, _L, "iperf3 UDP datagrams lost", needs=_UDP),
        Metric("cpu.local", Kind.PERCENT, _L, "CPU used by the iperf3 client host"),
        Metric("cpu.remote", Kind.PERCENT, _L, "CPU used by the iperf3 server host"),
        # latency probes
        Metric("latency.min", Kind.DURATION, _L, "smallest round-trip time", needs=_PROBE),
        Metric("latency.mean", Kind.DURATION, _L, "mean round-trip time", needs=_PROBE),
        Metric(
            "latency.p50", Kind.DURATION, _L, "median round-trip time (raw samples)", needs=_PROBE
        ),
        Metric("latency.p90", Kind.DURATION, _L, "90th percentile round-trip time", needs=_PROBE),
        Metric("latency.p95", Kind.DURATION, _L, "95th percentile round-trip time", needs=_PROBE),
        Metric("latency.p99", Kind.DURATION, _L, "99th percentile round-trip time", needs=_PROBE),
        Metric("latency.max", Kind.DURATION, _L, "largest round-trip time", needs=_PROBE),
        Metric(
            "latency.stdev",
            Kind.DURATION,
            _L,
            "standard deviation of round-trip times",
            needs=_PROBE,
        ),
        Metric(
            "latency.jitter",
            Kind.DURATION,
            _L,
            "mean |IPDV| between consecutive replies (RFC 3393 style)",
            needs=_PROBE,
        ),
        Metric(
            "latency.loss",
            Kind.PERCENT,
            _L,
            "probes without a reply within the timeout",
            needs=_PROBE,
        ),
        Metric(
            "latency.reordered",
            Kind.PERCENT,
            _L,
            "replies arriving out of sequence order",
            needs=_PROBE,
        ),
        Metric(
            "mos",
            Kind.SCORE,
            _H,
            "ITU-T G.107 E-model MOS from one-way delay ≈ RTT/2, jitter and loss",
            needs=_PROBE,
        ),
    )
}


def split_name(name: str) -> tuple[str, str]:
    """('video', 'throughput') for a named flow's or probe's metric; ('', name) otherwise."""
    if name in CATALOGUE:
        return "", name
    prefix, _, rest = name.partition(".")
    if prefix and rest in CATALOGUE:
        return prefix, rest
    return "", name


def find(name: str) -> Metric | None:
    """The catalogue entry of `name` (a prefixed 'video.throughput' too), or None."""
    return CATALOGUE.get(split_name(name)[1])


def reserved_names() -> set[str]:
    """Words a flow or probe may not be named: a metric's name or its first part."""
    return {part for name in CATALOGUE for part in (name, name.split(".")[0])}


def lookup(name: str) -> Metric:
    """The metric called `name` ('video.throughput' too), or an error naming the closest one."""
    metric = find(name)
    if metric is not None:
        return metric
    prefix, _, rest = name.partition(".")
    # 'video.throughpt': a flow's metric misspelt; suggest the metric and keep the flow.
    close = difflib.get_close_matches(rest, CATALOGUE, n=1) if rest else []
    if close and prefix not in reserved_names():
        hint = f" — did you mean '{prefix}.{close[0]}'?"
    else:
        close = difflib.get_close_matches(name, CATALOGUE, n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
    known = ", ".join(CATALOGUE)
    raise InputError(f"unknown metric '{name}'{hint} (known: {known})")


def format_metric(name: str, value: float | None) -> str:
    """Humanise a metric's base-unit value using the catalogue (plain number if unknown)."""
    metric = find(name)
    return metric.format(value) if metric else format_value(value, Kind.SCORE)


def unmeasurable(
    name: str, protocol: str | None, direction: str | None, has_probe: bool
) -> str | None:
    """Why a test with this flow (protocol/direction, None: no flow) and probe cannot measure
    `name`, or None when it can; the reason says what to add."""
    metric = CATALOGUE.get(name)
    needs = metric.needs if metric else Needs.FLOW
    if needs is Needs.PROBE:
        if has_probe:
            return None
        return f"'{name}' is measured by a latency probe; add 'probe: {{kind: udp}}' to this test"
    if protocol is None:
        return f"'{name}' is measured by an iperf3 flow; add 'traffic:' to this test"
    if needs is Needs.UDP and protocol != "udp":
        return (
            f"'{name}' is measured for UDP only; this test's traffic is {protocol} "
            "(set 'protocol: udp')"
        )
    if needs is Needs.TCP and protocol != "tcp":
        return f"'{name}' is measured for TCP only; this test's traffic is {protocol}"
    if needs is Needs.BIDIR and direction != "bidir":
        return f"'{name}' needs 'direction: bidir'"
    return None
