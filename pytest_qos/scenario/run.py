"""Running one scenario test without pytest: spec + target (+ baseline) → one judged result.

The pytest layer (collect.py) only calls `run_test` and raises when the result failed; a
script, a notebook or another test runner can call it the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from ..hosts.target import Target
from ..judge.verdict import Baseline, judge
from ..measure.iperf3 import Iperf3
from ..measure.progress import Progress
from ..measure.request import AnyRequest, FlowsRequest, TrafficRequest
from ..measure.runner import Runner
from ..methods.execute import derive_y1541, run_method
from ..results import QosResult
from .reader import TestSpec


def run_test(
    spec: TestSpec,
    target: Target,
    *,
    test_id: str | None = None,
    iperf3: Iperf3 | Callable[[], Iperf3] | None = None,
    baseline: Baseline | None = None,
    progress: Progress | None = None,
) -> QosResult:
    """Measure `spec` across `target`, judge its bounds and the baseline; tool errors raise."""
    test = test_id or spec.name
    with Runner(iperf3, target, progress) as runner:
        if spec.method is not None:
            result = run_method(spec.method, runner, test)
        else:
            result = runner.run(test, _request(spec))
            derive_y1541(result, spec.expect)
    return judge(result, spec.expect, baseline, spec.compare)


def _request(spec: TestSpec) -> AnyRequest:
    if spec.flows:
        return FlowsRequest(
            probe=spec.probe,
            probes=spec.probes,
            settle=spec.settle,
            repeat=spec.repeat,
            wanted=tuple(spec.expect),
            flows=spec.flows,
            duration=spec.duration,
        )
    return TrafficRequest(
        probe=spec.probe,
        probes=spec.probes,
        settle=spec.settle,
        repeat=spec.repeat,
        wanted=tuple(spec.expect),
        traffic=spec.traffic,
        load=spec.load,
    )
