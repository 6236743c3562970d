"""Kernel receive timestamps and a send schedule that late wake-ups never shift."""

from __future__ import annotations

import contextlib
import ctypes
import select
import socket
import struct
import time

# Not exported by Python's socket module; values from <asm-generic/socket.h> (Linux).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)
_PR_SET_TIMERSLACK = 29


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


def tighten_timer_slack() -> None:
    """Wake from select() within ~1 µs of the deadline instead of the default 50 µs slack."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)


def set_dscp(sock: socket.socket, family: int, dscp: int | None) -> None:
    """Mark every packet `sock` sends: IP_TOS (IPv4) or IPV6_TCLASS (IPv6) = dscp << 2."""
    if dscp is None:
        return
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, dscp << 2)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)


def wait_readable(sock: socket.socket, until_ns: int) -> bool:
    """Block until `sock` is readable or the monotonic clock reaches `until_ns`."""
    remaining = (until_ns - time.monotonic_ns()) / 1e9
    if remaining <= 0:
        return False
    readable, _, _ = select.select([sock], [], [], remaining)
    return bool(readable)


def lateness_summary(lateness_ns: list[int]) -> dict[str, float]:
    """How far sends fell behind their schedule: p50, p99, max (s) and the share over 1 ms."""
    if not lateness_ns:
        return {}
    ordered = sorted(lateness_ns)

    def rank(percent: float) -> float:
        index = max(0, -(-len(ordered) * percent // 100) - 1)
        return ordered[int(index)] / 1e9

    over = sum(1 for late in ordered if late > 1_000_000)
    return {
        "send_late_p50": rank(50),
        "send_late_p99": rank(99),
        "send_late_max": ordered[-1] / 1e9,
        "send_late_over_1ms": 100.0 * over / len(ordered),
    }


def host_port(host: str, port: int) -> str:
    """'198.18.1.2:7000' or '[2001:2::2]:7000'."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ScheduledClient:
    """What every probe client is given: where to, how often, how many, how long to wait."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        interval: float,
        count: int,
        timeout: float,
        dscp: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.interval_ns = round(interval * 1e9)
        self.count = count
        self.timeout = timeout
        self.dscp = dscp
