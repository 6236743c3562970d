"""One QoS test end to end: servers up, load started, settle, measure, load stopped, judged."""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from .bounds import Bound, check_bounds
from .endpoints import Process
from .errors import MeasurementError
from .iperf3 import Iperf3, Iperf3Server, parse_json, parse_result
from .locks import path_lock
from .metrics import format_metric
from .probes import Probe, run_probe
from .progress import Progress, Update, ignore_progress
from .results import Measurement, QosResult, aggregate
from .target import Target
from .traffic import Traffic

LOAD_TAIL = 1.0  # the load outlives the measurement by this much, so it never ends inside it


@dataclass
class _LoadFlow:
    """A background iperf3 client: started before the measurement, reported after."""

    traffic: Traffic
    command: list[str]
    process: Process

    def result(self, timeout: float) -> Measurement:
        """Wait for the flow to end and parse what it measured."""
        out, err = self.process.communicate(timeout=timeout)
        document = parse_json(out, err, self.process.returncode or 0, self.command)
        if document.get("error"):
            raise MeasurementError(f"background load failed: {document['error']}", self.command)
        return parse_result(document, self.command)


class Servers:
    """iperf3 servers for one test: spawned at the target, or the pool of running ones."""

    def __init__(self, iperf3: Iperf3, target: Target) -> None:
        self.iperf3 = iperf3
        self.target = target
        self.spawned: list[Iperf3Server] = []

    def get(self, count: int) -> list[tuple[int, Iperf3Server | None]]:
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
        while len(self.spawned) < count:
            server = self.iperf3.server(self.target.server, self.target.bind or self.target.host)
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
    ) -> QosResult:
        """Measure `repeat` times, take medians, judge `expect`; errors propagate."""
        if traffic is None and probe is None:
            raise MeasurementError("nothing to measure: give traffic or a probe")
        result = QosResult(test=test_id)
        servers = self.servers if traffic or load else None
        runs: list[list[Measurement]] = []
        for _ in range(repeat):
            # Two tests measuring one path at once would each see the other's traffic.
            with path_lock(self.target.name):
                measured, loads = self._once(test_id, servers, traffic, probe, load, settle)
            runs.append(measured)
            result.loads = loads
        for index in range(len(runs[0])):
            merged, spread = aggregate([run[index] for run in runs])
            result.measurements.append(merged)
            result.spread.update(spread)
        result.checks = check_bounds(result.metrics, expect or {}, baseline)
        return result

    def _once(
        self,
        test_id: str,
        servers: Servers | None,
        traffic: Traffic | None,
        probe: Probe | None,
        load: tuple[Traffic, ...],
        settle: float,
    ) -> tuple[list[Measurement], list[Measurement]]:
        flows = (1 if traffic else 0) + len(load)
        pairs = servers.get(flows) if servers else []
        measuring = _duration(traffic, probe)
        with self._load(load, pairs[1 if traffic else 0 :], settle + measuring) as flows_running:
            if load:
                time.sleep(settle)
            with self.progress.measuring(test_id, measuring) as update:
                measured = self._measure(traffic, probe, pairs[0] if traffic else None, update)
            loads = [
                flow.result(timeout=flow.traffic.timeout + settle + measuring)
                for flow in flows_running
            ]
        return measured, loads

    def _measure(
        self,
        traffic: Traffic | None,
        probe: Probe | None,
        pair: tuple[int, Iperf3Server | None] | None,
        update: Update,
    ) -> list[Measurement]:
        """The measured flow and/or probe; a probe beside a flow runs concurrently."""
        if probe is None:
            assert traffic is not None and pair is not None
            return [self._flow(traffic, pair, update)]
        if traffic is None:
            return [run_probe(probe, self.target)]
        outcome: dict[str, Any] = {}

        def probe_thread() -> None:
            try:
                outcome["probe"] = run_probe(probe, self.target)
            except BaseException as error:  # re-raised in the caller's thread
                outcome["error"] = error

        thread = threading.Thread(target=probe_thread, name="qos-probe", daemon=True)
        thread.start()
        try:
            assert pair is not None
            flow = self._flow(traffic, pair, update)
        finally:
            thread.join(timeout=probe.timeout_total)
        if "error" in outcome:
            raise outcome["error"]
        return [flow, outcome["probe"]]

    def _flow(
        self, traffic: Traffic, pair: tuple[int, Iperf3Server | None], update: Update
    ) -> Measurement:
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
        )

    @contextlib.contextmanager
    def _load(
        self,
        load: tuple[Traffic, ...],
        pairs: list[tuple[int, Iperf3Server | None]],
        covering: float,
    ) -> Iterator[list[_LoadFlow]]:
        """Start background flows lasting `covering` s (+ a tail); always stop them."""
        started: list[_LoadFlow] = []
        try:
            for traffic, (port, server) in zip(load, pairs, strict=True):
                seconds = max(traffic.duration, math.ceil(covering + LOAD_TAIL))
                lasting = replace(traffic, duration=float(seconds))
                command = self.iperf3.command(lasting, self.target.host, port)
                if server is not None and not server.wait_ready():
                    raise MeasurementError("iperf3 server for the load stopped listening", command)
                started.append(_LoadFlow(lasting, command, self.target.client.spawn(command)))
            yield started
        finally:
            for running in started:
                running.process.stop()


def _duration(traffic: Traffic | None, probe: Probe | None) -> float:
    """How long the measured part lasts (for sizing the background load)."""
    seconds = traffic.duration + traffic.omit if traffic else 0.0
    if probe is not None:
        # Until the last probe's reply (or its timeout): the load must cover all of it.
        seconds = max(seconds, probe.send_time + probe.timeout)
    return seconds
