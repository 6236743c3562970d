"""RFC 6349 TCP throughput: baseline RTT and bottleneck bandwidth first, then one TCP transfer
judged by transfer time ratio (§3.3.1), TCP efficiency (§3.3.2) and buffer delay (§3.3.3).

RTT comes from a UDP latency probe (ours, user-space timestamps), idle for the baseline (its
minimum) and running beside the transfer for the average: one instrument for both, so the
buffer delay compares like with like. iperf3's per-stream RTT (the kernel's smoothed tcpi_rtt,
sampled once a second) is kept in the details for comparison.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, MeasurementError, check_key
from ..measure.traffic import Traffic, parse_congestion
from ..measure.wire import tcp_framing
from ..probes import Probe
from ..results import Measurement
from ..units import Kind, parse
from .rfc2544 import _whole_seconds
from .trial import Flow, MethodResult, Trial

KEYS = ("bottleneck", "duration", "streams", "congestion", "baseline")
DEFAULT_DURATION = 2.0
DEFAULT_BASELINE = 1.0
BOTTLENECK_STREAMS = 4  # streams of the run that measures the bottleneck when not given
PROBE_INTERVAL = 0.010


@dataclass(frozen=True)
class Rfc6349:
    """`rfc6349:` options: the bottleneck (measured when None), transfer and baseline times."""

    bottleneck: float | None = None  # bit/s of Ethernet frames as the bottleneck counts them
    duration: float = DEFAULT_DURATION
    streams: int = 1
    congestion: str | None = None
    baseline: float = DEFAULT_BASELINE

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Rfc6349:
        """Validate `rfc6349:`; an InputError's key names the option at fault."""
        for key in options:
            check_key(key, KEYS, "rfc6349")
        values: dict[str, Any] = {}
        if "bottleneck" in options:
            try:
                values["bottleneck"] = parse(options["bottleneck"], Kind.RATE)
            except InputError as error:
                raise InputError(error.message, key="bottleneck") from None
            if values["bottleneck"] <= 0:
                raise InputError("bottleneck must be above 0", key="bottleneck")
        for key in ("duration", "baseline"):
            if key in options:
                values[key] = _whole_seconds(options[key], key)
        if "streams" in options:
            streams = options["streams"]
            if isinstance(streams, bool) or not isinstance(streams, int) or not 1 <= streams <= 128:
                raise InputError(
                    f"streams must be a whole number from 1 to 128, got {streams!r}", key="streams"
                )
            values["streams"] = streams
        if "congestion" in options:
            try:
                values["congestion"] = parse_congestion(options["congestion"])
            except InputError as error:
                raise InputError(error.message, key="congestion") from None
        return cls(**values)


@dataclass(frozen=True)
class Figures:
    """RFC 6349's figures for one transfer, in base units (s, bit/s, bytes, percent)."""

    baseline_rtt: float
    average_rtt: float
    bottleneck: float
    max_throughput: float  # maximum achievable TCP throughput (goodput) at the bottleneck
    bdp: float  # bytes
    transfer_time: float
    ideal_time: float
    transfer_time_ratio: float
    efficiency: float
    buffer_delay: float
    throughput: float


def max_tcp_throughput(bottleneck: float, mss: int, ipv6: bool = False) -> float:
    """Goodput of full-sized segments filling `bottleneck` (frames counted as a qdisc does)."""
    return bottleneck / tcp_framing(mss, ipv6=ipv6).factor


def figures(
    *,
    bottleneck: float,
    baseline_rtts: Sequence[float],
    transfer_rtts: Sequence[float],
    transfer: Mapping[str, Any],
) -> Figures:
    """The formulas of RFC 6349 §3.3 applied to raw data: probe RTTs and iperf3's document."""
    if not baseline_rtts or not transfer_rtts:
        raise MeasurementError("RFC 6349 needs probe replies both idle and during the transfer")
    end, start = transfer["end"], transfer["start"]
    mss = int(start.get("tcp_mss_default") or 0)
    if mss <= 0:
        raise MeasurementError("iperf3 did not report the TCP MSS (tcp_mss_default)")
    received = end["sum_received"]
    sent = end["sum_sent"]
    payload = float(received["bytes"])
    seconds = float(received["seconds"])
    retransmitted = float(sent.get("retransmits", 0)) * mss  # segments -> bytes (full-sized)
    transmitted = float(sent["bytes"]) + retransmitted
    connected = (start.get("connected") or [{}])[0]
    remote = str(connected.get("remote_host", ""))
    ipv6 = ":" in remote and not remote.startswith("::ffff:")
    maximum = max_tcp_throughput(bottleneck, mss, ipv6)
    ideal = payload * 8.0 / maximum
    baseline = min(baseline_rtts)
    average = statistics.fmean(transfer_rtts)
    return Figures(
        baseline_rtt=baseline,
        average_rtt=average,
        bottleneck=bottleneck,
        max_throughput=maximum,
        bdp=bottleneck * baseline / 8.0,
        transfer_time=seconds,
        ideal_time=ideal,
        transfer_time_ratio=seconds / ideal,
        efficiency=100.0 * (transmitted - retransmitted) / transmitted,
        buffer_delay=100.0 * (average - baseline) / baseline,
        throughput=payload * 8.0 / seconds,
    )


def probe_rtts(measurement: Measurement | None) -> list[float]:
    """RTTs (s) of a probe's replies, from its raw record."""
    if measurement is None or not isinstance(measurement.raw, dict):
        return []
    return [float(rtt) for _, rtt in measurement.raw.get("replies", []) if rtt is not None]


def run(spec: Rfc6349, trial: Trial, *, ipv6: bool = False) -> tuple[MethodResult, Measurement]:
    """Baseline, bottleneck (unless given), transfer; returns the method and the transfer.

    `ipv6` is read from iperf3's document (the address it connected to); the argument keeps
    the methods' signatures alike.
    """
    del ipv6
    idle = Probe(kind="udp", interval=PROBE_INTERVAL, duration=spec.baseline)
    baseline = trial([Flow(None, idle, "baseline")])[0].probe
    bottleneck = spec.bottleneck
    measured_bottleneck = bottleneck is None
    if bottleneck is None:
        filling = Traffic(
            streams=BOTTLENECK_STREAMS, duration=spec.duration, congestion=spec.congestion
        )
        run_ = trial([Flow(filling, None, "bottleneck")])[0].measured
        bottleneck = run_.metrics.get("throughput.wire") or run_.metrics["throughput"]
    traffic = Traffic(streams=spec.streams, duration=spec.duration, congestion=spec.congestion)
    beside = Probe(kind="udp", interval=PROBE_INTERVAL, duration=spec.duration)
    observed = trial([Flow(traffic, beside, "transfer")])[0]
    document = observed.measured.raw
    if not isinstance(document, dict):
        raise MeasurementError("the transfer's iperf3 document is missing")
    found = figures(
        bottleneck=bottleneck,
        baseline_rtts=probe_rtts(baseline),
        transfer_rtts=probe_rtts(observed.probe),
        transfer=document,
    )
    result = MethodResult("rfc6349")
    result.metrics = {
        "tcp.transfer_time_ratio": found.transfer_time_ratio,
        "tcp.efficiency": found.efficiency,
        "tcp.buffer_delay": found.buffer_delay,
        "tcp.baseline_rtt": found.baseline_rtt,
        "tcp.rtt": found.average_rtt,
        "tcp.bottleneck": found.bottleneck,
        "tcp.bdp": found.bdp,
        "tcp.max_throughput": found.max_throughput,
    }
    streams = document.get("end", {}).get("streams", [])
    kernel_rtt = [
        s["sender"]["mean_rtt"] / 1e6 for s in streams if "mean_rtt" in s.get("sender", {})
    ]
    result.details = {
        "method": "rfc6349",
        "bottleneck_measured": measured_bottleneck,
        "rtt_source": "udp probe (baseline: idle minimum; average: beside the transfer)",
        "iperf3_mean_rtt": statistics.fmean(kernel_rtt) if kernel_rtt else None,
        "mss": int(document["start"].get("tcp_mss_default") or 0),
        "transfer_time": found.transfer_time,
        "ideal_transfer_time": found.ideal_time,
        "bytes": float(document["end"]["sum_received"]["bytes"]),
        "retransmits": float(document["end"]["sum_sent"].get("retransmits", 0)),
        "baseline_replies": len(probe_rtts(baseline)),
        "transfer_replies": len(probe_rtts(observed.probe)),
    }
    return result, observed.measured
