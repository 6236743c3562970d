"""Change points of one metric's series across runs (needs the extra: pytest-qos[trend]).

The search is ruptures' kernel change-point detection with a linear kernel: PELT's exact
penalised segmentation of a series into stretches of constant mean, in compiled code (a
1,000-run series takes milliseconds). The series is first scaled by its own noise (noise.py),
so one penalty, `PENALTY × ln(n)`, suits every metric. Each change found must then pass a
significance test of its own, as Apache Otava (after the Hunter paper) does for E-Divisive's
candidates: Welch's t-test between the runs just before and just after it (up to
`TEST_WINDOW` each side), p < `SIGNIFICANCE`; the weakest failing one is dropped and the rest
tested again. Calibrated on synthetic series (tests/test_history_changepoints.py): a step of
5× the noise is found within 2 runs of where it starts; noise alone gives no false change
in 100 runs.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import QosError
from .noise import step_noise

INSTALL_HINT = "change points need ruptures: pip install 'pytest-qos[trend]'"
MIN_SEGMENT = 3  # runs at a level before it counts as one: two odd runs are not a change
PENALTY = 6.0
SIGNIFICANCE = 0.001
TEST_WINDOW = 30
EXTRA_MODULES = ("numpy", "ruptures", "scipy")


class ExtraMissing(QosError):
    """The change-point extra (ruptures, numpy, scipy) is not installed."""


@dataclass(frozen=True)
class Step:
    """A change point: the series' level moves at `index` (the first run at the new level)."""

    index: int
    before: float  # median of the stretch before it (up to the previous change point)
    after: float  # median of the stretch from it (up to the next one)
    p_value: float


def libraries() -> tuple[Any, Any, Any]:
    try:
        import numpy
        import ruptures
        from scipy import stats
    except ImportError:
        raise ExtraMissing(INSTALL_HINT) from None
    return numpy, ruptures, stats


def extra_available() -> bool:
    """True when ruptures, numpy and scipy are installed: found, not imported (importing
    them costs ~1 s of CPU per process, paid only once a history is long enough to search)."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


def find_steps(values: Sequence[float], floor: float = 0.0) -> list[Step]:
    """The change points of `values` (oldest first); `floor` is the least noise to assume."""
    count = len(values)
    if count < 2 * MIN_SEGMENT:
        return []
    numpy, ruptures, _ = libraries()
    noise = max(step_noise(values), floor)
    if noise <= 0:
        return []  # a constant series (and no floor): nothing moves
    centre = statistics.median(values)
    scaled = (numpy.asarray(values, dtype=float) - centre) / noise
    search = ruptures.KernelCPD(kernel="linear", min_size=MIN_SEGMENT).fit(scaled)
    ends = search.predict(pen=PENALTY * math.log(count))
    return _significant(values, [int(end) for end in ends[:-1]])


def _significant(values: Sequence[float], cuts: list[int]) -> list[Step]:
    """Drop the least significant change until every one left passes the test."""
    while True:
        bounds = [0, *cuts, len(values)]
        tested = [
            _test(values[bounds[i] : cut], values[cut : bounds[i + 2]])
            for i, cut in enumerate(cuts)
        ]
        weakest = max(range(len(cuts)), key=lambda i: tested[i], default=None)
        if weakest is None or tested[weakest] < SIGNIFICANCE:
            return [
                Step(
                    cut,
                    statistics.median(values[bounds[i] : cut]),
                    statistics.median(values[cut : bounds[i + 2]]),
                    tested[i],
                )
                for i, cut in enumerate(cuts)
            ]
        cuts.pop(weakest)


def _test(before: Sequence[float], after: Sequence[float]) -> float:
    """Welch's t-test p-value between the runs nearest a change on each side."""
    _, _, stats = libraries()
    left, right = list(before[-TEST_WINDOW:]), list(after[:TEST_WINDOW])
    if statistics.pvariance(left) == 0 and statistics.pvariance(right) == 0:
        return 0.0 if statistics.median(left) != statistics.median(right) else 1.0
    p_value = float(stats.ttest_ind(left, right, equal_var=False).pvalue)
    return 1.0 if math.isnan(p_value) else p_value
