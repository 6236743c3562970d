"""STAMP (RFC 8762, unauthenticated mode) test packets, with the RFC 8972 Class-of-Service TLV.

Session-Sender test packet (44 bytes, then TLVs):

    0  Sequence Number (4)      4  Timestamp (8, NTP)      12 Error Estimate (2)
    14 SSID (2, RFC 8972; MBZ in RFC 8762)                16 MBZ (28)

Session-Reflector test packet (44 bytes, then the sender's TLVs as updated by the reflector):

    0  Sequence Number (4)      4  Timestamp (8)           12 Error Estimate (2)
    14 SSID (2)                 16 Receive Timestamp (8)   24 Session-Sender Sequence Number (4)
    28 Session-Sender Timestamp (8)   36 Session-Sender Error Estimate (2)   38 MBZ (2)
    40 Session-Sender TTL (1)   41 MBZ (3)

Class-of-Service TLV (RFC 8972 §4.4): flags (1), type 4 (1), length 4 (2), then
DSCP1 (6 bits: what the sender asks the reply to carry), DSCP2 (6 bits: what the reflector
received), ECN (2 bits: the ECN the reflector received), RP (2 bits), reserved (16 bits).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

PACKET_SIZE = 44  # both directions, unauthenticated mode
SENDER = struct.Struct("!IQHH")  # seq, timestamp, error estimate, SSID; then 28 MBZ
REFLECTOR = struct.Struct("!IQHHQIQHHB3x")  # the 44-byte reflector header
TLV_HEADER = struct.Struct("!BBH")
COS_TYPE = 4
COS_LENGTH = 4
COS_TLV_SIZE = TLV_HEADER.size + COS_LENGTH
COS_OFFSET = PACKET_SIZE  # our sender puts the Class-of-Service TLV first
FLAG_UNRECOGNIZED = 0x80
FLAG_MALFORMED = 0x40
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_NS = 1_000_000_000
STAMP_PORT = 862  # the IANA port of STAMP session-reflectors


def ntp_from_ns(unix_ns: int) -> int:
    """A 64-bit NTP timestamp (32-bit seconds since 1900, 32-bit fraction) from Unix ns."""
    seconds, nanoseconds = divmod(unix_ns, _NS)
    return (((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32) | ((nanoseconds << 32) // _NS)


def ns_from_ntp(ntp: int) -> int:
    """Unix ns from a 64-bit NTP timestamp (rounded to the nearest ns).

    Seconds with the top bit clear are era 1 (from 2036-02-07), as RFC 4330 §3 suggests: the
    range read is 1968 to 2104.
    """
    seconds, fraction = ntp >> 32, ntp & 0xFFFFFFFF
    if not seconds & 0x80000000:
        seconds += 1 << 32
    return (seconds - NTP_EPOCH_OFFSET) * _NS + ((fraction * _NS + (1 << 31)) >> 32)


@dataclass(frozen=True)
class ErrorEstimate:
    """RFC 4656 §4.1.2: S (synchronised to UTC), Z (0: NTP format), Scale, Multiplier."""

    synced: bool
    seconds: float  # Multiplier × 2^(Scale − 32)

    def encode(self) -> int:
        """The 16-bit field; the smallest scale whose multiplier fits, rounded up."""
        multiplier_ticks = max(1, int(self.seconds * (1 << 32)) + 1)
        scale = 0
        while multiplier_ticks > 0xFF and scale < 63:
            multiplier_ticks = (multiplier_ticks + 1) >> 1
            scale += 1
        return (0x8000 if self.synced else 0) | (scale << 8) | min(multiplier_ticks, 0xFF)

    @classmethod
    def decode(cls, field: int) -> ErrorEstimate:
        """The S bit and the error in seconds of a 16-bit Error Estimate field."""
        scale = (field >> 8) & 0x3F
        multiplier = field & 0xFF
        return cls(bool(field & 0x8000), multiplier * 2.0 ** (scale - 32))


class Reflected(NamedTuple):
    """What a session-sender reads from one reflected packet (a tuple: read 1000s per second)."""

    seq: int  # the reflector's own sequence number (stateful: its count; stateless: a copy)
    sent_seq: int  # the session-sender's sequence number, echoed
    t1: int  # sender transmit time, Unix ns (echoed)
    t2: int  # reflector receive time
    t3: int  # reflector transmit time
    error: int  # the reflector's Error Estimate field (ErrorEstimate.decode reads it)
    ttl: int  # the TTL (hop limit) the reflector saw on the sender's packet
    cos: tuple[int, int, int, int] | None  # (flags, DSCP1, DSCP2, ECN) when the TLV came back


def cos_tlv(dscp1: int) -> bytes:
    """A Class-of-Service TLV asking for `dscp1` on the reflected packet."""
    return TLV_HEADER.pack(0, COS_TYPE, COS_LENGTH) + struct.pack("!I", (dscp1 & 0x3F) << 26)


def sender_packet(
    seq: int, t1_ns: int, error: int, size: int, ssid: int = 0, dscp1: int | None = None
) -> bytearray:
    """A session-sender test packet of `size` bytes (at least 44; 52 with the CoS TLV)."""
    packet = bytearray(max(size, PACKET_SIZE + (COS_TLV_SIZE if dscp1 is not None else 0)))
    SENDER.pack_into(packet, 0, seq, ntp_from_ns(t1_ns), error, ssid)
    if dscp1 is not None:
        packet[COS_OFFSET : COS_OFFSET + COS_TLV_SIZE] = cos_tlv(dscp1)
    return packet


def restamp_sender(packet: bytearray, seq: int, t1_ns: int, error: int, ssid: int = 0) -> None:
    """Rewrite the sequence number and timestamp of a prepared sender packet in place."""
    SENDER.pack_into(packet, 0, seq, ntp_from_ns(t1_ns), error, ssid)


_T3 = struct.Struct("!Q")


def set_transmit_time(reply: bytearray, t3_ns: int) -> None:
    """Write the reflector's Timestamp (T3) into a prepared reply, just before it is sent."""
    _T3.pack_into(reply, 4, ntp_from_ns(t3_ns))


def reflect(
    packet: bytes,
    *,
    seq: int | None,
    t2_ns: int,
    t3_ns: int,
    error: int,
    ttl: int,
    tos: int | None,
) -> tuple[bytearray, int | None]:
    """The reflector's answer to a sender packet, the same size, and the DSCP it asks for.

    `seq` None is stateless mode: the reflector's sequence number copies the sender's. A
    reflector stamps T3 again with set_transmit_time right before sending, so that building
    the reply is not counted as network delay.
    TLVs are reflected in place; a Class-of-Service TLV gets DSCP2 and ECN as received
    (`tos`, the whole TOS / traffic-class byte); other TLV types are flagged unrecognised.
    """
    sent_seq, t1, sent_error, ssid = SENDER.unpack_from(packet)
    header = REFLECTOR.pack(
        sent_seq if seq is None else seq,
        ntp_from_ns(t3_ns),
        error,
        ssid,
        ntp_from_ns(t2_ns),
        sent_seq,
        t1,
        sent_error,
        0,
        ttl & 0xFF,
    )
    reply = bytearray(packet)
    reply[:PACKET_SIZE] = header
    requested = _reflect_tlvs(reply, tos)
    return reply, requested


def _reflect_tlvs(reply: bytearray, tos: int | None) -> int | None:
    """Update the TLVs of `reply` in place; the DSCP1 asked for, if a CoS TLV was there."""
    requested = None
    offset = PACKET_SIZE
    # Bounded: every pass consumes at least the 4-byte TLV header.
    while offset + TLV_HEADER.size <= len(reply):
        flags, kind, length = TLV_HEADER.unpack_from(reply, offset)
        if kind == 0 and length == 0 and flags == 0:
            break  # zero padding, not a TLV
        end = offset + TLV_HEADER.size + length
        if end > len(reply):
            reply[offset] = flags | FLAG_MALFORMED
            break
        if kind == COS_TYPE and length == COS_LENGTH:
            (value,) = struct.unpack_from("!I", reply, offset + TLV_HEADER.size)
            requested = (value >> 26) & 0x3F
            received = 0 if tos is None else tos
            value = (
                (requested << 26)
                | (((received >> 2) & 0x3F) << 20)
                | ((received & 0x3) << 18)
                | (value & 0xFFFF)
            )
            struct.pack_into("!I", reply, offset + TLV_HEADER.size, value)
        else:
            reply[offset] = flags | FLAG_UNRECOGNIZED
        offset = end
    return requested


def parse_reflected(packet: bytes) -> Reflected | None:
    """A reflected packet's fields, or None when it is too short to be one."""
    if len(packet) < PACKET_SIZE:
        return None
    seq, t3, error, _, t2, sent_seq, t1, _, _, ttl = REFLECTOR.unpack_from(packet)
    cos = None
    if len(packet) >= COS_OFFSET + COS_TLV_SIZE:
        flags, kind, length = TLV_HEADER.unpack_from(packet, COS_OFFSET)
        if kind == COS_TYPE and length == COS_LENGTH:
            (value,) = struct.unpack_from("!I", packet, COS_OFFSET + TLV_HEADER.size)
            cos = (flags, (value >> 26) & 0x3F, (value >> 20) & 0x3F, (value >> 18) & 0x3)
    return Reflected(
        seq=seq,
        sent_seq=sent_seq,
        t1=ns_from_ntp(t1),
        t2=ns_from_ntp(t2),
        t3=ns_from_ntp(t3),
        error=error,
        ttl=ttl,
        cos=cos,
    )
