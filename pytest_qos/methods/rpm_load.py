"""The load of an `rpm:` phase: iperf3 TCP connections added one by one, read live through the
kernel's TCP_INFO at their sending side (measure/tcpinfo.py).

Each load-generating connection is its own iperf3 client (-P 1) against its own server, so one
can be added at every interval; each binds a client port we chose (--cport), so its socket is
told from iperf3's control connection by port alone. Goodput is bytes the receiver acknowledged
(tcpi_bytes_acked) per interval; the loaded RTT is the sender's smoothed RTT (tcpi_rtt).
"""

from __future__ import annotations

import concurrent.futures
import math
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MeasurementError
from ..hosts.endpoints import Endpoint, parse_socket_table
from ..measure.iperf3 import Iperf3Server, RunningFlow, document_error, parse_json
from ..measure.rounds import Pair
from ..measure.runner import Runner
from ..measure.tcpinfo import Snapshot, TcpInfoSampler
from ..measure.traffic import Traffic, check_congestion
from .rpm import Rpm

SAMPLES_PER_INTERVAL = 10  # TCP_INFO snapshots per interval: ten loaded RTTs per connection
LOAD_TAIL = 5.0  # the clients' -t outlasts the phase's time limit by this much
# Client ports come from the range spawned servers use: below Linux's ephemeral range, so no
# outgoing connection (a probe's, say) takes one between our choice and iperf3's bind.
CLIENT_PORTS = (20000, 32767)
TABLE_TIMEOUT = 10.0
_STOP_READ = 2.0
# An opening in progress when the phase ends: a server start's own bound, and some room.
OPENER_JOIN = 30.0
SERVER_STARTS = 8  # iperf3 servers started at once before a phase (each a round trip over ssh)


@dataclass
class Connection:
    """One load-generating connection: its direction, client port and iperf3 client."""

    direction: str
    port: int
    flow: RunningFlow


def free_client_ports(endpoint: Endpoint, count: int) -> list[int]:
    """`count` distinct TCP ports no socket uses at `endpoint` (one read of its tables)."""
    tables = endpoint.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=TABLE_TIMEOUT)
    used = parse_socket_table(tables.stdout, "tcp", listening=False)
    free = [port for port in range(CLIENT_PORTS[0], CLIENT_PORTS[1] + 1) if port not in used]
    if len(free) < count:
        raise MeasurementError(f"fewer than {count} free TCP ports at {endpoint.name}")
    return random.sample(free, count)


class Opener:
    """Opens connections in the order asked, on its own thread: a slow start (an iperf3 server
    spawned over ssh takes a second or two) never holds an interval up; the connections open
    when they can, and each interval counts those that are open."""

    def __init__(self, open_one: Callable[[str, int, int], Connection]) -> None:
        self._open_one = open_one
        self._requests: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()
        self._connections: list[Connection] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._serve, name="qos-rpm-open", daemon=True)
        self._thread.start()

    def request(self, direction: str, port: int) -> None:
        """Open one more connection in `direction`, binding client port `port`."""
        self._requests.put((direction, port))

    def opened(self) -> list[Connection]:
        """The connections open so far, in order."""
        with self._lock:
            return list(self._connections)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            request = self._requests.get()
            if request is None or self._stopping.is_set():
                return
            try:
                connection = self._open_one(*request, len(self._connections))
            except Exception as error:  # handed to the phase's thread by check()
                self.error = error
                return
            with self._lock:
                self._connections.append(connection)

    def close(self) -> list[Connection]:
        """Stop opening (an opening under way finishes) and return every connection made."""
        self._stopping.set()
        self._requests.put(None)
        self._thread.join(timeout=OPENER_JOIN)
        return self.opened()


class Load:
    """The load-generating connections of one phase and their TCP_INFO."""

    def __init__(self, runner: Runner, spec: Rpm, directions: tuple[str, ...]) -> None:
        self.runner = runner
        self.spec = spec
        self.directions = directions
        self.opener = Opener(self._open)
        self.requested: dict[str, int] = dict.fromkeys(directions, 0)
        self.ports: dict[str, list[int]] = {}
        self.samplers: dict[str, TcpInfoSampler] = {}
        self.marks: dict[str, Snapshot] = {}
        self.acked: dict[int, int] = {}  # client port -> bytes acknowledged at its last reading
        self.pairs: list[Pair] = []
        self.servers: list[Iperf3Server] = []  # the ones this phase started (and stops)
        self.started = 0.0  # monotonic
        self.wall = 0.0  # the same moment, wall clock (epoch s)

    def start(self) -> None:
        """Choose the client ports and start reading TCP_INFO where each direction sends."""
        target = self.runner.target
        if "download" in self.directions and target.server is None:
            raise MeasurementError(
                "rpm download reads TCP_INFO where the data is sent, at the server side: "
                "this target's servers are not ours to reach (give the target a server host)"
            )
        for direction in self.directions:  # the congestion control is the sending host's
            sender = target.client if direction == "upload" else target.server
            assert sender is not None
            check_congestion(Traffic(congestion=self.spec.congestion), sender)
        total = self.spec.connections * len(self.directions)
        self.pairs = self._start_servers(total)
        chosen = free_client_ports(target.client, total)
        period = self.spec.interval / SAMPLES_PER_INTERVAL
        lifetime = self.spec.duration + LOAD_TAIL
        for number, direction in enumerate(self.directions):
            ports = chosen[number :: len(self.directions)]
            self.ports[direction] = ports
            # Upload: our clients send, their sockets bind our ports locally. Download: the
            # servers send, from sockets whose peer ports are ours.
            where, side = (
                (target.client, "sport") if direction == "upload" else (target.server, "dport")
            )
            assert where is not None
            self.samplers[direction] = TcpInfoSampler(where, ports, side, period, lifetime)
            self.samplers[direction].start()
        self.started, self.wall = time.monotonic(), time.time()

    def _start_servers(self, count: int) -> list[Pair]:
        """An iperf3 server per connection, started together before the phase: over ssh each
        start is a few round trips, one after another they would hold up the ramp."""
        target = self.runner.target
        if target.server is None:
            return self.runner.servers.get(count)  # a pool of running servers
        bind = target.bind or target.host
        self.servers = [self.runner.iperf3.server(target.server, bind) for _ in range(count)]
        with concurrent.futures.ThreadPoolExecutor(SERVER_STARTS) as pool:
            for started in [pool.submit(server.start) for server in self.servers]:
                started.result()
        return [(server.port, server) for server in self.servers]

    @property
    def count(self) -> int:
        """Connections open now, all directions together."""
        return len(self.opener.opened())

    def add(self) -> None:
        """One more connection in each direction (the draft's INC = 1), up to the maximum."""
        for direction in self.directions:
            asked = self.requested[direction]
            if asked < self.spec.connections:
                self.opener.request(direction, self.ports[direction][asked])
                self.requested[direction] = asked + 1

    def _open(self, direction: str, port: int, index: int) -> Connection:
        """Connection `index` of the phase: its own iperf3 server, a client bound to `port`."""
        target = self.runner.target
        iperf3 = self.runner.iperf3
        server_port, server = self.pairs[index]
        traffic = Traffic(
            duration=float(math.ceil(self.spec.duration + LOAD_TAIL)),
            direction=direction,
            congestion=self.spec.congestion,
            dscp=self.spec.dscp,
        )
        command = [*iperf3.command(traffic, target.host, server_port), "--cport", str(port)]
        flow = RunningFlow(traffic, command, target.client, server, None)
        flow.spawn()
        return Connection(direction, port, flow)

    def check(self) -> None:
        """The draft: a load-generating connection ending with an error aborts the test."""
        if self.opener.error is not None:
            raise self.opener.error
        for sampler in self.samplers.values():
            sampler.check()
        for number, connection in enumerate(self.opener.opened(), 1):
            process = connection.flow.process
            if process is None or process.alive():
                continue
            out, err = process.communicate(timeout=_STOP_READ)
            where = connection.flow.where
            document = parse_json(out, err, process.returncode or 0, where)
            reason = document_error(document) or "it ended before the test did"
            raise MeasurementError(
                f"rpm: load-generating connection {number} ({connection.direction}, client "
                f"port {connection.port}) failed: {reason}",
                where,
            )

    def read(self) -> tuple[dict[str, float], list[float]]:
        """Goodput (bit/s) per direction since the last read, and the loaded RTTs (s) seen."""
        goodput: dict[str, float] = {}
        loaded: list[float] = []
        for direction, sampler in self.samplers.items():
            snapshots = sampler.snapshots()
            before = self.marks.get(direction, Snapshot(self.started))
            now = snapshots[-1] if snapshots else before
            ours = set(self.ports[direction])
            key = "local_port" if direction == "upload" else "peer_port"
            moved = 0
            for snapshot in snapshots:
                if not before.time < snapshot.time <= now.time:
                    continue
                for found in snapshot.sockets:
                    port = getattr(found, key)
                    if port not in ours:
                        continue
                    if found.rtt:
                        loaded.append(found.rtt)
                    # Counted from each connection's last reading: a snapshot missing one
                    # (or a new one starting at 0) never counts bytes twice.
                    moved += max(0, found.bytes_acked - self.acked.get(port, 0))
                    self.acked[port] = max(found.bytes_acked, self.acked.get(port, 0))
            span = now.time - before.time
            goodput[direction] = 8.0 * moved / span if span > 0 else 0.0
            self.marks[direction] = now
        return goodput, loaded

    def close(self) -> None:
        """Stop every client, sampler and server of the phase."""
        for connection in self.opener.close():
            connection.flow.stop()
        for sampler in self.samplers.values():
            sampler.stop()
        for server in self.servers:
            server.stop()
