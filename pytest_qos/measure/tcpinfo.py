"""The kernel's TCP_INFO of chosen connections, read live with `ss` where they run.

iperf3 reads the same figures (tcpi_rtt, bytes acknowledged) but 3.12 prints them only when a
run ends (`-J`; `--json-stream` is 3.17+). A method that decides every interval reads them as
they change instead: `ss -tin` in a bounded shell loop at the endpoint (local, namespace or
ssh), filtered to the ports of our own connections, each snapshot stamped on arrival here.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import MeasurementError
from ..hosts.endpoints import Endpoint, Process

_BEGIN, _END = "@", "@@"  # around each snapshot: a snapshot is complete at its end mark
_RTT = re.compile(r"(?:^|\s)rtt:([\d.]+)/")
_COUNTERS = re.compile(r"(?:^|\s)(bytes_acked|bytes_received):(\d+)")
MAX_LINES = 200_000  # a sampler printing more than this is stopped (a bounded reader)


@dataclass(frozen=True)
class SocketInfo:
    """One connection in one snapshot: its ports and what the kernel says of it."""

    local_port: int
    peer_port: int
    rtt: float | None  # s: the smoothed RTT (tcpi_rtt); None before any was measured
    bytes_acked: int  # payload bytes the peer acknowledged (sender side)
    bytes_received: int  # payload bytes received (receiver side)


@dataclass
class Snapshot:
    """Every matching connection at one moment (`time`: this host's monotonic clock)."""

    time: float
    sockets: list[SocketInfo] = field(default_factory=list)


def _port(address: str) -> int:
    """The port of '127.0.0.1:5201', '[::1]:5201' or '[::ffff:10.0.0.1]:5201'."""
    return int(address.rsplit(":", 1)[1])


def parse_ss(text: str) -> list[SocketInfo]:
    """Sockets in `ss -tinH` output: a line of queues and addresses, then one of figures."""
    sockets = []
    ports: tuple[int, int] | None = None
    for line in text.replace("\r", "").splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            addresses = [word for word in line.split() if ":" in word]
            ports = None
            with contextlib.suppress(ValueError, IndexError):
                ports = (_port(addresses[-2]), _port(addresses[-1]))
            continue
        if ports is None:
            continue
        rtt = _RTT.search(line)
        counters = dict(_COUNTERS.findall(line))
        sockets.append(
            SocketInfo(
                local_port=ports[0],
                peer_port=ports[1],
                rtt=float(rtt.group(1)) / 1e3 if rtt else None,
                bytes_acked=int(counters.get("bytes_acked", 0)),
                bytes_received=int(counters.get("bytes_received", 0)),
            )
        )
        ports = None
    return sockets


def ss_filter(ports: Sequence[int], side: str) -> str:
    """An ss filter matching connections whose `side` ('sport' or 'dport') is one of `ports`."""
    return "( " + " or ".join(f"{side} = :{port}" for port in ports) + " )"


def sampler_script(ports: Sequence[int], side: str, period: float, samples: int) -> str:
    """A POSIX shell loop: the matching connections between two marks, `samples` times."""
    # stderr joins stdout: an error of ss (or of the shell finding it) is read, not lost.
    return (
        f"exec 2>&1; i=0; while [ $i -lt {samples} ]; do echo {_BEGIN}; "
        f"ss -tinH state established '{ss_filter(ports, side)}'; echo {_END}; "
        f"sleep {period:g}; i=$((i+1)); done"
    )


class TcpInfoSampler:
    """`ss` every `period` s at an endpoint for at most `lifetime` s; snapshots as they arrive.

    `side` is 'sport' to match the connections' local ports (we are their sending end
    there), 'dport' to match their peers' ports (the far end of a download).
    """

    def __init__(
        self, endpoint: Endpoint, ports: Sequence[int], side: str, period: float, lifetime: float
    ) -> None:
        self.endpoint = endpoint
        self.command = [
            "sh",
            "-c",
            sampler_script(ports, side, period, int(lifetime / period) + 1),
        ]
        self._snapshots: list[Snapshot] = []
        self._unparsed: list[str] = []
        self._lock = threading.Lock()
        self._process: Process | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> TcpInfoSampler:
        """Spawn the loop and a thread reading it."""
        self._process = self.endpoint.spawn(self.command)
        self._reader = threading.Thread(target=self._read, name="qos-tcpinfo", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        current: Snapshot | None = None
        pending: list[str] = []
        with contextlib.suppress(ValueError, OSError):  # the pipe closed by stop()
            for count, line in enumerate(process.stdout):
                mark = line.strip()
                if count > MAX_LINES:
                    break
                if mark == _BEGIN:
                    current, pending = Snapshot(time.monotonic()), []
                elif mark == _END and current is not None:
                    self._keep(current, pending)
                    current = None
                elif current is None:
                    with self._lock:
                        self._unparsed.append(mark)
                else:
                    pending.append(line)

    def _keep(self, snapshot: Snapshot, lines: list[str]) -> None:
        snapshot.sockets = parse_ss("".join(lines))
        with self._lock:
            if not snapshot.sockets and any(line.strip() for line in lines):
                self._unparsed.extend(line.strip() for line in lines[:3])
            self._snapshots.append(snapshot)

    def snapshots(self) -> list[Snapshot]:
        """Complete snapshots so far, oldest first."""
        with self._lock:
            return list(self._snapshots)

    def problem(self) -> str | None:
        """What the loop printed that was no snapshot (e.g. 'ss: not found'), if anything."""
        with self._lock:
            return self._unparsed[0] if self._unparsed else None

    def check(self) -> None:
        """A MeasurementError when the loop printed what is no snapshot (ss missing or failing)
        or ended before giving any."""
        process = self._process
        problem = self.problem()
        ended = process is not None and not process.alive() and not self.snapshots()
        if problem is not None or ended:
            raise MeasurementError(
                f"reading TCP_INFO with ss at {self.endpoint.name} failed: "
                f"{problem or 'it printed nothing'}",
                self.endpoint.command(self.command),
            )

    def stop(self) -> None:
        """Stop the loop and its reader; idempotent."""
        if self._process is not None:
            self._process.stop()
        if self._reader is not None:
            self._reader.join(timeout=5.0)
