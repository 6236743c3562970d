"""The hops probe: UDP probes at increasing TTL, each hop answering with an ICMP error.

As tracepath does it, with no privilege: a UDP socket sends datagrams with IP_TTL (IPv6: the
unicast hop limit) 1, 2, … toward the target, to ports where nothing listens, and reads the
ICMP errors the kernel queues on the socket (IP_RECVERR / IPV6_RECVERR, recvmsg with
MSG_ERRQUEUE): time exceeded from each router on the way, port unreachable from the
destination. Each error carries the hop's address (SO_EE_OFFENDER), the kernel's receive time
(SO_TIMESTAMPNS) and, as the message's name, the quoted destination port: which probe it was
(each probe has its own port, so 8 quoted bytes of UDP header are enough, RFC 792).

The DSCP as the hop received the probe is in the IP header the hop quotes back (RFC 792,
RFC 1812 4.3.2.3). IPv6: with IPV6_FLOWINFO_SEND set, the error queue hands the quoted header's
flow information (traffic class and flow label) back as sin6_flowinfo: exact, unprivileged.
IPv4: the kernel hands back only the quoted UDP payload (ip_icmp_error() pulls the quoted IP and
UDP headers off) and the ICMP message's own TOS is the router's choice (Linux sends
(TOS & 0x1e) | 0xc0), so the quoted TOS byte is read from a receive-only raw ICMP socket where
this process may open one (CAP_NET_RAW: root, as in the labs); elsewhere IPv4 hop DSCP is not
measured and the record says why.

Routers rate-limit ICMP errors (Linux: net.ipv4.icmp_ratelimit 1000 ms per destination with a
burst of 6, and icmp_msgs_per_sec 1000 in all): each round sends one probe per hop, and rounds
are `interval` apart (default 1 s), so no hop is asked more than once a second.

Stdlib only: it is shipped to far hosts (hosts/ship.py) and runs there as `hops`.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .clock import SO_TIMESTAMPNS, kernel_timestamp, set_dscp
from .hdr import Recorder

IP_RECVERR = 11
IPV6_RECVERR = 25
IPV6_FLOWINFO_SEND = 33
IPV6_UNICAST_HOPS = getattr(socket, "IPV6_UNICAST_HOPS", 16)
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
SOL_RAW = 255
ICMP_FILTER = 1  # a raw ICMP socket's filter: bit N set drops ICMP type N
_WANTED_ICMP = (1 << 3) | (1 << 11)  # destination unreachable, time exceeded
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err, then the offender
_PAYLOAD = struct.Struct("!4sIHH")  # magic, session, round, TTL
MAGIC = b"QOSH"
BASE_PORT = 33434  # traceroute's: destination ports base .. base + PORT_SPAN - 1
PORT_SPAN = 1024
DEFAULT_MAX_HOPS = 30
SILENT_LIMIT = 4  # discovery stops after this many hops in a row that never answered
_DRAIN_LIMIT = 4096  # datagrams read per wake-up, so one loop pass is bounded
ANCILLARY = 512
# ICMP (type, code) → what the hop said; time exceeded means "a router on the way".
_V4 = {(11, 0): "time exceeded", (3, 3): "port unreachable"}
_V6 = {(3, 0): "time exceeded", (1, 4): "port unreachable"}
TIME_EXCEEDED = "time exceeded"


class _Hop:
    """What one TTL learnt: who answered, how fast, with which DSCP, in constant memory."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.sent = 0
        self.received = 0
        self.addresses: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.dscp: Counter[int] = Counter()
        self.rtt = Recorder()

    def record(self) -> dict[str, Any]:
        """JSON-ready: the most frequent address first."""
        ranked = self.addresses.most_common()
        return {
            "hop": self.ttl,
            "address": ranked[0][0] if ranked else None,
            "addresses": [[address, count] for address, count in ranked],
            "sent": self.sent,
            "received": self.received,
            "rtt": self.rtt.summary(),
            "dscp": sorted(self.dscp.items()),
            "answers": sorted(self.answers.items()),
        }


class _Sent:
    """One probe in flight."""

    __slots__ = ("answered", "round", "sent_ns", "tos_counted", "ttl")

    def __init__(self, round_: int, ttl: int, sent_ns: int) -> None:
        self.round = round_
        self.ttl = ttl
        self.sent_ns = sent_ns
        self.answered = False
        self.tos_counted = False  # its quoted TOS (raw socket) is in its hop's counts


class _Answers:
    """Every probe sent and every answer read: the path as it is being learnt."""

    def __init__(self, address: str, timeout_ns: int) -> None:
        self.address = address  # the destination's
        self.timeout_ns = timeout_ns
        self.hops: dict[int, _Hop] = {}
        self.inflight: dict[int, _Sent] = {}  # destination port → probe
        # Destination port → the TOS its hop received (raw socket), until its answer is counted.
        self.quoted_tos: dict[int, int] = {}
        self.destination: int | None = None  # the TTL at which the destination answered
        self.dead_end: dict[str, Any] | None = None  # a hop that said the path ends there

    @property
    def ended(self) -> bool:
        """True once the destination (or a hop saying it is unreachable) answered."""
        return self.destination is not None or self.dead_end is not None

    def all_answered(self) -> bool:
        """True when no probe is waiting for its answer."""
        return all(probe.answered for probe in self.inflight.values())

    def sent(self, port: int, round_: int, ttl: int, sent_ns: int) -> None:
        """Note a probe on its way (its port's earlier probe, if any, is forgotten)."""
        self.hops.setdefault(ttl, _Hop(ttl)).sent += 1
        self.inflight[port] = _Sent(round_, ttl, sent_ns)
        self.quoted_tos.pop(port, None)

    def error(self, ancillary: list[tuple[int, int, bytes]], name: Any, ipv6: bool) -> None:
        """One message of the error queue: which hop answered, when, and (IPv6) its DSCP."""
        received_ns = kernel_timestamp(ancillary) or time.time_ns()
        for level, kind, data in ancillary:
            if (level, kind) not in (
                (socket.IPPROTO_IP, IP_RECVERR),
                (socket.IPPROTO_IPV6, IPV6_RECVERR),
            ):
                continue
            _, origin, icmp_type, code, _, _, _ = _EXTENDED_ERR.unpack_from(data)
            if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6) or not name:
                return
            offender = _offender(data[_EXTENDED_ERR.size :])
            table = _V6 if origin == SO_EE_ORIGIN_ICMP6 else _V4
            said = table.get((icmp_type, code), f"ICMP type {icmp_type} code {code}")
            tos = None
            if ipv6 and len(name) >= 3:
                tos = (int(name[2]) >> 20) & 0xFF  # the quoted header's traffic class
            self.answered(int(name[1]), offender, said, received_ns, tos)

    def quoted(self, packet: bytes, source_port: int) -> None:
        """A raw ICMP packet: keep the TOS of our quoted IPv4 header, by destination port."""
        if len(packet) < 20:
            return
        outer = (packet[0] & 0x0F) * 4
        quoted = outer + 8
        if len(packet) < quoted + 20 or packet[outer] not in (3, 11) or packet[quoted + 9] != 17:
            return
        udp = quoted + (packet[quoted] & 0x0F) * 4
        to = socket.inet_ntoa(packet[quoted + 16 : quoted + 20])
        if len(packet) < udp + 4 or to != self.address:
            return
        source, destination = struct.unpack_from("!HH", packet, udp)
        if source == source_port:
            self.quoted_tos[destination] = packet[quoted + 1]
            self._count_tos(destination)

    def _count_tos(self, port: int) -> None:
        """Count a quoted TOS once its probe's answer is counted (either may come first)."""
        probe = self.inflight.get(port)
        if (
            probe is not None
            and probe.answered
            and not probe.tos_counted
            and port in self.quoted_tos
        ):
            probe.tos_counted = True
            self.hops[probe.ttl].dscp[self.quoted_tos.pop(port) >> 2] += 1

    def answered(self, port: int, offender: str, said: str, at_ns: int, tos: int | None) -> None:
        """Count an answer to the probe sent to `port` (once; a late one is a loss)."""
        probe = self.inflight.get(port)
        if probe is None or probe.answered:
            return
        rtt = at_ns - probe.sent_ns
        if rtt > self.timeout_ns:
            return  # later than the timeout: lost, by definition
        probe.answered = True
        hop = self.hops[probe.ttl]
        hop.received += 1
        hop.addresses[offender] += 1
        hop.answers[said] += 1
        hop.rtt.add(probe.round, max(0, rtt))
        if tos is not None:
            hop.dscp[tos >> 2] += 1
        self._count_tos(port)
        if said != TIME_EXCEEDED:
            if offender == self.address or said in ("port unreachable", "udp reply"):
                if self.destination is None or probe.ttl < self.destination:
                    self.destination = probe.ttl
            elif self.dead_end is None:
                self.dead_end = {"hop": probe.ttl, "address": offender, "said": said}

    def hop_records(self, last: int) -> list[dict[str, Any]]:
        """Each hop up to `last`."""
        return [self.hops[ttl].record() for ttl in sorted(self.hops) if ttl <= last]


class HopProbeClient:
    """`count` rounds, `interval` s apart, of one probe per hop toward `host`."""

    def __init__(
        self,
        host: str,
        port: int = BASE_PORT,
        *,
        interval: float,
        count: int,
        timeout: float,
        dscp: int | None = None,
        size: int = 64,
        max_hops: int = DEFAULT_MAX_HOPS,
        socket_factory: Any = None,
    ) -> None:
        self.host = host
        self.base = min(port, 65535 - PORT_SPAN + 1)
        self.interval_ns = round(interval * 1e9)
        self.count = count
        self.timeout_ns = round(timeout * 1e9)
        self.dscp = dscp
        self.size = max(size, _PAYLOAD.size)
        self.max_hops = max_hops
        self.opener = socket_factory or socket.socket
        self.session = random.getrandbits(32)
        self.serial = 0
        self.family = socket.AF_INET
        self.port = 0  # our source port (the raw socket's filter)
        self.answers = _Answers("", self.timeout_ns)

    def _open(self) -> tuple[socket.socket, socket.socket | None, str | None]:
        """The UDP socket, and the raw ICMP socket (IPv4 DSCP) or why there is none."""
        family, _, _, _, address = socket.getaddrinfo(self.host, None, type=socket.SOCK_DGRAM)[0]
        self.family, self.answers.address = family, str(address[0])
        sock = self.opener(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        set_dscp(sock, family, self.dscp)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FLOWINFO_SEND, 1)
            sock.bind(("::", 0))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.bind(("0.0.0.0", 0))
        self.port = sock.getsockname()[1]
        if family == socket.AF_INET6:
            return sock, None, None
        try:
            raw = self.opener(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            return (
                sock,
                None,
                (
                    "IPv4 hop DSCP needs the quoted IP header, which only a raw ICMP socket "
                    "(CAP_NET_RAW) can read; this process may not open one"
                ),
            )
        # Receive only (it never sends), and only the two kinds of errors probes cause.
        raw.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~_WANTED_ICMP & 0xFFFFFFFF))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return sock, raw, None

    def _send(self, sock: socket.socket, round_: int, ttl: int) -> None:
        port = self.base + self.serial % PORT_SPAN
        self.serial += 1
        level, option = (
            (socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS)
            if self.family == socket.AF_INET6
            else (socket.IPPROTO_IP, socket.IP_TTL)
        )
        sock.setsockopt(level, option, ttl)
        payload = _PAYLOAD.pack(MAGIC, self.session, round_ & 0xFFFF, ttl).ljust(self.size, b"\0")
        # An earlier probe's ICMP error is reported once on the socket (sk_err), and a send
        # that meets it fails and clears it: the error itself waits in the queue; send again.
        for _attempt in range(2):
            sent_ns = time.time_ns()
            try:
                sock.sendto(payload, (self.answers.address, port))
            except OSError:
                continue
            self.answers.sent(port, round_, ttl, sent_ns)
            return
        self.answers.hops.setdefault(ttl, _Hop(ttl))

    def _drain(self, sock: socket.socket, raw: socket.socket | None) -> None:
        """Read every queued ICMP error (and the raw socket's copies of them)."""
        ipv6 = self.family == socket.AF_INET6
        for _ in range(_DRAIN_LIMIT):
            try:
                _, ancillary, _, name = sock.recvmsg(
                    2048, ANCILLARY, MSG_ERRQUEUE | socket.MSG_DONTWAIT
                )
            except (BlockingIOError, InterruptedError):
                break
            self.answers.error(ancillary, name, ipv6)
        for _ in range(_DRAIN_LIMIT if raw is not None else 0):
            try:
                packet = raw.recv(2048, socket.MSG_DONTWAIT)  # type: ignore[union-attr]
            except (BlockingIOError, InterruptedError):
                break
            self.answers.quoted(packet, self.port)
        # A reply from something listening at the destination port: the destination answered.
        for _ in range(_DRAIN_LIMIT):
            try:
                _, _, _, name = sock.recvmsg(2048, ANCILLARY, socket.MSG_DONTWAIT)
            except OSError:  # nothing queued, or an error the queue above will give
                break
            self.answers.answered(int(name[1]), str(name[0]), "udp reply", time.time_ns(), None)

    def _wait(
        self,
        sock: socket.socket,
        raw: socket.socket | None,
        until_ns: int,
        done: Callable[[], bool] = lambda: False,
    ) -> None:
        """Read answers until the monotonic clock reaches `until_ns` or `done()`."""
        # A queued error makes the socket readable (POLLERR), as a datagram would.
        watched = [sock] if raw is None else [sock, raw]
        for _ in range(100_000):
            remaining = (until_ns - time.monotonic_ns()) / 1e9
            if remaining <= 0 or done():
                return
            select.select(watched, [], [], remaining)
            self._drain(sock, raw)

    def _discover(self, sock: socket.socket, raw: socket.socket | None) -> int:
        """Round 0: one TTL at a time until the destination (or a dead end) answers."""
        answers = self.answers
        silent = 0
        ttl = 0
        while ttl < self.max_hops and not answers.ended and silent < SILENT_LIMIT:
            ttl += 1
            self._send(sock, 0, ttl)
            hop = answers.hops[ttl]
            deadline = time.monotonic_ns() + self.timeout_ns
            self._wait(sock, raw, deadline, lambda: hop.received > 0 or answers.ended)  # noqa: B023
            silent = 0 if hop.received else silent + 1
        return answers.destination or (answers.dead_end or {}).get("hop") or ttl

    def run(self) -> dict[str, Any]:
        """Probe and return the JSON-ready record."""
        started_wall = time.time()
        sock, raw, no_dscp = self._open()
        try:
            start = time.monotonic_ns()
            last = self._discover(sock, raw)
            for round_ in range(1, self.count):
                self._wait(sock, raw, start + round_ * self.interval_ns)
                for ttl in range(1, last + 1):
                    self._send(sock, round_, ttl)
                self._drain(sock, raw)
            end = time.monotonic_ns() + self.timeout_ns
            self._wait(sock, raw, end, self.answers.all_answered)
        finally:
            sock.close()
            if raw is not None:
                raw.close()
        return self._record(last, started_wall, no_dscp, raw is not None)

    def _record(self, last: int, started: float, no_dscp: str | None, raw: bool) -> dict[str, Any]:
        hops = self.answers.hop_records(last)
        ipv6 = self.family == socket.AF_INET6
        source = "quoted IPv6 header (error queue flow information)" if ipv6 else None
        if raw:
            source = "quoted IPv4 header (raw ICMP socket, receive only)"
        return {
            "kind": "hops",
            "host": self.host,
            "port": self.base,
            "family": 6 if ipv6 else 4,
            "interval": self.interval_ns / 1e9,
            "rounds": self.count,
            "max_hops": self.max_hops,
            "started": started,
            "sent": sum(hop["sent"] for hop in hops),
            "received": sum(hop["received"] for hop in hops),
            "destination_hop": self.answers.destination,
            "dead_end": self.answers.dead_end,
            "dscp": {"sent": self.dscp or 0, "source": source, "unavailable": no_dscp},
            "hops": hops,
        }


def _offender(data: bytes) -> str:
    """The address in a struct sockaddr_in / sockaddr_in6 after the extended error."""
    if len(data) >= 24 and int.from_bytes(data[:2], sys.byteorder) == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, data[8:24])
    if len(data) >= 8:
        return socket.inet_ntoa(data[4:8])
    return ""
