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
from ..measure.runner import Runner
from ..methods.execute import derive_y1541, run_method
from ..results import QosResult
from .spec import AnyTest, MethodTest


def run_test(
    spec: AnyTest,
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
        if isinstance(spec, MethodTest):
            result = run_method(spec.method, runner, test)
        else:
            result = runner.run(test, spec.request)
            derive_y1541(result, spec.expect)
    return judge(result, spec.expect, baseline, spec.compare)
