"""The far end of the udp and tcp probes: a STAMP session-reflector and a TCP listener.

Reflects STAMP test packets (RFC 8762 unauthenticated mode, RFC 8972 Class-of-Service TLV)
the same size as they came (no amplification), only to sources `allow` admits, at most
`rate` packets per second per source address, and accepts and closes TCP connections (from
`allow`'s sources only: a socket filter drops other SYNs in the kernel).

Never a loop: a reflector's own packet (its Receive Timestamp and the session-sender's fields
fill the 28 bytes a session-sender must send as zero) is never reflected, nor is anything from
a port where reflectors and echo services listen, so two reflectors cannot bounce one forged
datagram between them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..hosts.target import RESPONDER_PORT
from . import sockfilter, stamp
from .clock import (
    ANCILLARY_SIZE,
    enable_kernel_timestamps,
    enable_receive_tos,
    enable_receive_ttl,
    kernel_timestamp,
    received_tos,
    received_ttl,
    set_dscp,
)
from .timesync import SyncUnreadable, read_sync_state

_BATCH = 256  # datagrams handled per wake-up before checking the lifetime again
MAX_SESSIONS = 65_536  # stateful sessions and rate-limit buckets kept at most
SESSION_IDLE_S = 300.0  # a stateful session forgotten after this long without a packet
DEFAULT_RATE = 2000.0  # packets per second per source address
_SYNC_REFRESH_S = 60.0
_SWEEP_S = 10.0
_STOP_POLL_S = 0.2  # how often serve() looks at stop()
# Never answer a port where reflectors and echo-like services listen (echo, daytime, qotd,
# chargen, time, NTP, OWAMP, STAMP/TWAMP, our responder's default): a forged source there
# would make two of them answer each other. Port 0 is no sender's.
LOOP_PORTS = frozenset({0, 7, 13, 17, 19, 37, 123, 861, stamp.STAMP_PORT, RESPONDER_PORT})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Policy:
    """Who may use the reflector, and how fast."""

    allow: Sequence[Network] = ()  # empty: every source
    rate: float = DEFAULT_RATE  # packets/s per source address; 0: unlimited
    burst: float = 0.0  # bucket depth; 0: a tenth of a second of `rate`, at least 50
    stateful: bool = True
    _buckets: dict[str, list[float]] = field(default_factory=dict)

    @staticmethod
    def parse_network(text: str) -> Network:
        """A network such as 198.18.1.0/24 (an address alone is a /32 or /128)."""
        return ipaddress.ip_network(text, strict=False)

    def admits(self, address: str, now: float) -> bool:
        """True when `address` is allowed and within its rate (a token bucket per address)."""
        if self.allow and not _allowed(address, self.allow):
            return False
        if self.rate <= 0:
            return True
        depth = self.burst or max(50.0, self.rate / 10)
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= MAX_SESSIONS:
                self._forget_idle(now)
                if len(self._buckets) >= MAX_SESSIONS:
                    return False  # a flood of sources: new ones wait
            bucket = self._buckets[address] = [depth, now]
        tokens = min(depth, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1
        return True

    def _forget_idle(self, now: float) -> None:
        depth = self.burst or max(50.0, self.rate / 10)
        full_after = depth / self.rate
        for key in [k for k, (_, last) in self._buckets.items() if now - last > full_after]:
            del self._buckets[key]


def _allowed(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


class Sessions:
    """Stateful mode: each session's own count of reflected packets (RFC 8762 §4.3.2), keyed by
    source address, port and SSID; bounded, idle ones forgotten."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int, int], list[float]] = {}
        self._swept = time.monotonic()

    def __len__(self) -> int:
        return len(self.counts)

    def next_seq(self, source: str, port: int, datagram: bytes) -> int:
        """The reflector's sequence number for this packet of its session."""
        ssid = int.from_bytes(datagram[14:16], "big")
        key = (source, port, ssid)
        now = time.monotonic()
        session = self.counts.get(key)
        if session is None:
            if len(self.counts) >= MAX_SESSIONS:
                for old in [k for k, (_, seen) in self.counts.items() if now - seen > 1.0]:
                    del self.counts[old]
            session = self.counts[key] = [0, now]
        seq = int(session[0])
        session[0] = (seq + 1) & 0xFFFFFFFF
        session[1] = now
        if now - self._swept > _SWEEP_S:  # forget idle sessions, a bounded pass now and then
            self._swept = now
            for old in [k for k, (_, seen) in self.counts.items() if now - seen > SESSION_IDLE_S]:
                del self.counts[old]
        return seq


class Responder:
    """STAMP reflectors (one per UDP port) and a TCP listener on one address."""

    def __init__(
        self,
        bind: str,
        port: int,
        *,
        tcp: bool = True,
        policy: Policy | None = None,
        extra_udp_ports: Sequence[int] = (),
    ) -> None:
        self.family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self.policy = policy or Policy()
        self.udp: list[socket.socket] = []
        self.tcp: socket.socket | None = None
        self.sessions = Sessions()
        self.counts = {
            "reflected": 0,
            "refused": 0,
            "rate_limited": 0,
            "malformed": 0,
            "looped": 0,  # reflected packets and reflector ports: never answered
        }
        self.error_field = stamp.ErrorEstimate(False, 1.0).encode()
        self._sync_checked = 0.0
        self._stopping = False
        self._tos: dict[int, int] = {}  # the TOS each UDP socket currently sends with
        self._own_ports: frozenset[int] = frozenset()
        try:
            self.port = self._open_udp(bind, port)
            for extra in extra_udp_ports:
                with contextlib.suppress(OSError):  # taken, or not privileged: only the main one
                    self._open_udp(bind, extra)
            self._own_ports = frozenset(self.udp_ports)
            if tcp:
                self.tcp = self._listen(bind)
        except OSError:
            self.close()
            raise

    def _listen(self, bind: str) -> socket.socket:
        """The TCP listener; with `allow`, a kernel filter drops SYNs from other sources."""
        listener = socket.socket(self.family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.policy.allow:
                try:
                    sockfilter.attach(listener, self.policy.allow)
                except OSError as error:
                    raise OSError(
                        error.errno,
                        f"--allow cannot guard the TCP listener here ({error.strerror}); "
                        "run with --no-tcp",
                    ) from None
            listener.bind((bind, self.port))
            listener.listen(4096)
        except OSError:
            listener.close()
            raise
        return listener

    def _open_udp(self, bind: str, port: int) -> int:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            enable_kernel_timestamps(sock)
            enable_receive_tos(sock, self.family)
            enable_receive_ttl(sock, self.family)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((bind, port))
        except OSError:
            sock.close()
            raise
        self.udp.append(sock)
        return int(sock.getsockname()[1])

    @property
    def udp_ports(self) -> list[int]:
        """Every UDP port reflecting."""
        return [int(sock.getsockname()[1]) for sock in self.udp]

    def stop(self) -> None:
        """Make serve() return within a fraction of a second (from another thread)."""
        self._stopping = True

    def __enter__(self) -> Responder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket."""
        for sock in self.udp:
            sock.close()
        if self.tcp is not None:
            self.tcp.close()

    def serve(self, lifetime: float | None = None) -> None:
        """Answer until killed, or until `lifetime` seconds have passed."""
        deadline = None if lifetime is None else time.monotonic() + lifetime
        sockets = [*self.udp, *([self.tcp] if self.tcp is not None else [])]
        while (deadline is None or time.monotonic() < deadline) and not self._stopping:
            wait = _STOP_POLL_S
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            readable, _, _ = select.select(sockets, [], [], wait)
            self._refresh_sync()
            for sock in readable:
                if sock is self.tcp:
                    self._accept()
                else:
                    self._reflect(sock)

    def _refresh_sync(self) -> None:
        """Keep the Error Estimate field current (S bit and error from adjtimex)."""
        now = time.monotonic()
        if now - self._sync_checked < _SYNC_REFRESH_S and self._sync_checked:
            return
        self._sync_checked = now
        with contextlib.suppress(SyncUnreadable):
            state = read_sync_state()
            self.error_field = stamp.ErrorEstimate(state.synced, state.error).encode()

    def _reflect(self, sock: socket.socket) -> None:
        for _ in range(_BATCH):
            try:
                datagram, ancillary, _, address = sock.recvmsg(
                    65535, ANCILLARY_SIZE, socket.MSG_DONTWAIT
                )
            except (BlockingIOError, ConnectionRefusedError):
                return
            received_ns = kernel_timestamp(ancillary) or time.time_ns()
            if len(datagram) < stamp.PACKET_SIZE:
                self.counts["malformed"] += 1
                continue  # not a STAMP test packet: never reflect arbitrary traffic
            source, source_port = str(address[0]), int(address[1])
            if is_loop(datagram, source_port, self._own_ports):
                self.counts["looped"] += 1
                continue
            if not self.policy.admits(source, time.monotonic()):
                key = "refused" if self.policy.allow else "rate_limited"
                if self.policy.allow and _allowed(source, self.policy.allow):
                    key = "rate_limited"
                self.counts[key] += 1
                continue
            seq = (
                self.sessions.next_seq(source, source_port, datagram)
                if self.policy.stateful
                else None
            )
            tos = received_tos(ancillary)
            reply, dscp1 = stamp.reflect(
                datagram,
                seq=seq,
                t2_ns=received_ns,
                t3_ns=0,
                error=self.error_field,
                ttl=received_ttl(ancillary) or 0,
                tos=tos,
            )
            self._send(sock, reply, address, dscp1)

    def _send(self, sock: socket.socket, reply: bytearray, address: Any, dscp1: int | None) -> None:
        # The marking asked for, set on the socket only when it changes: a plain sendto is the
        # shortest path from the T3 stamp to the wire (sendmsg with a TOS cmsg added µs).
        tos = 0 if dscp1 is None else dscp1 << 2
        if self._tos.get(sock.fileno()) != tos:
            with contextlib.suppress(OSError):
                set_dscp(sock, self.family, tos >> 2)
                self._tos[sock.fileno()] = tos
        # T3 as late as possible, as TWAMP's reflector does: the gap to the wire is the syscall.
        stamp.set_transmit_time(reply, time.time_ns())
        try:
            sock.sendto(reply, address)
        except OSError:
            return
        self.counts["reflected"] += 1

    def _accept(self) -> None:
        assert self.tcp is not None
        with contextlib.suppress(OSError):
            connection, peer = self.tcp.accept()
            connection.close()
            if self.policy.allow and not _allowed(str(peer[0]), self.policy.allow):
                self.counts["refused"] += 1  # only if the kernel filter let it through


def is_loop(datagram: bytes, source_port: int, own_ports: frozenset[int]) -> bool:
    """True for what a reflector must never answer: a reflector's own packet (a session-sender
    sends bytes 16-43 as zero, RFC 8762 §4.2.1; a reflector fills them with its Receive
    Timestamp and the sender's fields, §4.3.1), or a datagram from a reflector's port."""
    if source_port in LOOP_PORTS or source_port in own_ports:
        return True
    return any(datagram[stamp.SENDER.size : stamp.PACKET_SIZE])


def serve(
    bind: str,
    port: int | None,
    *,
    tcp: bool = True,
    lifetime: float | None = None,
    policy: Policy | None = None,
) -> int:
    """Run a responder in the foreground (the `responder` command); returns an exit code."""
    chosen = RESPONDER_PORT if port is None else port
    # Without --port, also the IANA STAMP port when the privilege to bind it is there.
    extra = [stamp.STAMP_PORT] if port is None else []
    try:
        responder = Responder(bind, chosen, tcp=tcp, policy=policy, extra_udp_ports=extra)
    except OSError as error:
        print(
            f"responder: cannot listen on {bind} port {chosen}: {error.strerror}", file=sys.stderr
        )
        return 2
    ports = " and ".join(str(p) for p in responder.udp_ports)
    mode = "stateful" if responder.policy.stateful else "stateless"
    print(
        f"responder: listening on {bind} port {ports} (STAMP {mode} reflector"
        f"{', TCP' if tcp else ''})",
        file=sys.stderr,
        flush=True,
    )
    try:
        responder.serve(lifetime)
    except KeyboardInterrupt:
        pass
    finally:
        responder.close()
        counts = ", ".join(f"{key} {value}" for key, value in responder.counts.items())
        print(f"responder: {counts}", file=sys.stderr, flush=True)
    return 0
