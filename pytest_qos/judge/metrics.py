"""The metric catalogue: one table that parsing, judging, comparing and reporting all read.

Also the names of the lab router's counters (`router.…`), which carry qdisc and class ids.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from dataclasses import dataclass
from enum import Enum

from ..errors import InputError
from ..units import Kind, format_value
from .counternames import ANY_ROUTER, DEFINITIONS, KINDS, SPANS, parse_name


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
    METHOD = "a standard method (rfc2544, rfc6349, y1564, rpm)"


@dataclass(frozen=True)
class Metric:
    """A named measured quantity, its unit kind, which direction is better, what measures it."""

    name: str
    kind: Kind
    better: Better
    definition: str
    needs: Needs = Needs.FLOW
    # The values it can take; None: from its kind (a percent 0 .. 100, anything else 0 .. ∞).
    span: tuple[float, float] | None = None
    # False: a figure about the measurement itself (the probe's own schedule), not the path;
    # compared with a baseline only when a bound or threshold names it.
    of_path: bool = True

    @property
    def value_range(self) -> tuple[float, float]:
        """(lowest, highest) value the metric can take."""
        if self.span is not None:
            return self.span
        return (0.0, 100.0) if self.kind is Kind.PERCENT else (0.0, math.inf)

    def admits(self, value: float) -> bool:
        """True when `value` is one the metric can take."""
        low, high = self.value_range
        return low <= value <= high

    def out_of_range(self, value: float) -> str | None:
        """Why a limit of `value` is no bound on this metric (outside what it can take)."""
        if self.admits(value):
            return None
        low, high = self.value_range
        span = f"from {self.format(low)}" + (
            f" to {self.format(high)}" if high < math.inf else " up"
        )
        return f"{self.format(value)} is outside what {self.name} can be ({span})"

    def format(self, value: float | None) -> str:
        """Humanise a base-unit value of this metric."""
        return format_value(value, self.kind)


_H, _L, _N = Better.HIGHER, Better.LOWER, Better.NEITHER
_UDP, _TCP, _BIDIR, _PROBE = Needs.UDP, Needs.TCP, Needs.BIDIR, Needs.PROBE
_METHOD = Needs.METHOD
_UP = (0.0, math.inf)  # a percent that can exceed 100
_DSCP = (0.0, 63.0)
# RFC 2679 §5.1: a percentile of a stream with lost packets counts them as infinitely large.
_OVER_SENT = " over every probe sent, a lost one infinitely late ('lost' past the delivered share)"

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
        Metric(
            "loss",
            Kind.PERCENT,
            _L,
            "UDP datagrams lost over the counted window (after omit), percent of those the "
            "receiver expected, from the receiver's per-interval counts",
            needs=_UDP,
        ),
        Metric(
            "packets",
            Kind.COUNT,
            _N,
            "UDP datagrams the receiver expected (counted window)",
            needs=_UDP,
        ),
        Metric("lost_packets", Kind.COUNT, _L, "UDP datagrams lost (counted window)", needs=_UDP),
        # iperf3's CPU figures are percent of one core: several busy threads exceed 100.
        Metric("cpu.local", Kind.PERCENT, _L, "CPU used by the iperf3 client host", span=_UP),
        Metric("cpu.remote", Kind.PERCENT, _L, "CPU used by the iperf3 server host", span=_UP),
        # latency probes
        Metric("latency.min", Kind.DURATION, _L, "smallest round-trip time", needs=_PROBE),
        Metric("latency.mean", Kind.DURATION, _L, "mean round-trip time", needs=_PROBE),
        Metric(
            "latency.p50",
            Kind.DURATION,
            _L,
            f"median round-trip time{_OVER_SENT}",
            needs=_PROBE,
        ),
        *(
            Metric(
                f"latency.p{p}",
                Kind.DURATION,
                _L,
                f"{p}th percentile round-trip time{_OVER_SENT}",
                needs=_PROBE,
            )
            for p in (90, 95, 99)
        ),
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
            span=(1.0, 4.5),  # G.107 Annex B's scale for the E-model
        ),
        # the probe's own schedule: how late its sends left (icmp: estimated from ping's output)
        *(
            Metric(
                f"probe.send_late.{figure}",
                Kind.DURATION,
                _L,
                f"{meaning} of how late the probe's sends left after their scheduled time",
                needs=_PROBE,
                of_path=False,
            )
            for figure, meaning in (("p50", "median"), ("p99", "99th percentile"), ("max", "most"))
        ),
        Metric(
            "probe.send_late.over_1ms",
            Kind.PERCENT,
            _L,
            "probe sends that left more than 1 ms after their scheduled time",
            needs=_PROBE,
            of_path=False,
        ),
        # standard methods (docs/methods.md)
        Metric(
            "rfc2544.throughput",
            Kind.RATE,
            _H,
            "RFC 2544 throughput: highest offered rate of Ethernet frames (FCS counted) "
            "without loss beyond max_loss; .FRAME per frame size, unsuffixed the lowest",
            needs=_METHOD,
        ),
        Metric(
            "rfc2544.frame_rate",
            Kind.COUNT,
            _H,
            "RFC 2544 throughput in frames per second; .FRAME per frame size",
            needs=_METHOD,
        ),
        Metric(
            "tcp.transfer_time_ratio",
            Kind.SCORE,
            _L,
            "RFC 6349 actual / ideal TCP transfer time (1.0 is ideal)",
            needs=_METHOD,
        ),
        Metric(
            "tcp.efficiency",
            Kind.PERCENT,
            _H,
            "RFC 6349 TCP efficiency: bytes not retransmitted",
            needs=_METHOD,
        ),
        Metric(
            "tcp.buffer_delay",
            Kind.PERCENT,
            _L,
            "RFC 6349 buffer delay: average RTT during the transfer above the idle baseline",
            needs=_METHOD,
            span=_UP,  # a queue can add many times the idle RTT
        ),
        Metric(
            "tcp.baseline_rtt",
            Kind.DURATION,
            _L,
            "RFC 6349 baseline RTT: idle minimum",
            needs=_METHOD,
        ),
        Metric(
            "tcp.rtt", Kind.DURATION, _L, "RFC 6349 average RTT during the transfer", needs=_METHOD
        ),
        Metric(
            "tcp.bottleneck", Kind.RATE, _H, "RFC 6349 bottleneck bandwidth (frames)", needs=_METHOD
        ),
        Metric(
            "tcp.bdp",
            Kind.SIZE,
            _N,
            "RFC 6349 bandwidth-delay product: bottleneck × RTT",
            needs=_METHOD,
        ),
        Metric(
            "tcp.max_throughput",
            Kind.RATE,
            _H,
            "RFC 6349 maximum achievable TCP throughput",
            needs=_METHOD,
        ),
        Metric(
            "y1564.ir",
            Kind.RATE,
            _H,
            "Y.1564 information rate: delivered frame bit/s",
            needs=_METHOD,
        ),
        Metric("y1564.flr", Kind.PERCENT, _L, "Y.1564 frame loss ratio", needs=_METHOD),
        Metric(
            "y1564.ftd",
            Kind.DURATION,
            _L,
            "Y.1564 frame transfer delay (round trip, mean)",
            needs=_METHOD,
        ),
        Metric(
            "y1564.fdv",
            Kind.DURATION,
            _L,
            "Y.1564 frame delay variation (RTT p99 - minimum)",
            needs=_METHOD,
        ),
        # responsiveness under working conditions (draft-ietf-ippm-responsiveness; rpm:)
        Metric(
            "rpm",
            Kind.COUNT,
            _H,
            "responsiveness in round trips per minute: the mean of rpm.foreign and rpm.loaded "
            "once goodput and responsiveness were stable",
            needs=_METHOD,
        ),
        Metric(
            "rpm.foreign",
            Kind.COUNT,
            _H,
            "60 s / the foreign RTT: mean of the trimmed means of new TCP connections' "
            "handshake times and UDP (STAMP) round trips beside the load",
            needs=_METHOD,
        ),
        Metric(
            "rpm.loaded",
            Kind.COUNT,
            _H,
            "60 s / the trimmed mean of the load-generating connections' own RTT (TCP_INFO)",
            needs=_METHOD,
        ),
        Metric(
            "rpm.goodput",
            Kind.RATE,
            _H,
            "goodput of the load-generating connections (moving average, bytes acknowledged)",
            needs=_METHOD,
        ),
        Metric(
            "rpm.connections",
            Kind.COUNT,
            _N,
            "load-generating connections open when the figures were taken",
            needs=_METHOD,
        ),
        Metric(
            "latency.idle",
            Kind.DURATION,
            _L,
            "RTT before any load: mean of the trimmed means of TCP handshakes and UDP round trips",
            needs=_METHOD,
        ),
        Metric(
            "latency.loaded",
            Kind.DURATION,
            _L,
            "RTT under working conditions: 60 s / rpm",
            needs=_METHOD,
        ),
        Metric(
            "latency.increase",
            Kind.DURATION,
            _L,
            "latency.loaded - latency.idle: what the load added (the bufferbloat)",
            needs=_METHOD,
        ),
        Metric(
            "bufferbloat.grade",
            Kind.GRADE,
            _H,
            "A+ .. F from latency.increase: < 5 ms A+, < 30 ms A, < 60 ms B, < 200 ms C, "
            "< 400 ms D, else F (the DSLReports grades)",
            needs=_METHOD,
        ),
        Metric("y1541.iptd", Kind.DURATION, _L, "Y.1541 IPTD estimate: mean RTT / 2", needs=_PROBE),
        Metric(
            "y1541.ipdv",
            Kind.DURATION,
            _L,
            "Y.1541 IPDV estimate: RTT 99.9th percentile - RTT minimum",
            needs=_PROBE,
        ),
        Metric(
            "y1541.iplr",
            Kind.PERCENT,
            _L,
            "Y.1541 IPLR estimate: round-trip probe loss",
            needs=_PROBE,
        ),
        # one-way delay, per-direction loss and DSCP at the far end (udp and stamp probes)
        *(
            Metric(
                f"latency.{way}.{figure}",
                Kind.DURATION,
                _L,
                f"{meaning} one-way delay {direction} (STAMP timestamps; same or synced clocks)"
                + (_OVER_SENT if figure.startswith("p") else ""),
                needs=_PROBE,
            )
            for way, direction in (("up", "client → far end"), ("down", "far end → client"))
            for figure, meaning in (
                ("min", "smallest"),
                ("mean", "mean"),
                ("p50", "median"),
                ("p90", "90th percentile"),
                ("p95", "95th percentile"),
                ("p99", "99th percentile"),
                ("max", "largest"),
                ("stdev", "standard deviation of the"),
                ("jitter", "mean |IPDV| of the"),
            )
        ),
        Metric(
            "latency.up.loss",
            Kind.PERCENT,
            _L,
            "probes sent that never reached the reflector (its stateful count)",
            needs=_PROBE,
        ),
        Metric(
            "latency.down.loss",
            Kind.PERCENT,
            _L,
            "probes the reflector answered whose reply never came back",
            needs=_PROBE,
        ),
        Metric(
            "dscp.received",
            Kind.COUNT,
            _N,
            "the DSCP (0-63) the far end saw most on the probes (RFC 8972 Class-of-Service TLV)",
            needs=_PROBE,
            span=_DSCP,
        ),
        Metric(
            "dscp.changed",
            Kind.PERCENT,
            _L,
            "probes whose DSCP at the far end differed from the DSCP sent",
            needs=_PROBE,
        ),
        Metric(
            "dscp.return.received",
            Kind.COUNT,
            _N,
            "the DSCP (0-63) seen most on the replies arriving back",
            needs=_PROBE,
            span=_DSCP,
        ),
        Metric(
            "dscp.return.changed",
            Kind.PERCENT,
            _L,
            "replies whose DSCP differed from the one the probe asked the reflector to use",
            needs=_PROBE,
        ),
        # the hops probe (docs/probes.md): one family per hop N, named hop.N.…
        Metric(
            "hops",
            Kind.COUNT,
            _N,
            "hops to the destination: the TTL at which it answered (hops probe)",
            needs=_PROBE,
        ),
        Metric(
            "hop.N.latency.p50",
            Kind.DURATION,
            _L,
            "median round trip to hop N: its ICMP answers to the probes that expired there",
            needs=_PROBE,
        ),
        Metric(
            "hop.N.latency.p99",
            Kind.DURATION,
            _L,
            "99th percentile round trip to hop N (its ICMP answers to probes that expired there)",
            needs=_PROBE,
        ),
        Metric(
            "hop.N.loss",
            Kind.PERCENT,
            _L,
            "probes to hop N it did not answer; not path loss: routers rate-limit ICMP answers",
            needs=_PROBE,
        ),
        Metric(
            "hop.N.dscp",
            Kind.DSCP,
            _N,
            "the DSCP hop N received the probes with, from the IP header it quotes back",
            needs=_PROBE,
        ),
    )
}

# Metrics whose names carry a frame size or a service and step: name pattern -> catalogue entry.
_FAMILIES = (
    (re.compile(r"^(rfc2544\.(?:throughput|frame_rate))\.\d+$"), r"\1"),
    (re.compile(r"^y1564\.[A-Za-z][A-Za-z0-9_-]*\.[a-z0-9]+\.(ir|flr|ftd|fdv)$"), r"y1564.\1"),
    # an rpm test that loads upload and download in turn: each direction's own figures
    (
        re.compile(
            r"^(rpm(?:\.(?:foreign|loaded|goodput|connections))?|latency\.(?:loaded|increase)"
            r"|bufferbloat\.grade)\.(?:upload|download)$"
        ),
        r"\1",
    ),
    (re.compile(r"^hop\.[1-9]\d*\.(latency\.p50|latency\.p99|loss|dscp)$"), r"hop.N.\1"),
)


def _family(name: str) -> bool:
    return any(pattern.match(name) for pattern, _ in _FAMILIES)


def split_name(name: str) -> tuple[str, str]:
    """('video', 'throughput') for a named flow's or probe's metric; ('', name) otherwise."""
    if name in CATALOGUE or _family(name):
        return "", name
    prefix, _, rest = name.partition(".")
    if prefix and (rest in CATALOGUE or _family(rest)):
        return prefix, rest
    return "", name


def find(name: str) -> Metric | None:
    """The catalogue entry of `name`: a prefixed 'video.throughput' or a method's family member
    (rfc2544.throughput.1518, y1564.voice.cir50.ir) too; None when unknown."""
    metric = CATALOGUE.get(split_name(name)[1])
    if metric is not None:
        return metric
    own = split_name(name)[1]
    for pattern, base in _FAMILIES:
        if pattern.match(own):
            family = CATALOGUE[pattern.sub(base, own)]
            definition = family.definition.replace("hop N", f"hop {own.split('.')[1]}")
            return Metric(
                name,
                family.kind,
                family.better,
                definition,
                family.needs,
                family.span,
                family.of_path,
            )
    return None


def keyword_name(keyword: str) -> str:
    """A metric named as a Python keyword: `latency_p99` → `latency.p99`; a metric's own name
    (`lost_packets`) or an unknown word stays as it is."""
    if keyword in CATALOGUE:
        return keyword
    dotted = keyword.replace("__", ".").replace("_", ".")
    return dotted if dotted in CATALOGUE else keyword


def reserved_names() -> set[str]:
    """Words a flow or probe may not be named: a metric's name or its first part."""
    # 'router' too: router.class.1:20.bytes is the lab router's counter, not a flow's metric.
    return {part for name in CATALOGUE for part in (name, name.split(".")[0])} | {"router"}


def lookup(name: str) -> Metric:
    """The metric called `name` ('video.throughput' too), or an error naming the closest one."""
    if name.startswith("router."):
        return router_metric(name)
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
    if metric is None and name.startswith("router."):
        with contextlib.suppress(InputError):
            metric = lookup(name)
    return metric.format(value) if metric else format_value(value, Kind.SCORE)


def unmeasurable(
    name: str, protocol: str | None, direction: str | None, has_probe: bool
) -> str | None:
    """Why a test with this flow (protocol/direction, None: no flow) and probe cannot measure
    `name`, or None when it can; the reason says what to add."""
    metric = find(name)
    needs = metric.needs if metric else Needs.FLOW
    if needs is Needs.METHOD:
        method = {
            "rfc2544": "rfc2544",
            "tcp": "rfc6349",
            "y1564": "y1564",
            "rpm": "rpm",
            "latency": "rpm",
            "bufferbloat": "rpm",
        }[name.split(".")[0]]
        return f"'{name}' is measured by the {method} method; use '{method}:' in a test of its own"
    if needs is Needs.PROBE:
        if has_probe:
            return None
        if name == "hops" or name.startswith("hop."):
            return f"'{name}' is measured by a hops probe; add 'probe: {{kind: hops}}' to this test"
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


# -- the lab router's counters -------------------------------------------------------------
# Named by the router's own qdisc handles and class ids, so they are parsed (counternames.py),
# not listed.


def router_metric(name: str) -> Metric:
    """The catalogue entry of a `router.` metric name (bytes and backlog in B, others counts)."""
    parsed = parse_name(name, ANY_ROUTER)
    owner = f"router {parsed.router}" if parsed.router else "the router"
    where = f"on {owner}'s {parsed.side}" if parsed.side else "summed over LAN and WAN"
    if parsed.router and not parsed.side:
        where = f"on router {parsed.router}, {where}"
    return Metric(
        name,
        KINDS.get(parsed.counter, Kind.COUNT),
        Better.NEITHER,
        f"{parsed.object} {parsed.id} {where}: {DEFINITIONS[parsed.counter]} {SPANS[parsed.span]}",
    )
