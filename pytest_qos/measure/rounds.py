"""One round of a request on a target: flows and probes run together, each measured once.

The one measuring path: the runner (each repeat of a test) and the methods' trials both run
rounds here. Background flows start first, together; `settle` s later the measured part
starts (a measured flow and the probes); each background flow counts only the span of the
measured part, read from iperf3's per-interval data (windows.py). Every flow and probe runs in
its own worker, every failure names its flow or probe, and everything started is stopped.

Named flows (`FlowsRequest`) are all background flows of one common window
[settle, settle + duration); their metrics come back prefixed with their names
('video.throughput'), as the probes' do ('ef.latency.p99').

A round's `WindowEdges` (the lab router's observers, edges.py) are read when its measured
window opens and closes; every measured flow and probe hands its figures to the live observer
(live.py) under its name in the test ('' for a test's only one) while it runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..errors import MeasurementError
from ..hosts.target import Target
from ..judge.metrics import format_metric
from ..probes import Probe, run_probe
from ..results import Measurement, prefixed
from .edges import WindowEdges
from .iperf3 import BUSY_RETRY_TIMEOUT, Iperf3, Iperf3Server, RunningFlow
from .progress import Update, ignore_progress
from .request import FlowsRequest, TrafficRequest
from .traffic import Traffic

# Background flows run this long past what they cover, so one started late still covers it.
FLOW_TAIL = 1
# A probe may take this long beyond its own worst case (Probe.timeout_total): its
# responder's start-up, 5 s at worst.
PROBE_START_ALLOWANCE = 5.0

Pair = tuple[int, Iperf3Server | None]  # a server's port, and the server when we spawned it
Span = tuple[float, float]  # wall-clock start and end
# Shows progress over a measured part of `total` s: Progress.measuring for one test.
Measuring = Callable[[float], AbstractContextManager[Update]]
T = TypeVar("T")


def collect(future: Future[T], timeout: float, what: str) -> T:
    """`future`'s result within `timeout` s, or a MeasurementError saying what overran."""
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise MeasurementError(
            f"{what} did not finish within {timeout:.1f} s of the measurement's end"
        ) from None


@dataclass
class Round:
    """What one round measured: the measured flows and probes, the background load."""

    measured: list[Measurement]
    loads: list[Measurement] = field(default_factory=list)
    window: tuple[float, float] | None = None  # a flows round's window, in s of its run


class _Pool:
    """One round's workers and flows at a target: started together, all stopped at the end."""

    def __init__(self, iperf3: Iperf3, target: Target, pairs: list[Pair], workers: int) -> None:
        self.iperf3 = iperf3
        self.target = target
        self.pairs = list(pairs)
        self.workers = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="qos")
        self.running: list[RunningFlow] = []

    def start(
        self, traffic: Traffic, live_name: str | None = None
    ) -> tuple[RunningFlow, Future[dict[str, Any]]]:
        """Start a background flow at the next free server; its document arrives in a worker.

        A named flow (`live_name`) shows its throughput to the live observer meanwhile."""
        port, server = self.pairs.pop(0)
        flow = self.iperf3.start(
            traffic,
            self.target.host,
            port,
            endpoint=self.target.client,
            server=server,
            server_output=True,
        )
        if live_name is not None:
            flow.watch_live(live_name)
        self.running.append(flow)
        return flow, self.workers.submit(flow.document)

    def probing(self, probes: Mapping[str, Probe]) -> dict[str, Future[Measurement]]:
        """Each probe started in its own worker, by name."""
        return {
            name: self.workers.submit(run_probe, probe, self.target, name)
            for name, probe in probes.items()
        }

    def close(self) -> None:
        """Stop every flow (ending a worker still waiting for its client) and the workers."""
        for flow in self.running:
            flow.stop()
        self.workers.shutdown(wait=True, cancel_futures=True)


def over_span(
    flow: RunningFlow, future: Future[dict[str, Any]], span: Span, what: str
) -> Measurement:
    """A background flow's measurement over the wall-clock `span`; its failure names it."""
    try:
        document = collect(future, flow.traffic.timeout + BUSY_RETRY_TIMEOUT, what)
        # In the flow's own seconds (both clocks are this host's): a flow restarted because
        # its server was busy is shifted, not stretched.
        return flow.measure(document, (span[0] - flow.started, span[1] - flow.started))
    except MeasurementError as error:
        raise MeasurementError(f"{what} failed: {error}", error.command or flow.command) from None


def probed(
    futures: Mapping[str, Future[Measurement]], probes: Mapping[str, Probe], beyond: float
) -> list[Measurement]:
    """Each probe's measurement, metrics prefixed with its name; `beyond` s of extra time."""
    measured = []
    for name, future in futures.items():
        allowed = probes[name].timeout_total + beyond + PROBE_START_ALLOWANCE
        what = f"the latency probe '{name}'" if name else "the latency probe"
        measured.append(prefixed(collect(future, allowed, what), name))
    return measured


def flows_round(
    iperf3: Iperf3,
    target: Target,
    pairs: list[Pair],
    request: FlowsRequest,
    edges: WindowEdges | None = None,
) -> Round:
    """Named flows started together, and the probes, measured over the request's window;
    `edges` are read when the window opens and closes."""
    settle, duration = request.settle, request.duration
    lasting = float(math.ceil(settle + duration) + FLOW_TAIL)
    probes = {
        name: replace(probe, duration=duration, count=None)
        for name, probe in request.named_probes.items()
    }
    pool = _Pool(iperf3, target, pairs, len(request.flows) + len(probes))
    try:
        waiting = {
            name: pool.start(replace(traffic, duration=lasting, omit=0.0), name)
            for name, traffic in request.flows.items()
        }
        origin = min(flow.started for flow, _ in waiting.values())
        if edges is not None:
            edges.at("open", origin + settle)
            edges.at("close", origin + settle + duration)
        time.sleep(max(0.0, origin + settle - time.time()))
        probing = pool.probing(probes)
        window = (origin + settle, origin + settle + duration)
        measured = [
            prefixed(over_span(flow, future, window, f"flow '{name}'"), name)
            for name, (flow, future) in waiting.items()
        ]
        measured += probed(probing, probes, duration)
    finally:
        pool.close()
    return Round(measured, window=(settle, settle + duration))


def traffic_round(
    iperf3: Iperf3,
    target: Target,
    pairs: list[Pair],
    request: TrafficRequest,
    progress: Measuring,
    edges: WindowEdges | None = None,
) -> Round:
    """The background load, then after `settle` the measured flow and the probes beside it;
    `edges` are read when the measured window opens (after the flow's omitted seconds) and
    closes."""
    traffic, probes = request.traffic, request.named_probes
    measuring = _duration(traffic, probes.values())
    # One worker per background flow (each waits for its client, retrying a busy server at
    # once) and one per probe beside the measured flow.
    pool = _Pool(iperf3, target, pairs, len(request.load) + len(probes) + 1)
    measured_pair = pool.pairs.pop(0) if traffic is not None else None
    try:
        waiting = [pool.start(_lasting(load, request.settle + measuring)) for load in request.load]
        if request.load:
            time.sleep(request.settle)
        # The window: the measured flow after its omitted seconds, or the probes' run.
        if edges is not None:
            edges.open_after(traffic.omit if traffic else 0.0)
        with progress(measuring) as update:
            if traffic is None and len(probes) == 1:
                ((name, probe),) = probes.items()
                measured = [prefixed(run_probe(probe, target, name), name)]
            else:
                probing = pool.probing(probes)
                measured = []
                if traffic is not None and measured_pair is not None:
                    flow = _measured_flow(iperf3, target, traffic, measured_pair, update)
                    measured.append(flow)
                measured += probed(probing, probes, 0.0)
        if edges is not None:
            edges.close()
        span = _measured_span(measured, traffic, probes.values())
        loads = [
            over_span(flow, future, span, f"background load {index}")
            for index, (flow, future) in enumerate(waiting, 1)
        ]
    finally:
        pool.close()
    return Round(measured, loads)


def _lasting(traffic: Traffic, covering: float) -> Traffic:
    """A background flow lasting `covering` s (+ a tail), or its own duration if longer."""
    return replace(traffic, duration=float(max(traffic.duration, math.ceil(covering + FLOW_TAIL))))


def _measured_flow(
    iperf3: Iperf3, target: Target, traffic: Traffic, pair: Pair, update: Update
) -> Measurement:
    """The measured flow, its whole run; each interval's rate to the progress line, its
    throughput to the live observer (as the test's only flow, '')."""
    port, server = pair

    def on_interval(seconds: float, bits_per_second: float) -> None:
        update(f"{format_metric('throughput', bits_per_second)} at {seconds:.0f} s")

    flow = iperf3.start(
        traffic,
        target.host,
        port,
        endpoint=target.client,
        server=server,
        on_interval=None if update is ignore_progress else on_interval,
    )
    return flow.watch_live("").finish()


def _duration(traffic: Traffic | None, probes: Iterable[Probe]) -> float:
    """How long the measured part lasts (for sizing the background load)."""
    seconds = traffic.duration + traffic.omit if traffic else 0.0
    for probe in probes:
        # Until the last probe's reply (or its timeout): the load must cover all of it.
        seconds = max(seconds, probe.send_time + probe.timeout)
    return seconds


def _measured_span(
    measured: list[Measurement], traffic: Traffic | None, probes: Iterable[Probe]
) -> Span:
    """Wall-clock start and end of what was measured: the flow after its omit, or the probes."""
    if traffic is not None:
        start = measured[0].started + traffic.omit
        return start, start + traffic.duration
    start = min(m.started for m in measured)
    return start, start + max(max(probe.send_time for probe in probes), 1.0)
