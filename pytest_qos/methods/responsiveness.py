"""Responsiveness under working conditions (draft-ietf-ippm-responsiveness-08), as pure logic.

Everything here works on recorded intervals: what each interval's load and probes measured.
`assess` replays the draft's algorithm over them — goodput first declared stable, then
responsiveness — so the same code decides live (on the intervals so far) and in unit tests
(on recorded sequences). No clocks, no processes.

The draft's terms, and ours: MAD (moving-average distance) is `window`, SDT (standard
deviation tolerance) `tolerance`, TMP (trimmed-mean percentage, 95 %) is kept as the share
trimmed off the top, `trim` (5 %).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

MINUTE = 60.0
# Per pair of foreign probes, bytes on the wire toward the bottleneck: a TCP handshake of a
# new connection (SYN 74, ACK 66, RST 54: Ethernet + IP + TCP with options) and one UDP STAMP
# test packet (44 + 8 + 20 + 14). The draft budgets ~5000 B for an HTTP/TLS foreign probe and
# 1000 B for a self probe; ours are a TCP handshake and a datagram, and the kernel's RTT of
# the load connections costs nothing on the wire.
PROBE_PAIR_BYTES = 194 + 86
CONFIDENCE = ("low", "medium", "high")


def trimmed_mean(values: Sequence[float], trim: float) -> float:
    """The draft's single-sided trimmed mean: drop the largest `trim` % of values, average the rest.

    floor(n × trim / 100) values are dropped, never all of them; an empty input is a ValueError.
    """
    if not values:
        raise ValueError("a trimmed mean of no values")
    if not 0 <= trim < 100:
        raise ValueError(f"trim must be from 0 to under 100 %, got {trim}")
    ordered = sorted(values)
    # The epsilon keeps 20 × 5 / 100 from flooring to 0.99999… on binary floats.
    dropped = min(len(ordered) - 1, math.floor(len(ordered) * trim / 100 + 1e-9))
    kept = ordered[: len(ordered) - dropped]
    return math.fsum(kept) / len(kept)


def is_stable(values: Sequence[float], tolerance: float) -> bool:
    """The draft's criterion: the standard deviation of `values` (the last MAD moving averages,
    oldest first) is less than `tolerance` % of the newest one."""
    if len(values) < 2:
        return False
    return statistics.pstdev(values) < tolerance / 100 * values[-1]


def probe_rate(goodput: float | None, most: float, share: float, interval: float) -> float:
    """Foreign probe pairs per second: at most `most` (MPS) and, once goodput is known, at most
    `share` % of it (PTC); never below one pair per interval."""
    rate = most
    if goodput is not None and goodput > 0:
        rate = min(rate, share / 100 * goodput / (8 * PROBE_PAIR_BYTES))
    return max(rate, 1.0 / interval)


@dataclass
class Interval:
    """What one interval measured: the load's goodput and RTT samples, the probes' RTTs."""

    index: int
    start: float  # s since the phase began
    seconds: float
    connections: int  # load-generating connections open during it
    goodput: dict[str, float]  # bit/s per direction ("upload", "download")
    loaded: list[float] = field(default_factory=list)  # s: TCP_INFO RTT samples of the load
    tcp: list[float] = field(default_factory=list)  # s: TCP handshake times of new connections
    udp: list[float] = field(default_factory=list)  # s: UDP (STAMP) round trips
    sent: dict[str, int] = field(default_factory=dict)  # probes sent per kind
    rate: float = 0.0  # foreign probe pairs per second asked for
    probed: bool = False  # the interval's probes are all answered (or timed out)


@dataclass(frozen=True)
class Figures:
    """RTTs and responsiveness over a window of intervals (s and round trips per minute)."""

    foreign_rtt: float | None
    loaded_rtt: float | None
    rpm_foreign: float | None
    rpm_loaded: float | None
    rpm: float
    samples: dict[str, int]

    @property
    def rpm_of_mean_rtt(self) -> float:
        """60 / the mean of the foreign and loaded RTTs (goresponsiveness; drafts before 2024)."""
        rtts = [r for r in (self.foreign_rtt, self.loaded_rtt) if r is not None]
        return MINUTE / statistics.fmean(rtts)


def foreign_rtt(tcp: Sequence[float], udp: Sequence[float], trim: float) -> float | None:
    """The draft's TCP-only foreign RTT, (TM(tcp_f) + TM(http_f)) / 2, with a UDP round trip
    in the place of the HTTP request; a kind without samples is left out."""
    means = [trimmed_mean(values, trim) for values in (tcp, udp) if values]
    return statistics.fmean(means) if means else None


def figures(window: Sequence[Interval], trim: float) -> Figures | None:
    """Foreign_Responsiveness, Loaded_Responsiveness and their mean over `window`."""
    tcp = [rtt for step in window for rtt in step.tcp]
    udp = [rtt for step in window for rtt in step.udp]
    loaded = [rtt for step in window for rtt in step.loaded]
    foreign = foreign_rtt(tcp, udp, trim)
    self_rtt = trimmed_mean(loaded, trim) if loaded else None
    rpms = [MINUTE / rtt for rtt in (foreign, self_rtt) if rtt is not None and rtt > 0]
    if not rpms:
        return None
    return Figures(
        foreign_rtt=foreign,
        loaded_rtt=self_rtt,
        rpm_foreign=MINUTE / foreign if foreign else None,
        rpm_loaded=MINUTE / self_rtt if self_rtt else None,
        rpm=statistics.fmean(rpms),
        samples={"tcp": len(tcp), "udp": len(udp), "loaded": len(loaded)},
    )


def moving_goodput(window: Sequence[Interval], direction: str) -> float:
    """Bytes of `direction` over the window / its duration (the draft: / (MAD × ID))."""
    seconds = math.fsum(step.seconds for step in window)
    bits = math.fsum(step.goodput.get(direction, 0.0) * step.seconds for step in window)
    return bits / seconds if seconds > 0 else 0.0


@dataclass
class Assessment:
    """Where the algorithm stands after the intervals so far."""

    averages: list[dict[str, float]]  # per interval: each direction's moving average (or {})
    saturated_at: int | None  # interval where goodput was declared stable
    rpm: list[Figures | None]  # per interval: responsiveness once goodput saturated
    stable_at: int | None  # interval where responsiveness was declared stable
    final: Figures | None
    final_at: int | None  # the interval whose figures are reported
    confidence: dict[str, str]

    @property
    def done(self) -> bool:
        """True once responsiveness is stable: the test may end."""
        return self.stable_at is not None


def assess(steps: Sequence[Interval], window: int, tolerance: float, trim: float) -> Assessment:
    """Replay the draft's final algorithm (§ Final Algorithm) over `steps`, in order."""
    directions = sorted({name for step in steps for name in step.goodput})
    averages: list[dict[str, float]] = []
    saturated_at = None
    for index in range(len(steps)):
        if index + 1 < window:
            averages.append({})
            continue
        span = steps[index + 1 - window : index + 1]
        averages.append({name: moving_goodput(span, name) for name in directions})
        if saturated_at is None and index + 1 >= 2 * window - 1:
            recent = averages[index + 1 - window : index + 1]
            if all(is_stable([a[name] for a in recent], tolerance) for name in directions):
                saturated_at = index
    rpm: list[Figures | None] = [None] * len(steps)
    stable_at = None
    if saturated_at is not None:
        stable_at = _responsiveness(steps, rpm, saturated_at, window, tolerance, trim)
    final_at, final = _final(steps, rpm, stable_at, window, trim)
    confidence = {
        "goodput": _confidence(len(steps), window, saturated_at is not None),
        "responsiveness": _confidence(
            sum(figure is not None for figure in rpm), window, stable_at is not None
        ),
    }
    return Assessment(averages, saturated_at, rpm, stable_at, final, final_at, confidence)


def _responsiveness(
    steps: Sequence[Interval],
    rpm: list[Figures | None],
    saturated_at: int,
    window: int,
    tolerance: float,
    trim: float,
) -> int | None:
    """Fill `rpm` from the saturation on, while probes are in; the interval it became stable."""
    computed: list[float] = []
    for index in range(saturated_at, len(steps)):
        span = steps[index + 1 - window : index + 1]
        if not all(step.probed for step in span):
            break  # later intervals wait for their probes' replies
        figure = figures(span, trim)
        rpm[index] = figure
        if figure is None:
            continue
        computed.append(figure.rpm)
        if len(computed) >= window and is_stable(computed[-window:], tolerance):
            return index
    return None


def _final(
    steps: Sequence[Interval],
    rpm: Sequence[Figures | None],
    stable_at: int | None,
    window: int,
    trim: float,
) -> tuple[int | None, Figures | None]:
    """The reported figures: at stability, else the latest computed, else the last window's."""
    if stable_at is not None:
        return stable_at, rpm[stable_at]
    for index in range(len(rpm) - 1, -1, -1):
        if rpm[index] is not None:
            return index, rpm[index]
    probed = [step for step in steps if step.probed]
    if not probed:
        return None, None
    return probed[-1].index, figures(probed[-window:], trim)


def _confidence(iterations: int, window: int, stable: bool) -> str:
    """The draft's confidence of a stage: high when stable; medium after MAD iterations."""
    if stable:
        return "high"
    return "medium" if iterations >= window else "low"
