"""Ad-hoc measurements from Python code: keyword options in, typed Measurement out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .iperf3 import Iperf3
from .probes import Probe
from .progress import Progress
from .results import Measurement, QosResult
from .runner import Runner
from .target import Target, remote_target
from .traffic import Traffic
from .units import Kind, parse

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

    def _runner(self, host: str | None = None, port: int | None = None) -> Runner:
        """The target's runner, or one for an iperf3 server already running at host:port."""
        key = (host or "", port or 0)
        if key not in self._runners:
            target = self.target
            if host is not None or port is not None:
                target = remote_target(host or self.target.host, [port or 5201])
            self._runners[key] = Runner(self._iperf3, target, self._progress)
        return self._runners[key]

    def _measure(self, runner: Runner, **what: Any) -> Measurement:
        result = runner.run(self._test_id, **what)
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
        **options: Any,
    ) -> Measurement:
        """Measure one flow; `options` are traffic keys ("protocol", "bitrate", "dscp", ...)."""
        return self._measure(
            self._runner(host, port),
            traffic=Traffic.from_options(options),
            load=_load_flows(load),
            settle=_seconds(settle),
        )


class LatencyProbe(_PathClient):
    """Runs latency probes against a target; call it or use `.run(**options)`."""

    def run(
        self, *, load: Flows = None, settle: str | float = "1 s", **options: Any
    ) -> Measurement:
        """Probe once; `options` are probe keys ("kind", "interval", "duration", "dscp", ...)."""
        return self._measure(
            self._runner(),
            probe=Probe.from_options(options),
            load=_load_flows(load),
            settle=_seconds(settle),
        )

    __call__ = run
