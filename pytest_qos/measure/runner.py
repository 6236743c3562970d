"""One QoS test end to end: servers up, load started, settle, measure, load stopped, judged."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from ..errors import MeasurementError
from ..hosts.locks import path_lock
from ..hosts.target import Target
from ..judge.bounds import Bound, check_bounds
from ..judge.metrics import format_metric
from ..probes import Probe, run_probe
from ..results import Measurement, QosResult, aggregate, check_label, prefixed
from .edges import WindowEdges, observed
from .flows import PROBE_START_ALLOWANCE, Concurrent, Pair, collect
from .iperf3 import BUSY_RETRY_TIMEOUT, Iperf3, Iperf3Server, RunningFlow
from .progress import Progress, Update, ignore_progress
from .sender import sender_error
from .traffic import Traffic

# Measurements finished per (path, test) in this process: tells a wait for a sibling thread's
# measurement (reported) from a wait for another test (the lock's ordinary job).
_FINISHED: dict[tuple[str, str], int] = {}
_FINISHED_LOCK = threading.Lock()
PATH_WAIT_NOTED = 0.2  # s; a longer wait for the path lock is reported with the measurement
LOAD_TAIL = 1.0  # the load outlives the measurement by this much, so it never ends inside it


def _finished(key: tuple[str, str]) -> int:
    with _FINISHED_LOCK:
        return _FINISHED.get(key, 0)


@dataclass
class _Turn:
    """One measurement's turn on a path: how long it waited for its own test's other one."""

    waited: float = 0.0


@contextlib.contextmanager
def _path_turn(path: str, test_id: str) -> Iterator[_Turn]:
    """Hold the path's lock; note a wait only when this test's own other measurement held it.

    The measurement counts as finished when the block ends, before the lock is freed.
    """
    key = (path, test_id)
    asked, done_before = time.monotonic(), _finished(key)
    turn = _Turn()
    with path_lock(path):
        if _finished(key) > done_before:
            turn.waited = time.monotonic() - asked
        try:
            yield turn
        finally:
            with _FINISHED_LOCK:
                _FINISHED[key] = _FINISHED.get(key, 0) + 1


def _longest(
    traffic: Traffic | None,
    others: list[Traffic],
    probes: Mapping[str, Probe],
    flows: Mapping[str, Traffic] | None,
    duration: float,
) -> float:
    """The hard bound of one run of a test: its longest flow or probe (a flows window too)."""
    bounds = [t.timeout for t in (traffic, *others) if t is not None]
    bounds += [probe.timeout_total for probe in probes.values()]
    return max([*bounds, Traffic(duration=duration).timeout if flows else 0.0])


def _annotate(measurements: list[Measurement], requires: str, label: str, waited: float) -> None:
    """What every measurement of a run carries: what reproducing it needs, its label, its wait."""
    for measurement in measurements:
        measurement.requires = requires
        measurement.label = label or measurement.label
        if waited >= PATH_WAIT_NOTED:
            # Not concurrent with the test's other measurement that held the path: say so.
            measurement.details["path_wait"] = round(waited, 3)


# Beyond a test's own bound, how long its spawned servers may live at a far host.
SERVER_MARGIN = 30.0


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
            self.spawned.append(server)
            server.start()
        return [(server.port, server) for server in self.spawned[:count]]

    def stop(self) -> None:
        """Stop every spawned server."""
        for server in self.spawned:
            server.stop()
        self.spawned.clear()


class Runner:
    """Runs test specs on one target; the library's entry point, pytest or not."""

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

    def close(self) -> None:
        """Stop the servers this runner spawned."""
        if self._servers is not None:
            self._servers.stop()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def run(
        self,
        test_id: str,
        *,
        traffic: Traffic | None = None,
        probe: Probe | None = None,
        load: tuple[Traffic, ...] = (),
        repeat: int = 1,
        settle: float = 1.0,
        expect: dict[str, Bound] | None = None,
        baseline: dict[str, float] | None = None,
        flows: Mapping[str, Traffic] | None = None,
        probes: Mapping[str, Probe] | None = None,
        duration: float = 1.0,
        label: str = "",
    ) -> QosResult:
        """Measure `repeat` times, take medians, judge `expect`; errors propagate.

        `flows` (named, concurrent, measured over one window of `duration` s after `settle`)
        replace `traffic` and `load`; `probes` are named probes ('ef' → 'ef.latency.p99').
        `label` names the measurements within their test ('wire' → 'wire.throughput').
        """
        check_label(label)
        named = {**({"": probe} if probe is not None else {}), **(probes or {})}
        _check_request(traffic, load, flows, named)
        result = QosResult(test=test_id)
        servers = self.servers if traffic or load or flows else None
        if servers is not None:
            longest = _longest(traffic, [*load, *(flows or {}).values()], named, flows, duration)
            servers.needed_until = time.monotonic() + repeat * (settle + longest) + SERVER_MARGIN
        runs: list[list[Measurement]] = []
        loads: list[Measurement] = []
        for _ in range(repeat):
            # Two tests measuring one path at once would each see the other's traffic.
            with _path_turn(self.target.name, test_id) as turn:
                before = [observer.snapshot() for observer in self.target.observers]
                # The observers are read at the measured window's edges too (edges.py).
                edges = WindowEdges(self.target.observers)
                if flows:
                    assert servers is not None
                    concurrent = Concurrent(self.iperf3, self.target, servers.get(len(flows)))
                    measured, loads = concurrent.run(flows, named, settle, duration, edges), []
                    result.window = (settle, settle + duration)
                else:
                    measured, loads = self._once(
                        test_id, servers, traffic, named, load, settle, edges
                    )
                measured += observed(self.target.observers, before, edges, list(expect or {}))
            _annotate([*measured, *loads], self.target.requires, label, turn.waited)
            runs.append(measured)
            result.loads = loads
        for index in range(len(runs[0])):
            merged, spread = aggregate([run[index] for run in runs])
            result.measurements.append(merged)
            result.spread.update(spread)
        result.checks = check_bounds(result.metrics, expect or {}, baseline)
        result.error = sender_error([*result.measurements, *result.loads])  # no verdict then
        return result

    def _once(
        self,
        test_id: str,
        servers: Servers | None,
        traffic: Traffic | None,
        probes: dict[str, Probe],
        load: tuple[Traffic, ...],
        settle: float,
        edges: WindowEdges,
    ) -> tuple[list[Measurement], list[Measurement]]:
        pairs = servers.get((1 if traffic else 0) + len(load)) if servers else []
        measuring = _duration(traffic, probes.values())
        # One worker per background flow (each waits for its client, retrying a busy server
        # at once) and one per probe beside the measured flow.
        pool = ThreadPoolExecutor(max_workers=len(load) + len(probes) + 1, thread_name_prefix="qos")
        running: list[RunningFlow] = []
        try:
            for background in load:
                pair = pairs[len(running) + bool(traffic)]
                running.append(self._start_load(background, pair, settle + measuring))
            waiting = [pool.submit(flow.document) for flow in running]
            if load:
                time.sleep(settle)
            # The window: the measured flow after its omitted seconds, or the probes' run.
            edges.open_after(traffic.omit if traffic else 0.0)
            with self.progress.measuring(test_id, measuring) as update:
                measured = self._measure(
                    pool, traffic, probes, pairs[0] if traffic else None, update
                )
            edges.close()
            span = _measured_span(measured, traffic, probes.values())
            loads = [
                _load_result(future, flow, index, span)
                for index, (future, flow) in enumerate(zip(waiting, running, strict=True), 1)
            ]
        finally:
            for flow in running:
                flow.stop()  # ends a worker still waiting for its client
            pool.shutdown(wait=True, cancel_futures=True)
        return measured, loads

    def _start_load(self, traffic: Traffic, pair: Pair, covering: float) -> RunningFlow:
        """Start a background flow lasting `covering` s (+ a tail)."""
        port, server = pair
        seconds = max(traffic.duration, math.ceil(covering + LOAD_TAIL))
        lasting = replace(traffic, duration=float(seconds))
        return self.iperf3.start(
            lasting,
            self.target.host,
            port,
            endpoint=self.target.client,
            server=server,
            server_output=True,
        )

    def _measure(
        self,
        pool: ThreadPoolExecutor,
        traffic: Traffic | None,
        probes: dict[str, Probe],
        pair: Pair | None,
        update: Update,
    ) -> list[Measurement]:
        """The measured flow and/or probes; probes beside a flow or each other run at once."""
        if not probes:
            assert traffic is not None and pair is not None
            return [self._flow(traffic, pair, update)]
        if traffic is None and len(probes) == 1:
            ((name, probe),) = probes.items()
            return [prefixed(run_probe(probe, self.target, name), name)]
        probing = {
            name: pool.submit(run_probe, probe, self.target, name) for name, probe in probes.items()
        }
        measured = []
        if traffic is not None:
            assert pair is not None
            measured.append(self._flow(traffic, pair, update))
        for name, future in probing.items():
            allowed = probes[name].timeout_total + PROBE_START_ALLOWANCE
            what = f"the latency probe '{name}'" if name else "the latency probe"
            measured.append(prefixed(collect(future, allowed, what), name))
        return measured

    def _flow(self, traffic: Traffic, pair: Pair, update: Update) -> Measurement:
        port, server = pair

        def on_interval(seconds: float, bits_per_second: float) -> None:
            update(f"{format_metric('throughput', bits_per_second)} at {seconds:.0f} s")

        return self.iperf3.run(
            traffic,
            self.target.host,
            port,
            endpoint=self.target.client,
            server=server,
            on_interval=None if update is ignore_progress else on_interval,
            live_name="",
        )


def _load_result(
    future: Future[dict[str, Any]], flow: RunningFlow, index: int, span: tuple[float, float]
) -> Measurement:
    """A background flow's measurement over the measured span; its failure names the flow."""
    try:
        document = collect(
            future, flow.traffic.timeout + BUSY_RETRY_TIMEOUT, f"background load {index}"
        )
        # The load's own seconds that the measurement covered (both clocks are this host's).
        return flow.measure(document, (span[0] - flow.started, span[1] - flow.started))
    except MeasurementError as error:
        raise MeasurementError(
            f"background load {index} failed: {error}", error.command or flow.command
        ) from None


def _duration(traffic: Traffic | None, probes: Iterable[Probe]) -> float:
    """How long the measured part lasts (for sizing the background load)."""
    seconds = traffic.duration + traffic.omit if traffic else 0.0
    for probe in probes:
        # Until the last probe's reply (or its timeout): the load must cover all of it.
        seconds = max(seconds, probe.send_time + probe.timeout)
    return seconds


def _measured_span(
    measured: list[Measurement], traffic: Traffic | None, probes: Iterable[Probe]
) -> tuple[float, float]:
    """Wall-clock start and end of what was measured: the flow after its omit, or the probes."""
    if traffic is not None:
        start = measured[0].started + traffic.omit
        return start, start + traffic.duration
    start = min(m.started for m in measured)
    return start, start + max(max(probe.send_time for probe in probes), 1.0)


def _check_request(
    traffic: Traffic | None,
    load: tuple[Traffic, ...],
    flows: Mapping[str, Traffic] | None,
    probes: Mapping[str, Probe],
) -> None:
    """Named flows or traffic (with load), and something to measure at all."""
    if flows and (traffic is not None or load):
        raise MeasurementError("give named flows or traffic (with load), not both")
    if traffic is None and not probes and not flows:
        raise MeasurementError("nothing to measure: give traffic, flows or a probe")
