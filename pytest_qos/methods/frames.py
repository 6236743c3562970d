"""Ethernet frame sizes as RFC 2544 and Y.1564 count them, and the UDP payload that fills one."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InputError
from ..results import Measurement

# An RFC 2544 frame size counts the Ethernet header (14) and FCS (4) but not the preamble,
# start delimiter and inter-frame gap; the UDP payload is what remains after IP and UDP.
ETHERNET_HEADER = 14
FCS = 4
UDP_HEADER = 8
IPV4_HEADER = 20
IPV6_HEADER = 40
RFC2544_FRAME_SIZES = (64, 128, 256, 512, 1024, 1280, 1518)
# `frame_sizes: jumbo`: RFC 2544's sizes and the frame of a 9000-byte MTU (jumbo frames).
JUMBO_FRAME_SIZES = (*RFC2544_FRAME_SIZES, 9018)
MAX_FRAME = 1518  # an untagged frame through a 1500-byte MTU
MAX_JUMBO_FRAME = 9234  # through a 9216-byte MTU, the largest jumbo MTU in common use
FRAME_OVERHEAD = 18  # Ethernet header and FCS: a frame is its IP packet (the MTU) + 18
MIN_PAYLOAD = 16  # iperf3 writes its sequence header into every datagram


def overhead(ipv6: bool = False) -> int:
    """Bytes of a frame that are not UDP payload: 46 over IPv4, 66 over IPv6."""
    return ETHERNET_HEADER + FCS + UDP_HEADER + (IPV6_HEADER if ipv6 else IPV4_HEADER)


def udp_payload(frame: int, ipv6: bool = False) -> int:
    """The UDP payload (iperf3 -l) that makes frames of `frame` bytes."""
    payload = frame - overhead(ipv6)
    if payload < MIN_PAYLOAD or frame > MAX_JUMBO_FRAME:
        lowest = overhead(ipv6) + MIN_PAYLOAD
        raise InputError(
            f"frame size {frame} B cannot be sent as one UDP datagram over "
            f"{'IPv6' if ipv6 else 'IPv4'}: give {lowest} B to {MAX_FRAME} B "
            f"(jumbo frames up to {MAX_JUMBO_FRAME} B on a path whose MTU carries them)"
        )
    return payload


def check_mtu(frames: Iterable[int], mtu: int | None) -> None:
    """An InputError for a frame the path's MTU cannot carry whole (it would be fragmented,
    and every count would be of fragments); nothing when the MTU is unknown."""
    if mtu is None:
        return
    too_big = sorted({frame for frame in frames if frame - FRAME_OVERHEAD > mtu})
    if too_big:
        largest = too_big[-1]
        raise InputError(
            f"frame size {largest} B needs an MTU of {largest - FRAME_OVERHEAD} B on the path, "
            f"and this path's is {mtu} B: its frames would be fragmented. Give frames up to "
            f"{mtu + FRAME_OVERHEAD} B, or a jumbo path (in the lab: 'lab: {{mtu: 9000}}')",
            key="frame_sizes",
        )


def payload_rate(frame_rate_bits: float, frame: int, ipv6: bool = False) -> float:
    """iperf3's -b (payload bit/s) that offers `frame_rate_bits` bit/s of whole frames."""
    return frame_rate_bits * udp_payload(frame, ipv6) / frame


def frames_per_second(frame_rate_bits: float, frame: int) -> float:
    """Frames per second carried by `frame_rate_bits` bit/s of `frame`-byte frames."""
    return frame_rate_bits / (8.0 * frame)


def sent_frame_rate(measurement: Measurement, frame: int, ipv6: bool = False) -> float | None:
    """Frame bit/s iperf3's sender says it sent (its `throughput.sent`, payload bit/s, scaled
    to whole frames); None when the measurement does not say."""
    sent = measurement.metrics.get("throughput.sent")
    if sent is None:
        return None
    return sent * frame / udp_payload(frame, ipv6)


def short_of(sent: float | None, offered: float, tolerance: float) -> bool:
    """True when a sender that sent `sent` fell short of `offered` by more than `tolerance`
    (a fraction): the generator, not the path, limited the trial."""
    return sent is not None and sent < offered / (1.0 + tolerance)
