"""Methods on a real path: each trial one round of the runner (measure.rounds); QosResults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..errors import MeasurementError
from ..hosts.pathmtu import path_mtu
from ..judge.bounds import Bound
from ..measure.request import FlowsRequest, TrafficRequest
from ..measure.runner import Runner
from ..results import Measurement, QosResult
from . import rfc2544, rfc6349, rpm_run, y1541, y1564
from .rpm import Rpm
from .spec import MethodSpec
from .trial import Flow, Observed

# Several services together (Y.1564's performance test) run as named flows over one window;
# this long a settle leaves their start-up out of it.
CONCURRENT_SETTLE = 1.0


class IperfTrial:
    """A Trial measured for real: one flow with its probe, or named flows over one window.

    Each trial is one round of the runner's; the caller holds the path (Runner.holding_path)
    for as long as its trials belong together.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.count = 0  # trials run, for benchmarks and reports

    def __call__(self, flows: Sequence[Flow]) -> list[Observed]:
        """Run `flows` together; the first error raised by any of them propagates."""
        self.count += 1
        if len(flows) > 1:
            return self._concurrent(flows)
        flow = flows[0]
        request = TrafficRequest(traffic=flow.traffic, probe=flow.probe, settle=0.0)
        measured = self.runner.measure(request).measured
        probed = [m for m in measured if m.tool.startswith("probe:")]
        return [
            Observed(
                measured[0] if flow.traffic is not None else None,
                probed[0] if probed else None,
            )
        ]

    def _concurrent(self, flows: Sequence[Flow]) -> list[Observed]:
        """Named flows (and their probes) over one window: the project's concurrent flows."""
        names = [flow.name or f"flow{index}" for index, flow in enumerate(flows)]
        traffic = {
            name: flow.traffic for name, flow in zip(names, flows, strict=True) if flow.traffic
        }
        if len(set(names)) != len(names) or len(traffic) != len(flows):
            raise MeasurementError("concurrent trial flows need distinct names and traffic")
        probes = {
            name: flow.probe
            for name, flow in zip(names, flows, strict=True)
            if flow.probe is not None
        }
        duration = max(t.duration for t in traffic.values())
        request = FlowsRequest(
            probes=probes, settle=CONCURRENT_SETTLE, flows=traffic, duration=duration
        )
        by_name: dict[tuple[str, bool], Measurement] = {}
        for measurement in self.runner.measure(request).measured:
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


def run_method(method: MethodSpec, runner: Runner, test_id: str) -> QosResult:
    """Run one method test on the runner's target; the result carries the method's checks.

    The test's own bounds and its baseline are judged afterwards (judge.verdict.judge).
    """
    trial = IperfTrial(runner)
    ipv6 = ":" in runner.target.host
    extra: list[Measurement] = []
    # One method is one measurement of the path: no other test may share it meanwhile.
    with runner.holding_path(test_id):
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
    result.checks = list(outcome.checks)
    return result


def derive_y1541(result: QosResult, expect: Mapping[str, Bound]) -> None:
    """y1541.* derived from the result's probe when a bound reads them (a preset's bounds)."""
    if not any(name in y1541.METRICS for name in expect):
        return
    for measurement in result.measurements:
        if measurement.tool.startswith("probe:"):
            measurement.metrics.update(y1541.derive(measurement))
