"""The tcp probe: how long a TCP connect (SYN → SYN-ACK) takes, as an application feels it.

Connects are non-blocking and overlap: a SYN that is lost (and retransmitted by the kernel)
never delays the next probe, which leaves on its own schedule; a connect not done within
`timeout` is a lost probe, and the run ends at last send + timeout.
"""

from __future__ import annotations

import contextlib
import errno
import math
import resource
import select
import socket
import struct
import time
from typing import Any

from ..errors import MeasurementError
from .clock import (
    Lateness,
    ScheduledClient,
    host_port,
    restore_timer_slack,
    send_priority,
    set_dscp,
    tighten_timer_slack,
)
from .hdr import Recorder, Series, series_period
from .live import LiveWindows
from .udp import SocketFactory

_LINGER_RESET = struct.pack("ii", 1, 0)
_FD_RESERVE = 64  # descriptors left for everything else in this process
_MAX_PENDING = 4096
_FINE_STEP_S = 0.0002  # the wait before a send, under 1 ms: connects are read this often


class _Pending:
    """One connect in flight."""

    __slots__ = ("began", "deadline", "seq", "sock")

    def __init__(self, sock: socket.socket, seq: int, began: int, deadline: int) -> None:
        self.sock = sock
        self.seq = seq
        self.began = began
        self.deadline = deadline


class TcpProbeClient(ScheduledClient):
    """Opens `count` connections every `interval` s and times each connect()."""

    socket_factory: SocketFactory = socket.socket
    live: LiveWindows | None = None  # set to see figures per interval while it runs

    def run(self) -> dict[str, Any]:
        """Probe and return the JSON-ready record."""
        slack = tighten_timer_slack()
        try:
            return self._run()
        finally:
            restore_timer_slack(slack)

    def _run(self) -> dict[str, Any]:
        family, _, _, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        )[0]
        self._family, self._address = family, address
        self._timeout_ns = round(self.timeout * 1e9)
        self._recorder = Recorder(keep_seqs=True)
        per_point = series_period(self.interval_ns / 1e9, self.count)
        self._series = Series(
            self.count, per_point, int(self._timeout_ns / (per_point * self.interval_ns)) + 2
        )
        self._refused = self._lost = self._skipped = 0
        lateness = Lateness()
        cpu_before = _cpu_seconds()
        started_wall = time.time()
        with send_priority(self.realtime) as priority:
            lateness.priority = priority
            sent = self._probe(lateness)
        if self._refused == self.count:
            raise MeasurementError(
                f"connection refused by {host_port(self.host, self.port)} — is anything "
                f"listening on port {self.port}? (the responder listens on TCP too: "
                f"'python -m pytest_qos responder --bind ADDR --port {self.port}')"
            )
        return {
            "kind": "tcp",
            "host": self.host,
            "port": self.port,
            "sent": sent,
            "received": self._recorder.histogram.count,
            "interval": self.interval_ns / 1e9,
            "started": started_wall,
            "rtt": self._recorder.summary(sent),  # lost connects rank as infinitely late
            "replies": self._recorder.replies(),
            "reordered": 0,
            "series": {
                "period": per_point * self.interval_ns / 1e9,
                "points": self._series.finish(),
            },
            "refused": self._refused,
            "timed_out": self._lost,
            "skipped": self._skipped,
            "cpu_s": _cpu_seconds() - cpu_before,
            **lateness.summary(),
        }

    def _probe(self, lateness: Lateness) -> int:
        """Start each connect on schedule, finish those that complete; returns probes sent."""
        limit = min(_MAX_PENDING, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - _FD_RESERVE)
        pending: dict[int, _Pending] = {}
        poller = select.poll()
        start = time.monotonic_ns()
        next_seq = 0
        live = self.live
        if live is not None:
            live.begin(start)
        # Each pass starts a connect, or waits (at most ~1 ms short of the next event, then in
        # 0.2 ms steps): a dozen passes per probe at most, plus the final timeout.
        for _ in range(self.count * 12 + 1000 + int(self.timeout * 1000)):
            now = time.monotonic_ns()
            scheduled = start + next_seq * self.interval_ns
            if next_seq < self.count and now >= scheduled:
                lateness.add(now - scheduled)
                if len(pending) >= max(1, limit):
                    self._skipped += 1  # out of descriptors: counted as lost
                else:
                    self._start(next_seq, now + self._timeout_ns, pending, poller)
                if live is not None:
                    live.sent(next_seq)
                next_seq += 1
                continue
            if next_seq >= self.count and not pending:
                break
            wake = min((p.deadline for p in pending.values()), default=scheduled)
            if next_seq < self.count:
                wake = min(wake, scheduled)
            if live is not None:
                live.tick(now)  # between sends: a hand-off never delays one
            for fd, _ in _wait(poller, wake):
                self._finish(pending.pop(fd), poller)
            now = time.monotonic_ns()
            for fd in [fd for fd, p in pending.items() if p.deadline <= now]:
                self._lost += 1
                self._close(pending.pop(fd), poller)
        for entry in list(pending.values()):  # only if the pass bound was hit
            self._lost += 1
            self._close(entry, poller)
        if live is not None:
            live.finish()
        return next_seq

    def _start(self, seq: int, deadline: int, pending: dict[int, _Pending], poller: Any) -> None:
        sock = self.socket_factory(self._family, socket.SOCK_STREAM)
        set_dscp(sock, self._family, self.dscp)
        # Close with a reset: thousands of probes must not leave TIME_WAIT sockets behind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        sock.setblocking(False)
        began = time.perf_counter_ns()
        result = sock.connect_ex(self._address)
        entry = _Pending(sock, seq, began, deadline)
        if result in (errno.EINPROGRESS, errno.EAGAIN, 0):
            pending[sock.fileno()] = entry
            poller.register(sock.fileno(), select.POLLOUT)
            return
        if result == errno.ECONNREFUSED:
            self._refused += 1
        else:
            self._lost += 1  # unreachable: no answer either way
        sock.close()

    def _finish(self, entry: _Pending, poller: Any) -> None:
        elapsed = time.perf_counter_ns() - entry.began
        error = entry.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._close(entry, poller)
        if error == errno.ECONNREFUSED:
            self._refused += 1
        elif error or elapsed > self._timeout_ns:
            self._lost += 1
        else:
            self._recorder.add(entry.seq, elapsed)
            self._series.add(entry.seq, elapsed)
            if self.live is not None:
                self.live.reply(entry.seq, elapsed)

    @staticmethod
    def _close(entry: _Pending, poller: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            poller.unregister(entry.sock.fileno())
        entry.sock.close()


def _wait(poller: Any, wake_ns: int) -> list[tuple[int, int]]:
    """Events until `wake_ns`: poll() counts whole ms (rounded up), so the last ms is slept."""
    wait_ms = (wake_ns - time.monotonic_ns()) / 1e6
    if wait_ms >= 1.0:
        events: list[tuple[int, int]] = poller.poll(math.floor(wait_ms))
        return events
    events = poller.poll(0)
    if not events and wait_ms > 0:
        time.sleep(min(wait_ms / 1e3, _FINE_STEP_S))
    return events


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime
