"""Kernel receive timestamps and a send schedule that late wake-ups never shift."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .hdr import Histogram

# Not exported by Python's socket module; values from <asm-generic/socket.h> (Linux).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
# Room for a receive time, a TOS / traffic-class byte and a TTL / hop limit (ints for IPv6).
ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size) + 2 * socket.CMSG_SPACE(4)
# The shortest interval between probes a client keeps on a busy 2-core host: at 1 ms the
# median send is under 0.35 ms late for every kind; at 0.1 ms a tcp probe fell 0.4-6.7 ms
# behind (median) and a udp one up to 0.15 ms; faster, the probe measures itself.
MIN_INTERVAL = 0.001
_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30
IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)
IPV6_RECVTCLASS = getattr(socket, "IPV6_RECVTCLASS", 66)
IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
# The lowest real-time priority: ahead of every normal task, behind any other real-time one.
REALTIME_PRIORITY = 1
LATE_NS = 1_000_000  # a send later than this is counted in send_late_over_1ms


def enable_kernel_timestamps(sock: socket.socket) -> None:
    """Ask the kernel to stamp each received datagram (CLOCK_REALTIME, ns) on `sock`."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def kernel_timestamp(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The SCM_TIMESTAMPNS receive time in ns from recvmsg's ancillary data, if present."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return int(seconds) * 1_000_000_000 + int(nanoseconds)
    return None


def enable_receive_tos(sock: socket.socket, family: int) -> None:
    """Ask the kernel for the TOS byte (IPv4) or traffic class (IPv6) of each datagram."""
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)


def enable_receive_ttl(sock: socket.socket, family: int) -> None:
    """Ask the kernel for the TTL (IPv4) or hop limit (IPv6) of each datagram."""
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)


def received_ttl(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The TTL / hop limit from recvmsg's ancillary data, if present."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder) & 0xFF
        if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder) & 0xFF
    return None


def received_tos(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The TOS / traffic-class byte from recvmsg's ancillary data, if present."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == socket.IP_TOS and data:
            return data[0]
        if level == socket.IPPROTO_IPV6 and kind == IPV6_TCLASS and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder) & 0xFF
    return None


def tighten_timer_slack() -> int | None:
    """Wake from select() within ~1 µs of the deadline instead of the default 50 µs slack.

    Per thread; returns the previous slack (ns) so an in-process client can restore it.
    """
    with contextlib.suppress(Exception):
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        previous = int(prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0))
        prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)
        return previous if previous > 0 else None
    return None


def restore_timer_slack(previous: int | None) -> None:
    """Undo tighten_timer_slack on this thread."""
    if previous is not None:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, previous, 0, 0, 0)


def set_dscp(sock: socket.socket, family: int, dscp: int | None) -> None:
    """Mark every packet `sock` sends: IP_TOS (IPv4) or IPV6_TCLASS (IPv6) = dscp << 2."""
    if dscp is None:
        return
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, dscp << 2)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)


def wait_readable(sock: socket.socket, until_ns: int) -> bool:
    """Block until `sock` is readable or the monotonic clock reaches `until_ns`."""
    remaining = (until_ns - time.monotonic_ns()) / 1e9
    if remaining <= 0:
        return False
    readable, _, _ = select.select([sock], [], [], remaining)
    return bool(readable)


@contextlib.contextmanager
def send_priority(realtime: bool = True) -> Iterator[str]:
    """Run the block on this thread at real-time priority (SCHED_FIFO) when allowed.

    Yields what the sends ran at: 'realtime' or 'normal (why)'. A woken real-time thread
    preempts every normal task at once, so a busy machine no longer delays the sends (measured:
    benchmarks/bench_probes.py). The thread's own policy is restored after the block; a fork
    from it would not inherit the priority (SCHED_RESET_ON_FORK).
    """
    if not realtime:
        yield "normal (real-time priority not asked for)"
        return
    try:
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        flags = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
        os.sched_setscheduler(0, flags, os.sched_param(REALTIME_PRIORITY))
    except (AttributeError, OSError) as error:
        refused = f"normal (no real-time priority: {getattr(error, 'strerror', None) or error})"
    else:
        refused = ""
    if refused:
        yield refused
        return
    try:
        yield "realtime"
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, param)


class Lateness:
    """How far sends fell behind their schedule, in constant memory."""

    def __init__(self) -> None:
        self.histogram = Histogram()
        self.over_1ms = 0
        self.priority = ""  # what the sends ran at (send_priority)

    def add(self, late_ns: int) -> None:
        """Record one send `late_ns` after its scheduled time."""
        self.histogram.add(late_ns)
        if late_ns > LATE_NS:
            self.over_1ms += 1

    def summary(self) -> dict[str, float | str]:
        """p50, p99, max (s), the percent of sends over 1 ms late, and the send priority."""
        histogram = self.histogram
        if not histogram.count:
            return {}
        ranks = histogram.percentiles((50, 99))
        return {
            "send_late_p50": ranks[50] / 1e9,
            "send_late_p99": ranks[99] / 1e9,
            "send_late_max": histogram.max / 1e9,
            "send_late_over_1ms": 100.0 * self.over_1ms / histogram.count,
            **({"send_priority": self.priority} if self.priority else {}),
        }


def host_port(host: str, port: int) -> str:
    """'198.18.1.2:7000' or '[2001:2::2]:7000'."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Schedule:
    """How a probe client sends: `count` probes every `interval` s, marked `dscp`; a reply
    later than `timeout` s is lost."""

    interval: float
    count: int
    timeout: float
    dscp: int | None = None


class ScheduledClient:
    """What every probe client is given: where to, and its schedule."""

    # Send at real-time priority where the process may (root, CAP_SYS_NICE or RLIMIT_RTPRIO);
    # False keeps the normal policy (the benchmarks compare both).
    realtime = True

    def __init__(self, host: str, port: int, schedule: Schedule) -> None:
        self.host = host
        self.port = port
        self.interval_ns = round(schedule.interval * 1e9)
        self.count = schedule.count
        self.timeout = schedule.timeout
        self.dscp = schedule.dscp
