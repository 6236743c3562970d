"""Named concurrent flows: all start together, all are measured over one window.

Every flow runs from the same moment for `settle + duration` seconds (and a tail); each one's
figures count only the window [settle, settle + duration) of that common clock, read from
iperf3's per-interval data (windows.py). Probes send over the same window. Metrics come back
prefixed with the flow's or probe's name: 'video.throughput', 'ef.latency.p99'.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any, TypeVar

from ..errors import MeasurementError
from ..hosts.target import Target
from ..probes import Probe, run_probe
from ..results import Measurement, prefixed
from .edges import WindowEdges
from .iperf3 import BUSY_RETRY_TIMEOUT, Iperf3, Iperf3Server, RunningFlow
from .traffic import Traffic

# Flows run this long past the window, so a flow started a little late still covers it.
FLOW_TAIL = 1
# A probe may take this long beyond its own worst case (Probe.timeout_total): its
# responder's start-up, 5 s at worst.
PROBE_START_ALLOWANCE = 5.0

Pair = tuple[int, Iperf3Server | None]
T = TypeVar("T")


def collect(future: Future[T], timeout: float, what: str) -> T:
    """`future`'s result within `timeout` s, or a MeasurementError saying what overran."""
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise MeasurementError(
            f"{what} did not finish within {timeout:.1f} s of the measurement's end"
        ) from None


class Concurrent:
    """Runs one round of named flows (and probes) across a target, one server per flow."""

    def __init__(self, iperf3: Iperf3, target: Target, pairs: list[Pair]) -> None:
        self.iperf3 = iperf3
        self.target = target
        self.pairs = pairs

    def run(
        self,
        flows: Mapping[str, Traffic],
        probes: Mapping[str, Probe],
        settle: float,
        duration: float,
        edges: WindowEdges | None = None,
    ) -> list[Measurement]:
        """Each flow's, then each probe's measurement over the window, metrics prefixed.

        `edges` (the router's observers) are read when the window opens and closes."""
        lasting = float(math.ceil(settle + duration) + FLOW_TAIL)
        pool = ThreadPoolExecutor(max_workers=len(flows) + len(probes), thread_name_prefix="qos")
        running: dict[str, RunningFlow] = {}
        try:
            for (name, traffic), (port, server) in zip(flows.items(), self.pairs, strict=True):
                running[name] = self.iperf3.start(
                    replace(traffic, duration=lasting, omit=0.0),
                    self.target.host,
                    port,
                    endpoint=self.target.client,
                    server=server,
                    server_output=True,
                    live_name=name,
                )
            origin = min(flow.started for flow in running.values())
            if edges is not None:
                edges.at("open", origin + settle)
                edges.at("close", origin + settle + duration)
            waiting = {name: pool.submit(flow.document) for name, flow in running.items()}
            time.sleep(max(0.0, origin + settle - time.time()))
            probing = {
                name: pool.submit(
                    run_probe, replace(probe, duration=duration, count=None), self.target, name
                )
                for name, probe in probes.items()
            }
            window = (origin + settle, origin + settle + duration)
            measured = [
                self._flow(name, running[name], future, window) for name, future in waiting.items()
            ]
            for name, future in probing.items():
                allowed = probes[name].timeout_total + duration + PROBE_START_ALLOWANCE
                what = f"the latency probe '{name}'" if name else "the latency probe"
                measured.append(prefixed(collect(future, allowed, what), name))
        finally:
            for flow in running.values():
                flow.stop()
            pool.shutdown(wait=True, cancel_futures=True)
        return measured

    @staticmethod
    def _flow(
        name: str,
        flow: RunningFlow,
        future: Future[dict[str, Any]],
        window: tuple[float, float],
    ) -> Measurement:
        """Flow `name`'s measurement over the common wall-clock `window`."""
        try:
            document = collect(future, flow.traffic.timeout + BUSY_RETRY_TIMEOUT, f"flow '{name}'")
            # In the flow's own seconds: a flow restarted (busy server) is shifted, not stretched.
            measurement = flow.measure(
                document, (window[0] - flow.started, window[1] - flow.started)
            )
        except MeasurementError as error:
            raise MeasurementError(
                f"flow '{name}' failed: {error}", error.command or flow.command
            ) from None
        return prefixed(measurement, name)
