"""Running one scenario test without pytest: spec + target (+ baseline) → one judged result.

The pytest layer (collect.py) only calls `run_test` and raises when the result failed; a
script, a notebook or another test runner can call it the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from ..diagnose import Diagnosis
from ..hosts.target import Target
from ..judge.verdict import Baseline, judge
from ..measure.iperf3 import Iperf3
from ..measure.progress import Progress
from ..measure.runner import Runner
from ..methods.execute import derive_y1541, run_method
from ..methods.limits import limit_error
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
    diagnosis: Diagnosis | None = None,
) -> QosResult:
    """Measure `spec` across `target`, judge its bounds and the baseline; tool errors raise.

    With `diagnosis`, a failed test (or every test) also says where it failed (diagnose/).
    """
    test = test_id or spec.name
    with Runner(iperf3, target, progress) as runner:
        if isinstance(spec, MethodTest):
            result = run_method(spec.method, runner, test)
        else:
            result = runner.run(test, spec.request)
            derive_y1541(result, spec.expect)
    # A method whose sender fell short of its rates cannot be judged (methods/limits.py).
    unjudged = limit_error if isinstance(spec, MethodTest) else None
    judge(result, spec.expect, baseline, spec.compare, unjudged)
    if diagnosis is not None:
        before = baseline.results.get(test) if baseline is not None else None
        request = None if isinstance(spec, MethodTest) else spec.request
        with Runner(iperf3, target, progress) as again:
            diagnosis.attach(result, request, again, before)
    return result
