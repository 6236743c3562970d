"""The one thing a method needs from the world: run flows for a while and say what they measured.

A method (RFC 2544, RFC 6349, Y.1564) is search or step logic on top of a `Trial`; the real trial
runs iperf3 (and a latency probe beside a flow when asked), a fake one in tests is a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import MeasurementError
from ..measure.traffic import Traffic
from ..probes import Probe
from ..results import Check, Measurement
from .frames import frames_per_second, payload_rate, udp_payload


@dataclass(frozen=True)
class Flow:
    """One flow of a trial: iperf3 traffic and/or a latency probe riding beside it."""

    traffic: Traffic | None
    probe: Probe | None = None
    name: str = ""


@dataclass
class Observed:
    """What one flow of a trial measured."""

    flow: Measurement | None
    probe: Measurement | None = None

    @property
    def measured(self) -> Measurement:
        """The iperf3 flow's measurement (a flow-less trial has none)."""
        if self.flow is None:
            raise MeasurementError("this trial ran no iperf3 flow")
        return self.flow


class Trial(Protocol):
    """Runs `flows` together (all start at once) and returns one Observed per flow, in order."""

    def __call__(self, flows: Sequence[Flow]) -> list[Observed]: ...


def frame_flow(
    rate: float,
    frame: int,
    seconds: float,
    *,
    ipv6: bool = False,
    dscp: int | None = None,
    probe: Probe | None = None,
    name: str = "",
) -> Flow:
    """A UDP flow offering `rate` bit/s of `frame`-byte Ethernet frames for `seconds`."""
    traffic = Traffic(
        protocol="udp",
        bitrate=payload_rate(rate, frame, ipv6),
        length=udp_payload(frame, ipv6),
        duration=float(seconds),
        dscp=dscp,
    )
    return Flow(traffic, probe, name)


@dataclass(frozen=True)
class FrameCounts:
    """A UDP flow's result in frames: offered and delivered rates (frame bit/s) and loss."""

    offered: float  # frame bit/s the sender actually sent
    delivered: float  # frame bit/s that arrived
    loss: float  # percent of frames lost
    frames_sent: int
    frames_lost: int


def frame_counts(measurement: Measurement, frame: int) -> FrameCounts:
    """Frame-level figures of one iperf3 UDP measurement of `frame`-byte frames."""
    metrics = measurement.metrics
    seconds = float(measurement.details.get("duration") or 0.0) or 1.0
    sent = int(metrics.get("packets", 0))
    lost = max(0, int(metrics.get("lost_packets", 0)))
    bits = 8.0 * frame
    return FrameCounts(
        offered=sent * bits / seconds,
        delivered=max(0, sent - lost) * bits / seconds,
        loss=float(metrics.get("loss", 0.0)),
        frames_sent=sent,
        frames_lost=lost,
    )


@dataclass
class MethodResult:
    """A method's figures, its own verdicts, and its tables (trials, steps) for reports."""

    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def measurement(self, command: Sequence[str] = ()) -> Measurement:
        """The method as one Measurement: its tables travel in details (JSON, reports)."""
        return Measurement(
            tool=self.method,
            metrics=dict(self.metrics),
            command=list(command),
            details=self.details,
        )


__all__ = [
    "Flow",
    "FrameCounts",
    "MethodResult",
    "Observed",
    "Trial",
    "frame_counts",
    "frame_flow",
    "frames_per_second",
]
