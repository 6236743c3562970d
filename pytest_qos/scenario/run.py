"""Running one scenario test without pytest: spec + target (+ baseline) → one judged result.

The pytest layer (collect.py) only calls `run_test` and raises when the result failed; a
script, a notebook or another test runner can call it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..diagnose import Diagnosis
from ..hosts.target import Target
from ..judge.compare import Thresholds, compare
from ..measure.iperf3 import Iperf3
from ..measure.progress import Progress
from ..measure.runner import Runner
from ..methods.execute import add_y1541, run_method
from ..results import QosResult
from .reader import TestSpec


@dataclass
class Baseline:
    """A stored run to compare with (--qos-compare) and how far each metric may move."""

    results: Mapping[str, QosResult]
    thresholds: Thresholds = field(default_factory=dict)

    def attach(self, result: QosResult, own: Thresholds | None = None) -> None:
        """Attach `result`'s comparison with its stored run (reported, not judged).

        `own` are the test's own thresholds (its `compare:`), winning over the run's.
        """
        thresholds = {**self.thresholds, **(own or {})}
        result.comparison = compare(result, self.results.get(result.test), thresholds)

    def judge(self, result: QosResult, own: Thresholds | None = None) -> None:
        """Attach the comparison and add a check per thresholded metric (these can fail)."""
        self.attach(result, own)
        assert result.comparison is not None
        result.checks += result.comparison.checks()

    def metrics(self, test_id: str) -> dict[str, float] | None:
        """The stored metrics of a test, for bounds such as '>= 95% of baseline'."""
        stored = self.results.get(test_id)
        return stored.metrics if stored is not None else None


def run_test(
    spec: TestSpec,
    target: Target,
    *,
    test_id: str | None = None,
    iperf3: Iperf3 | Callable[[], Iperf3] | None = None,
    baseline: Baseline | None = None,
    progress: Progress | None = None,
    diagnosis: Diagnosis | None = None,
) -> QosResult:
    """Measure `spec` across `target`, judge its bounds and the baseline; tool errors raise.

    With `diagnosis`, a failed test (or every test) also says where it failed (diagnose/).
    """
    test = test_id or spec.name
    runner = Runner(iperf3, target, progress)
    stored = baseline.metrics(test) if baseline is not None else None
    with runner:
        if spec.method is not None:
            result = run_method(spec.method, runner, test, spec.expect, stored)
        else:
            result = runner.run(
                test,
                traffic=spec.traffic,
                probe=spec.probe,
                load=spec.load,
                repeat=spec.repeat,
                settle=spec.settle,
                expect=spec.expect,
                flows=spec.flows,
                probes=spec.probes,
                duration=spec.duration,
                baseline=stored,
            )
            add_y1541(result, spec.expect, stored)
    if baseline is not None:
        baseline.judge(result, spec.compare)
    if diagnosis is not None:
        before = baseline.results.get(test) if baseline is not None else None
        with Runner(iperf3, target, progress) as again:
            diagnosis.attach(result, spec, again, before)
    return result
