"""Methods on a real path: trials through iperf3 (and probes) on a Runner's target; QosResults."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import replace

from ..errors import MeasurementError
from ..hosts.locks import path_lock
from ..hosts.pathmtu import path_mtu
from ..judge.bounds import Bound, check_bounds
from ..measure.flows import Concurrent
from ..measure.runner import Runner
from ..probes import run_probe
from ..results import Measurement, QosResult
from . import rfc2544, rfc6349, rpm_run, y1541, y1564
from .limits import limit_error
from .rpm import Rpm
from .spec import MethodSpec
from .trial import Flow, Observed

# Several services together (Y.1564's performance test) run as named flows over one window
# (flows.py); this long a settle leaves their start-up out of it.
CONCURRENT_SETTLE = 1.0


class IperfTrial:
    """A Trial measured for real: one flow with its probe, or named flows over one window."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.count = 0  # trials run, for benchmarks and reports

    def __call__(self, flows: Sequence[Flow]) -> list[Observed]:
        """Run `flows` together; the first error raised by any of them propagates."""
        self.count += 1
        if len(flows) > 1:
            return self._concurrent(flows)
        flow = flows[0]
        target = self.runner.target
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            running = None
            if flow.traffic is not None:
                port, server = self.runner.servers.get(1)[0]
                running = pool.submit(
                    self.runner.iperf3.run,
                    flow.traffic,
                    target.host,
                    port,
                    endpoint=target.client,
                    server=server,
                )
            probing = pool.submit(run_probe, flow.probe, target) if flow.probe else None
            return [
                Observed(
                    running.result() if running is not None else None,
                    probing.result() if probing is not None else None,
                )
            ]

    def _concurrent(self, flows: Sequence[Flow]) -> list[Observed]:
        """Named flows (and their probes) over one window: the project's concurrent flows."""
        names = [flow.name or f"flow{index}" for index, flow in enumerate(flows)]
        if len(set(names)) != len(names) or any(flow.traffic is None for flow in flows):
            raise MeasurementError("concurrent trial flows need distinct names and traffic")
        traffic = {name: flow.traffic for name, flow in zip(names, flows, strict=True)}
        probes = {
            name: flow.probe
            for name, flow in zip(names, flows, strict=True)
            if flow.probe is not None
        }
        duration = max(t.duration for t in traffic.values() if t is not None)
        pairs = self.runner.servers.get(len(flows))
        measured = Concurrent(self.runner.iperf3, self.runner.target, pairs).run(
            {name: t for name, t in traffic.items() if t is not None},
            probes,
            settle=CONCURRENT_SETTLE,
            duration=duration,
        )
        by_name: dict[tuple[str, bool], Measurement] = {}
        for measurement in measured:
            name = str(measurement.details.get("name", ""))
            by_name[(name, measurement.tool.startswith("probe:"))] = _unprefixed(
                measurement, name, duration
            )
        return [Observed(by_name[(name, False)], by_name.get((name, True))) for name in names]


def _unprefixed(measurement: Measurement, name: str, window: float) -> Measurement:
    """A named flow's measurement with plain metric names, its duration the window's."""
    plain = {
        metric.removeprefix(f"{name}."): value for metric, value in measurement.metrics.items()
    }
    details = {**measurement.details, "duration": window}
    return replace(measurement, metrics=plain, details=details)


def run_method(
    method: MethodSpec,
    runner: Runner,
    test_id: str,
    expect: dict[str, Bound] | None = None,
    baseline: dict[str, float] | None = None,
) -> QosResult:
    """Run one method test on the runner's target; its own checks, then `expect`'s."""
    trial = IperfTrial(runner)
    ipv6 = ":" in runner.target.host
    extra: list[Measurement] = []
    # One method is one measurement of the path: no other test may share it meanwhile.
    with path_lock(runner.target.name):
        if isinstance(method, rfc2544.Rfc2544):
            outcome = rfc2544.run(method, trial, ipv6=ipv6, mtu=path_mtu(runner.target))
        elif isinstance(method, rfc6349.Rfc6349):
            outcome, transfer = rfc6349.run(method, trial, ipv6=ipv6)
            extra.append(transfer)
        elif isinstance(method, Rpm):  # its own loop: it decides every interval (rpm_run.py)
            outcome = rpm_run.run(method, runner)
        else:
            outcome = y1564.run(method, trial, ipv6=ipv6, mtu=path_mtu(runner.target))
    outcome.details["trials_run"] = trial.count
    result = QosResult(test=test_id, measurements=[outcome.measurement(), *extra])
    result.checks = outcome.checks + check_bounds(result.metrics, expect or {}, baseline)
    result.error = limit_error(outcome, result.checks)  # the sender fell short: no verdict
    return result


def add_y1541(
    result: QosResult, expect: dict[str, Bound], baseline: dict[str, float] | None = None
) -> None:
    """Derive y1541.* from the result's probe and judge `expect` again (a preset's bounds)."""
    if not any(name in y1541.METRICS for name in expect):
        return
    for measurement in result.measurements:
        if measurement.tool.startswith("probe:"):
            measurement.metrics.update(y1541.derive(measurement))
    result.checks = check_bounds(result.metrics, expect, baseline)
