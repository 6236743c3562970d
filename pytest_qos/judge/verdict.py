"""A test's verdict: its bounds judged on what it measured, and its baseline comparison.

Pure functions over results, called the same way by a scenario test (scenario.run), a Python
test's `qos_check` (the pytest layer) and any script: nothing here measures or writes files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..results import Measurement, QosResult, prefixes
from .bounds import Bound, check_bounds
from .compare import Thresholds, compare, regression_checks


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
        result.checks += regression_checks(result.comparison)

    def metrics(self, test_id: str) -> dict[str, float] | None:
        """The stored metrics of a test, for bounds such as '>= 95% of baseline'."""
        stored = self.results.get(test_id)
        return stored.metrics if stored is not None else None


def judge(
    result: QosResult,
    expect: Mapping[str, Bound],
    baseline: Baseline | None = None,
    thresholds: Thresholds | None = None,
    unjudged: Callable[[QosResult], str] | None = None,
) -> QosResult:
    """Judge `expect` on the result's metrics, then its baseline; the checks join the result's.

    A bound relative to the baseline ('>= 95% of baseline') reads the stored run's value;
    `thresholds` are the test's own (its `compare:`), over the run's --qos-compare-fail.
    `unjudged`, asked once the bounds are checked (before the baseline), says why the figures
    cannot be judged at all (a sender short of a method's rates): the result's error then.
    """
    stored = baseline.metrics(result.test) if baseline is not None else None
    result.checks += check_bounds(result.metrics, dict(expect), stored)
    if unjudged is not None:
        result.error = unjudged(result) or result.error
    if baseline is not None:
        baseline.judge(result, thresholds)
    return result


def judge_part(
    result: QosResult,
    metrics: Mapping[str, float],
    expect: Mapping[str, Bound],
    baseline: Baseline | None = None,
    part: Measurement | None = None,
) -> QosResult:
    """Judge the `metrics` of one part of a test: `part` (one of the result's measurements),
    or the test as a whole; returns the checked result (the test's measurements, these
    checks, the comparison with the baseline). `result` itself is left as it was.

    Bounds name the part's metrics as it has them ('throughput'); the checks, and the
    baseline values relative bounds read, carry the names the test gives them
    ('tc.throughput' for a labelled measurement, or one whose metrics clash with another's).
    """
    prefix = ""
    if part is not None:
        prefix = prefixes(result.measurements)[result.measurements.index(part)]
    stored = (baseline.metrics(result.test) if baseline is not None else None) or {}
    own = {
        name.removeprefix(f"{prefix}.") if prefix else name: value
        for name, value in stored.items()
        if not prefix or name.startswith(f"{prefix}.")
    }
    checks = check_bounds(dict(metrics), dict(expect), own or None)
    for check in checks:
        check.metric = f"{prefix}.{check.metric}" if prefix else check.metric
    checked = QosResult(
        test=result.test, measurements=result.measurements, checks=checks, loads=result.loads
    )
    if baseline is not None:
        baseline.judge(checked)
    return checked
