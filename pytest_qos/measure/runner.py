"""One test's measurement on a target: servers kept, the path held, rounds repeated, medians.

The runner is the measuring library's entry point, pytest or not: a request in, a QosResult
of what was measured out. Judging it is judge.verdict's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from ..errors import MeasurementError
from ..hosts.locks import path_lock
from ..hosts.serverpool import POOL
from ..hosts.target import Target
from ..results import Measurement, QosResult, aggregate
from .edges import WindowEdges, observed
from .iperf3 import Iperf3, Iperf3Server
from .progress import Progress
from .request import AnyRequest, FlowsRequest
from .rounds import Pair, Round, flows_round, traffic_round
from .sender import sender_error
from .traffic import Traffic

# Measurements finished per (path, test) in this process: tells a wait for a sibling thread's
# measurement (reported) from a wait for another test (the lock's ordinary job).
_FINISHED: dict[tuple[str, str], int] = {}
_FINISHED_LOCK = threading.Lock()
PATH_WAIT_NOTED = 0.2  # s; a longer wait for the path lock is reported with the measurement
# Beyond a test's own bound, how long its spawned servers may live at a far host.
SERVER_MARGIN = 30.0


def _finished(key: tuple[str, str]) -> int:
    with _FINISHED_LOCK:
        return _FINISHED.get(key, 0)


@dataclass
class Turn:
    """One measurement's turn on a path: how long it waited for its own test's other one."""

    waited: float = 0.0


@contextlib.contextmanager
def _path_turn(path: str, test_id: str) -> Iterator[Turn]:
    """Hold the path's lock; note a wait only when this test's own other measurement held it.

    The measurement counts as finished when the block ends, before the lock is freed.
    """
    key = (path, test_id)
    asked, done_before = time.monotonic(), _finished(key)
    turn = Turn()
    with path_lock(path):
        if _finished(key) > done_before:
            turn.waited = time.monotonic() - asked
        try:
            yield turn
        finally:
            with _FINISHED_LOCK:
                _FINISHED[key] = _FINISHED.get(key, 0) + 1


def _longest(request: AnyRequest) -> float:
    """The hard bound of one round of a request: its longest flow or probe (a flows window)."""
    if isinstance(request, FlowsRequest):
        flows = [*request.flows.values(), Traffic(duration=request.duration)]
    else:
        flows = [t for t in (request.traffic, *request.load) if t is not None]
    bounds = [flow.timeout for flow in flows]
    return max([*bounds, *(probe.timeout_total for probe in request.named_probes.values())])


def _annotate(measurements: list[Measurement], requires: str, label: str, turn: Turn) -> None:
    """What every measurement of a run carries: what reproducing it needs, its label, its wait."""
    for measurement in measurements:
        measurement.requires = requires
        measurement.label = label or measurement.label
        if turn.waited >= PATH_WAIT_NOTED:
            # Not concurrent with the test's other measurement that held the path: say so.
            measurement.details["path_wait"] = round(turn.waited, 3)


class Servers:
    """iperf3 servers for one test: spawned at the target, or the pool of running ones."""

    def __init__(self, iperf3: Iperf3, target: Target) -> None:
        self.iperf3 = iperf3
        self.target = target
        self.spawned: list[Iperf3Server] = []
        # Until when (time.monotonic()) servers must live for the measurements ahead (None:
        # the endpoint's default); a far host ends a server then, not 15 minutes later.
        self.needed_until: float | None = None

    def get(self, count: int) -> list[Pair]:
        """`count` distinct (port, server) pairs; concurrent flows never share a server."""
        if not self.target.spawns_servers:
            if len(self.target.ports) < count:
                raise MeasurementError(
                    f"target {self.target.host} has {len(self.target.ports)} iperf3 port(s) but "
                    f"this test runs {count} concurrent flows: give 'ports: "
                    f"{self.target.ports[0] if self.target.ports else 5201}-"
                    f"{(self.target.ports[0] if self.target.ports else 5201) + count - 1}'"
                )
            return [(port, None) for port in self.target.ports[:count]]
        assert self.target.server is not None
        until = self.needed_until
        if until is not None:  # a server that would end before the test does: a new one
            for old in [s for s in self.spawned if not s.lives_until(until)]:
                old.stop()
                self.spawned.remove(old)
        while len(self.spawned) < count:
            server = self.iperf3.server(self.target.server, self.target.bind or self.target.host)
            server.lifetime = None if until is None else until - time.monotonic()
            self.spawned.append(server)  # stopped by stop() even when its start fails
            self.spawned[-1] = POOL.lend(server, until)  # a kept one, or this one started
        return [(server.port, server) for server in self.spawned[:count]]

    def stop(self, clean: bool = False) -> None:
        """Stop every spawned server; after a `clean` test, kept ones go back to the pool."""
        for server in self.spawned:
            POOL.give_back(server, clean)
        self.spawned.clear()


class Runner:
    """Measures requests on one target; servers it spawned live until close()."""

    def __init__(
        self,
        iperf3: Iperf3 | Callable[[], Iperf3] | None,
        target: Target,
        progress: Progress | None = None,
    ) -> None:
        # A tool, or how to get one: probe-only tests never need iperf3 installed.
        self._iperf3 = iperf3
        self.target = target
        self.progress = progress or Progress(None)
        self._servers: Servers | None = None
        self._lazy = threading.RLock()

    def close(self, clean: bool = False) -> None:
        """Stop the servers this runner spawned (after a `clean` run, kept ones are kept)."""
        if self._servers is not None:
            self._servers.stop(clean)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(clean=kind is None)

    @property
    def servers(self) -> Servers:
        """iperf3 servers at the target, spawned on first need and kept until close()."""
        with self._lazy:  # threads of one test share a runner: one Servers, all stopped
            if self._servers is None:
                self._servers = Servers(self.iperf3, self.target)
            return self._servers

    @property
    def iperf3(self) -> Iperf3:
        """The iperf3 tool; found on first use so probe-only tests need no iperf3."""
        if self._iperf3 is None:
            self._iperf3 = Iperf3()
        elif not isinstance(self._iperf3, Iperf3):
            self._iperf3 = self._iperf3()
        return self._iperf3

    def run(self, test_id: str, request: AnyRequest) -> QosResult:
        """Measure `request.repeat` times, holding the path each time; medians and spreads.

        Judging is the caller's (judge.verdict): the result holds what was measured, the
        router's counters (the metrics the request wants; over the whole test and over the
        measured window, edges.py) among it, and an error when a sender fell short of what it
        was asked (then nothing is judged). Errors propagate.
        """
        result = QosResult(test=test_id)
        runs: list[list[Measurement]] = []
        if isinstance(request, FlowsRequest) or request.traffic or request.load:
            longest = request.repeat * (request.settle + _longest(request))
            self.servers.needed_until = time.monotonic() + longest + SERVER_MARGIN
        observers = self.target.observers
        for _ in range(request.repeat):
            with self.holding_path(test_id) as turn:
                before = [observer.snapshot() for observer in observers]
                edges = WindowEdges(observers)
                measured = self.measure(request, test_id, edges)
                measured.measured += observed(observers, before, edges, list(request.wanted))
            _annotate(
                [*measured.measured, *measured.loads], self.target.requires, request.label, turn
            )
            runs.append(measured.measured)
            result.loads, result.window = measured.loads, measured.window
        for index in range(len(runs[0])):
            merged, spread = aggregate([run[index] for run in runs])
            result.measurements.append(merged)
            result.spread.update(spread)
        result.error = sender_error([*result.measurements, *result.loads])  # no verdict then
        return result

    @contextlib.contextmanager
    def holding_path(self, test_id: str) -> Iterator[Turn]:
        """Measure the target's path alone while the block runs: the one place it is locked.

        Two tests measuring one path at once would each see the other's traffic.
        """
        with _path_turn(self.target.name, test_id) as turn:
            yield turn

    def measure(
        self, request: AnyRequest, progress_label: str = "", edges: WindowEdges | None = None
    ) -> Round:
        """One round of `request` (no repeats, no lock: the caller holds the path).

        `progress_label` names the live progress line of the measured flow ('' shows none);
        `edges` are read when the measured window opens and closes.
        """
        if isinstance(request, FlowsRequest):
            pairs = self.servers.get(len(request.flows))
            return flows_round(self.iperf3, self.target, pairs, request, edges)
        count = (1 if request.traffic else 0) + len(request.load)
        pairs = self.servers.get(count) if count else []
        shown = self.progress if progress_label else Progress(None)
        return traffic_round(
            self.iperf3,
            self.target,
            pairs,
            request,
            partial(shown.measuring, progress_label),
            edges,
        )
