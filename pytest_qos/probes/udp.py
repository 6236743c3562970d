"""The isochronous UDP echo probe: client side, wire format, and the TWAMP-style RTT."""

from __future__ import annotations

import resource
import socket
import struct
import time
from typing import Any

from ..errors import MeasurementError
from ..units import Kind, format_value
from .clock import (
    ANCILLARY_SIZE,
    ScheduledClient,
    enable_kernel_timestamps,
    host_port,
    kernel_timestamp,
    lateness_summary,
    set_dscp,
    tighten_timer_slack,
    wait_readable,
)

# magic, sequence number, client send time (CLOCK_REALTIME ns), ns the responder held it.
PACKET = struct.Struct("!4sIqq")
MAGIC = b"QOSP"
HELLO_SEQ = 0xFFFFFFFF  # the handshake packet; never a measured probe
HELLO_ATTEMPTS = 3
_DRAIN_LIMIT = 10_000  # datagrams read per wake-up, so one loop pass is bounded
_FIRST_SEND_DELAY_NS = 5_000_000  # start the schedule just after the handshake


def encode(seq: int, sent_ns: int, size: int) -> bytes:
    """A probe datagram of `size` bytes: the header, then zero padding."""
    header = PACKET.pack(MAGIC, seq, sent_ns, 0)
    return header + bytes(max(0, size - PACKET.size))


def stamp_held(datagram: bytes, held_ns: int) -> bytes:
    """The datagram with the responder's holding time written into its header."""
    magic, seq, sent_ns, _ = PACKET.unpack_from(datagram)
    return PACKET.pack(magic, seq, sent_ns, held_ns) + datagram[PACKET.size :]


def decode(datagram: bytes) -> tuple[int, int, int] | None:
    """(seq, client send ns, responder held ns) of a probe datagram, or None if not one."""
    if len(datagram) < PACKET.size:
        return None
    magic, seq, sent_ns, held_ns = PACKET.unpack_from(datagram)
    return (seq, sent_ns, held_ns) if magic == MAGIC else None


def no_reply_message(host: str, port: int, timeout: float, why: str = "") -> str:
    """The one line a user sees when nothing answers."""
    detail = f" ({why})" if why else ""
    return (
        f"no reply from {host_port(host, port)} within {format_value(timeout, Kind.DURATION)}"
        f"{detail} — is the responder running? (start it with "
        f"'python -m pytest_qos responder --bind ADDR --port {port}')"
    )


class UdpProbeClient(ScheduledClient):
    """Sends `count` probes every `interval` s and matches the echoes a responder returns."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        interval: float,
        count: int,
        size: int,
        timeout: float,
        dscp: int | None = None,
    ) -> None:
        super().__init__(host, port, interval=interval, count=count, timeout=timeout, dscp=dscp)
        self.size = max(size, PACKET.size)
        self.timeout_ns = round(timeout * 1e9)

    def run(self) -> dict[str, Any]:
        """Probe and return the JSON-ready record: replies (seq, rtt) in arrival order."""
        tighten_timer_slack()
        family, _, _, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[
            0
        ]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            set_dscp(sock, family, self.dscp)
            enable_kernel_timestamps(sock)
            # Room for a burst of echoes while this process is descheduled.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.connect(address)
            self._handshake(sock)
            return self._measure(sock)

    def _handshake(self, sock: socket.socket) -> None:
        """Fail fast, with a clear message, when nothing answers at the far end."""
        why = ""
        deadline = time.monotonic_ns() + self.timeout_ns
        step = self.timeout_ns // HELLO_ATTEMPTS
        for attempt in range(HELLO_ATTEMPTS):
            try:
                sock.send(encode(HELLO_SEQ, time.time_ns(), self.size))
            except ConnectionRefusedError:
                why = "port unreachable"
            until = min(deadline, time.monotonic_ns() + step * (attempt + 1))
            for _ in range(_DRAIN_LIMIT):
                if not wait_readable(sock, until):
                    break
                try:
                    datagram = sock.recv(65535, socket.MSG_DONTWAIT)
                except ConnectionRefusedError:
                    why = "port unreachable"
                    continue
                except BlockingIOError:
                    continue
                decoded = decode(datagram)
                if decoded is not None and decoded[0] == HELLO_SEQ:
                    return
        raise MeasurementError(no_reply_message(self.host, self.port, self.timeout, why))

    def _measure(self, sock: socket.socket) -> dict[str, Any]:
        rtts: dict[int, int] = {}
        arrival: list[int] = []
        lateness: list[int] = []
        refused = 0
        cpu_before = _cpu_seconds()
        start = time.monotonic_ns() + _FIRST_SEND_DELAY_NS
        started_wall = time.time()
        next_seq = 0
        datagram = bytearray(encode(0, 0, self.size))
        end = start + (self.count - 1) * self.interval_ns + self.timeout_ns
        # Each pass sends one probe or sleeps until the next event; bounded by count + replies.
        for _ in range(self.count * 4 + _DRAIN_LIMIT):
            now = time.monotonic_ns()
            if next_seq < self.count:
                scheduled = start + next_seq * self.interval_ns
                if now >= scheduled:
                    # Stamp as late as possible: the gap to the wire is then only the syscall.
                    PACKET.pack_into(datagram, 0, MAGIC, next_seq, time.time_ns(), 0)
                    try:
                        sock.send(datagram)
                    except ConnectionRefusedError:
                        refused += 1
                    lateness.append(time.monotonic_ns() - scheduled)
                    next_seq += 1
                    continue
                wake = scheduled
            else:
                if len(rtts) >= self.count or now >= end:
                    break
                wake = end
            if wait_readable(sock, wake):
                refused += self._drain(sock, rtts, arrival)
        cpu = _cpu_seconds() - cpu_before
        return {
            "kind": "udp",
            "host": self.host,
            "port": self.port,
            "sent": next_seq,
            "interval": self.interval_ns / 1e9,
            "started": started_wall,
            "replies": [[seq, rtts[seq] / 1e9] for seq in arrival],
            "refused": refused,
            "cpu_s": cpu,
            **lateness_summary(lateness),
        }

    def _drain(self, sock: socket.socket, rtts: dict[int, int], arrival: list[int]) -> int:
        """Read every queued echo; returns the number of port-unreachable errors seen."""
        refused = 0
        for _ in range(_DRAIN_LIMIT):
            try:
                datagram, ancillary, _, _ = sock.recvmsg(65535, ANCILLARY_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                refused += 1
                continue
            received_ns = kernel_timestamp(ancillary) or time.time_ns()
            decoded = decode(datagram)
            if decoded is None:
                continue
            seq, sent_ns, held_ns = decoded
            if seq >= self.count or seq in rtts:
                continue  # a handshake echo or a duplicate
            # TWAMP-style: the time the responder held the packet is not network delay.
            rtt = received_ns - sent_ns - held_ns
            if rtt > self.timeout_ns:
                continue  # later than the timeout: lost, by definition
            rtts[seq] = rtt
            arrival.append(seq)
        return refused


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
