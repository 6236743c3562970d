"""Wire rate: goodput scaled to the Ethernet frames that carried it, as Linux qdiscs count."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..results import Measurement

# Bytes per frame. A Linux qdisc charges skb->len: the Ethernet header is in it, the preamble,
# start delimiter, inter-frame gap and FCS (24 bytes the NIC adds) are not.
ETHERNET_HEADER = 14
IPV4_HEADER = 20
IPV6_HEADER = 40
TCP_HEADER = 20
UDP_HEADER = 8
# TCP timestamps (on by default in Linux, negotiated by both ends) add 12 option bytes to every
# segment; the MSS a socket reports (TCP_MAXSEG, iperf3's tcp_mss_default) already excludes them.
TCP_TIMESTAMP_OPTIONS = 12
DEFAULT_MTU = 1500


@dataclass(frozen=True)
class Framing:
    """How one flow's payload travels: payload bytes per frame and header bytes per frame."""

    payload: int  # goodput bytes per packet: the TCP MSS or the UDP datagram length
    overhead: int  # header bytes on the wire per packet, all its fragments counted
    frames: int = 1  # Ethernet frames per packet (more than 1 only for fragmented UDP)

    @property
    def factor(self) -> float:
        """Wire bytes per goodput byte: (payload + overhead) / payload."""
        return (self.payload + self.overhead) / self.payload


def tcp_framing(
    mss: int, *, ipv6: bool = False, tcp_options: int = TCP_TIMESTAMP_OPTIONS
) -> Framing:
    """Full-sized TCP segments of `mss` payload bytes (1448 through a 1500-byte MTU, IPv4)."""
    if mss <= 0:
        raise InputError(f"TCP MSS must be a positive number of bytes, got {mss}", key="mss")
    if tcp_options < 0 or tcp_options > 40 or tcp_options % 4:
        raise InputError(
            f"TCP option bytes must be a multiple of 4 from 0 to 40, got {tcp_options}",
            key="tcp_options",
        )
    ip = IPV6_HEADER if ipv6 else IPV4_HEADER
    return Framing(mss, ip + TCP_HEADER + tcp_options + ETHERNET_HEADER)


def udp_framing(length: int, *, ipv6: bool = False, mtu: int = DEFAULT_MTU) -> Framing:
    """UDP datagrams of `length` payload bytes; larger than the MTU allows, they fragment."""
    if length <= 0:
        raise InputError(
            f"UDP datagram length must be a positive number of bytes, got {length}", key="length"
        )
    ip = IPV6_HEADER if ipv6 else IPV4_HEADER
    if mtu < ip + UDP_HEADER + 8:
        raise InputError(f"MTU {mtu} is too small to carry a UDP datagram", key="mtu")
    datagram = length + UDP_HEADER
    if datagram + ip <= mtu:
        return Framing(length, UDP_HEADER + ip + ETHERNET_HEADER)
    # Each fragment carries a multiple of 8 bytes of the datagram (IPv6 fragments also carry an
    # 8-byte fragment header) and its own IP and Ethernet headers.
    fragment_header = 8 if ipv6 else 0
    per_fragment = (mtu - ip - fragment_header) // 8 * 8
    fragments = math.ceil(datagram / per_fragment)
    overhead = UDP_HEADER + fragments * (ip + fragment_header + ETHERNET_HEADER)
    return Framing(length, overhead, fragments)


def is_ipv6(measurement: Measurement) -> bool:
    """Whether the flow ran over IPv6: details['ipv6'], else the address iperf3 connected to."""
    if "ipv6" in measurement.details:
        return bool(measurement.details["ipv6"])
    host = ""
    raw: Any = measurement.raw
    if isinstance(raw, dict):
        connected = raw.get("start", {}).get("connected") or [{}]
        host = str(connected[0].get("remote_host", ""))
    if not host:
        host = _client_host(measurement.command)
    # A dual-stack socket shows an IPv4 peer as ::ffff:a.b.c.d.
    return ":" in host and not host.lower().startswith("::ffff:")


def _client_host(command: Sequence[str]) -> str:
    for flag, value in itertools.pairwise(command):
        if flag in ("-c", "--client"):
            return value
    return ""


def framing(
    measurement: Measurement, *, mtu: int = DEFAULT_MTU, tcp_options: int = TCP_TIMESTAMP_OPTIONS
) -> Framing | None:
    """The framing of an iperf3 measurement from its details, or None when they don't say."""
    details = measurement.details
    protocol = str(details.get("protocol", "")).lower()
    ipv6 = is_ipv6(measurement)
    if protocol == "tcp":
        mss = int(details.get("mss") or 0)
        return tcp_framing(mss, ipv6=ipv6, tcp_options=tcp_options) if mss > 0 else None
    if protocol == "udp":
        length = int(details.get("blksize") or 0)
        return udp_framing(length, ipv6=ipv6, mtu=mtu) if length > 0 else None
    return None


def add_wire_rate(
    measurement: Measurement, *, mtu: int = DEFAULT_MTU, tcp_options: int = TCP_TIMESTAMP_OPTIONS
) -> float | None:
    """Set metrics['throughput.wire'] from 'throughput' and the flow's framing; return it."""
    goodput = measurement.metrics.get("throughput")
    flow = framing(measurement, mtu=mtu, tcp_options=tcp_options)
    if goodput is None or flow is None:
        return None
    wire = goodput * flow.factor
    measurement.metrics["throughput.wire"] = wire
    measurement.details["wire_frame_payload"] = flow.payload
    measurement.details["wire_frame_overhead"] = flow.overhead
    measurement.details["wire_frames"] = flow.frames
    return wire
