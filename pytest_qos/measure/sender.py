"""A UDP sender that sent less than it was asked for: the generator, not the path, limited it.

iperf3 paces UDP at `-b`; when the host cannot keep up (small datagrams at high rates, a busy
CPU) it sends less, and every figure of the flow describes a lighter load than the test asked
for. Such a flow is an error, never a pass or a QoS failure. TCP is left alone: a TCP sender
short of `-b` is held back by its congestion control, which is the path's doing.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..results import Measurement
from ..units import Kind, format_value

# Normal pacing keeps iperf3 3.12 within 0.2 % of -b (64 kbit/s … 3 Gbit/s on loopback).
TOLERANCE = 0.05
# A short window holds few datagrams at low rates: two datagrams of slack for rounding.
SLACK_DATAGRAMS = 2


def shortfall(measurement: Measurement) -> str:
    """'' when the sender sent what it was asked for (or was not asked a rate), else why not."""
    details = measurement.details
    asked = float(details.get("bitrate") or 0.0)
    if measurement.tool != "iperf3" or details.get("protocol") != "udp" or asked <= 0:
        return ""
    name = str(details.get("name", ""))
    sent = measurement.metrics.get(f"{name}.throughput.sent" if name else "throughput.sent")
    if sent is None:
        return ""
    window = details.get("window")
    seconds = float(window[1]) - float(window[0]) if window else float(details.get("duration", 0))
    slack = SLACK_DATAGRAMS * 8.0 * float(details.get("blksize") or 0) / max(seconds, 1.0)
    if sent >= asked / (1.0 + TOLERANCE) - slack:
        return ""
    who = f"the UDP sender of flow '{name}'" if name else "the UDP sender"
    short = 100.0 * (1.0 - sent / asked)
    return (
        f"{who} sent {format_value(sent, Kind.RATE)} of the {format_value(asked, Kind.RATE)} "
        f"asked ({short:.0f} % short): the generator, not the path, limited it, so its figures "
        "cannot be judged; ask for less, or send larger datagrams (length) or more streams"
    )


def sender_error(measurements: Iterable[Measurement]) -> str:
    """Every measured flow's (and background load's) shortfall, joined ('' when none)."""
    return "; ".join(filter(None, (shortfall(m) for m in measurements)))
