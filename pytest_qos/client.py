"""Ad-hoc measurements from Python code: keyword options in, typed Measurement out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .iperf3 import Iperf3
from .report.progress import Progress
from .results import Measurement, QosResult
from .runner import Runner
from .target import Target, remote_target
from .traffic import Traffic
from .units import Kind, parse

Recorder = Callable[[QosResult], None]


def _load_flows(
    load: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> tuple[Traffic, ...]:
    if load is None:
        return ()
    flows = [load] if isinstance(load, Mapping) else list(load)
    return tuple(Traffic.from_options(flow) for flow in flows)


class Iperf3Client:
    """Runs iperf3 measurements against a target (the spawned loopback server by default)."""

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

    def _runner(self, host: str | None, port: int | None) -> Runner:
        key = (host or "", port or 0)
        if key not in self._runners:
            target = self.target
            if host is not None or port is not None:
                target = remote_target(host or self.target.host, [port or 5201])
            self._runners[key] = Runner(self._iperf3(), target, self._progress)
        return self._runners[key]

    def run(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        load: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        settle: str | float = "1 s",
        **options: Any,
    ) -> Measurement:
        """Measure one flow; `options` are traffic keys ("protocol", "bitrate", "dscp", ...)."""
        traffic = Traffic.from_options(options)
        result = self._runner(host, port).run(
            self._test_id,
            traffic=traffic,
            load=_load_flows(load),
            settle=parse(settle, Kind.DURATION) if isinstance(settle, str) else float(settle),
        )
        self._record(result)
        return result.measurements[0]

    def close(self) -> None:
        """Stop every server this client spawned."""
        for runner in self._runners.values():
            runner.close()
        self._runners.clear()


class LatencyProbe:
    """Runs latency probes against a target; call it or use `.run(**options)`."""

    def __init__(
        self,
        iperf3: Callable[[], Iperf3],
        target: Target,
        record: Recorder,
        test_id: str = "",
        progress: Progress | None = None,
    ) -> None:
        self._runner = Runner(None, target, progress)
        self._iperf3 = iperf3
        self._record = record
        self._test_id = test_id

    def run(
        self,
        *,
        load: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        settle: str | float = "1 s",
        **options: Any,
    ) -> Measurement:
        """Probe once; `options` are probe keys ("kind", "interval", "duration", "dscp", ...)."""
        from .probes import Probe

        probe = Probe.from_options(options)
        flows = _load_flows(load)
        if flows and self._runner._iperf3 is None:
            self._runner._iperf3 = self._iperf3()
        result = self._runner.run(
            self._test_id,
            probe=probe,
            load=flows,
            settle=parse(settle, Kind.DURATION) if isinstance(settle, str) else float(settle),
        )
        self._record(result)
        return result.measurements[0]

    __call__ = run

    def close(self) -> None:
        """Stop the servers of any load this probe ran under."""
        self._runner.close()
