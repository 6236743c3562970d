"""Ad-hoc measurements from Python code: keyword options in, typed Measurement out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..errors import InputError
from ..hosts.target import Target, remote_target
from ..probes import Probe
from ..results import Measurement, QosResult, combine
from ..units import Kind, parse
from .iperf3 import Iperf3
from .progress import Progress
from .request import AnyRequest, FlowsRequest, TrafficRequest, check_name, check_window_keys
from .runner import Runner
from .traffic import Traffic

Recorder = Callable[[QosResult], None]
Flows = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def _load_flows(load: Flows) -> tuple[Traffic, ...]:
    if load is None:
        return ()
    flows = [load] if isinstance(load, Mapping) else list(load)
    return tuple(Traffic.from_options(flow) for flow in flows)


def _seconds(value: str | float) -> float:
    return parse(value, Kind.DURATION) if isinstance(value, str) else float(value)


class _PathClient:
    """Measures across a target for one test, recording each result; close() stops servers."""

    def __init__(
        self,
        iperf3: Callable[[], Iperf3],
        target: Target,
        record: Recorder,
        test_id: str = "",
        progress: Progress | None = None,
    ) -> None:
        self._iperf3 = iperf3
        self.target = target
        self._record = record
        self._test_id = test_id
        self._progress = progress
        self._runners: dict[tuple[str, int], Runner] = {}
        # Threads of one test share this client: one runner per key, so close() stops all.
        self._runners_lock = threading.Lock()

    def _runner(self, host: str | None = None, port: int | None = None) -> Runner:
        """The target's runner, or one for an iperf3 server already running at host:port."""
        key = (host or "", port or 0)
        with self._runners_lock:
            if key not in self._runners:
                target = self.target
                if host is not None or port is not None:
                    target = remote_target(host or self.target.host, [port or 5201])
                self._runners[key] = Runner(self._iperf3, target, self._progress)
            return self._runners[key]

    def _measure(self, runner: Runner, request: AnyRequest) -> Measurement:
        # Threads of one test may measure at once: each run's result is its own object.
        result = runner.run(self._test_id, request)
        self._record(result)
        return result.measurements[0]

    def close(self) -> None:
        """Stop every server this client spawned."""
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()


class Iperf3Client(_PathClient):
    """Runs iperf3 measurements against a target (the spawned loopback server by default)."""

    def run(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        load: Flows = None,
        settle: str | float = "1 s",
        label: str = "",
        **options: Any,
    ) -> Measurement:
        """Measure one flow; `options` are traffic keys ("protocol", "bitrate", "dscp", ...).

        `label` names it within the test: 'wire' reports 'wire.throughput'.
        """
        request = TrafficRequest(
            traffic=Traffic.from_options(options),
            load=_load_flows(load),
            settle=_seconds(settle),
            label=label,
        )
        return self._measure(self._runner(host, port), request)

    def run_flows(
        self,
        flows: Mapping[str, Mapping[str, Any]],
        *,
        duration: str | float = "1 s",
        settle: str | float = "1 s",
        probe: Mapping[str, Any] | None = None,
        probes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Measurement:
        """Run named flows together; one measurement, metrics 'NAME.METRIC' over one window.

        `flows` maps a name to traffic keys (no duration: the window is `duration`, after
        `settle`); `probe` / `probes` send over the same window.
        """
        if not flows:
            raise InputError("run_flows needs at least one named flow, e.g. {'video': {...}}")
        parsed = {name: _named_flow(name, options) for name, options in flows.items()}
        named_probes = {
            name: _named_probe(options, name, parsed) for name, options in (probes or {}).items()
        }
        request = FlowsRequest(
            probe=_named_probe(probe, "", {}) if probe is not None else None,
            probes=named_probes,
            settle=_seconds(settle),
            flows=parsed,
            duration=_seconds(duration),
        )
        result = self._runner().run(self._test_id, request)
        combined = combine(result.measurements)
        result.measurements = [combined]
        self._record(result)
        return combined


def _named_flow(name: str, options: Mapping[str, Any]) -> Traffic:
    """A named flow's traffic, under the rules a scenario's `flows:` follows."""
    check_name(name, "flow")
    check_window_keys("flow", options, name)
    return Traffic.from_options(options)


def _named_probe(options: Mapping[str, Any], name: str, flows: Collection[str]) -> Probe:
    """A probe beside named flows (`name` '' for the unnamed one): it sends over their window."""
    if name:
        check_name(name, "probe", flows)
    probe = Probe.from_options(options)  # options are a mapping of probe keys, or an error
    check_window_keys("probe", options, name)
    return probe


class LatencyProbe(_PathClient):
    """Runs latency probes against a target; call it or use `.run(**options)`."""

    def run(
        self, *, load: Flows = None, settle: str | float = "1 s", label: str = "", **options: Any
    ) -> Measurement:
        """Probe once; `options` are probe keys ("kind", "interval", "duration", "dscp", ...)."""
        request = TrafficRequest(
            probe=Probe.from_options(options),
            load=_load_flows(load),
            settle=_seconds(settle),
            label=label,
        )
        return self._measure(self._runner(), request)

    __call__ = run
