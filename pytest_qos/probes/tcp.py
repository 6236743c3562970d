"""The tcp probe: how long a TCP connect (SYN → SYN-ACK) takes, as an application feels it."""

from __future__ import annotations

import contextlib
import resource
import socket
import struct
import time
from typing import Any

from ..errors import MeasurementError
from .clock import (
    ScheduledClient,
    host_port,
    lateness_summary,
    set_dscp,
    tighten_timer_slack,
)

_LINGER_RESET = struct.pack("ii", 1, 0)


class TcpProbeClient(ScheduledClient):
    """Opens `count` connections every `interval` s and times each connect()."""

    def run(self) -> dict[str, Any]:
        """Probe and return the JSON-ready record: replies (seq, connect time) in order."""
        tighten_timer_slack()
        family, _, _, _, address = socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        )[0]
        replies: list[list[float]] = []
        lateness: list[int] = []
        refused = 0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = usage.ru_utime + usage.ru_stime
        started_wall = time.time()
        start = time.monotonic_ns()
        for seq in range(self.count):
            scheduled = start + seq * self.interval_ns
            delay = (scheduled - time.monotonic_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            lateness.append(time.monotonic_ns() - scheduled)
            connect_time = self._connect_once(family, address)
            if connect_time is None:
                continue
            if connect_time < 0:
                refused += 1
                continue
            replies.append([seq, connect_time])
        if refused == self.count:
            raise MeasurementError(
                f"connection refused by {host_port(self.host, self.port)} — is anything "
                f"listening on port {self.port}? (the responder listens on TCP too: "
                f"'python -m pytest_qos responder --bind ADDR --port {self.port}')"
            )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "kind": "tcp",
            "host": self.host,
            "port": self.port,
            "sent": self.count,
            "interval": self.interval_ns / 1e9,
            "started": started_wall,
            "replies": replies,
            "refused": refused,
            "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before,
            **lateness_summary(lateness),
        }

    def _connect_once(self, family: int, address: Any) -> float | None:
        """Seconds one connect took; None on timeout, -1.0 when refused."""
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            set_dscp(sock, family, self.dscp)
            # Close with a reset: thousands of probes must not leave TIME_WAIT sockets behind.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.settimeout(self.timeout)
            began = time.perf_counter_ns()
            try:
                sock.connect(address)
            except ConnectionRefusedError:
                return -1.0
            except OSError:
                return None  # timed out, or unreachable: no answer either way
            elapsed = (time.perf_counter_ns() - began) / 1e9
            with contextlib.suppress(OSError):
                sock.close()
            return elapsed if elapsed <= self.timeout else None
