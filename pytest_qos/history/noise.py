"""How much a metric's series moves by itself: a robust noise estimate with a resolution floor.

Both the change points and the verdict measure a move in units of this noise. A series that
barely moves (a tbf's goodput repeats within 0.1 %) would make every tiny wobble look huge, so
the noise is never taken below the metric's resolution: 0.5 % of the series' median, and at
least one unit of the metric's kind (1 kbit/s, 10 µs, 0.1 percentage point, one packet).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

from ..judge.metrics import find
from ..units import Kind

RELATIVE_RESOLUTION = 0.005
_ABSOLUTE_RESOLUTION = {
    Kind.RATE: 1e3,  # bit/s
    Kind.DURATION: 1e-5,  # s: user-space timestamps wake up later than this anyway
    Kind.PERCENT: 0.1,  # percentage points: one packet in a thousand
    Kind.SIZE: 1.0,
    Kind.COUNT: 1.0,
    Kind.SCORE: 0.01,
}
# The MAD of normally distributed values is 0.6745 σ.
_MAD_TO_SIGMA = 1.4826


def resolution(metric: str, values: Sequence[float]) -> float:
    """The smallest noise this metric's series is taken to have (base units)."""
    known = find(metric)
    absolute = _ABSOLUTE_RESOLUTION.get(known.kind, 0.0) if known else 0.0
    centre = abs(statistics.median(values)) if values else 0.0
    return max(RELATIVE_RESOLUTION * centre, absolute)


def step_noise(values: Sequence[float]) -> float:
    """σ of the noise from the median absolute difference of neighbours (a step moves one)."""
    if len(values) < 2:
        return 0.0
    differences = [abs(b - a) for a, b in itertools.pairwise(values)]
    return _MAD_TO_SIGMA * statistics.median(differences) / math.sqrt(2)
