"""Constant-memory latency statistics: an HDR-style histogram, exact moments, per-interval series.

Values are integer nanoseconds. Below 2048 ns every value has its own bucket; above, each power
of two is split into 1024 buckets, so a bucket is at most 1/1024 of its lower edge wide and its
midpoint is within 1/2048 (0.049 %) of any value in it. Percentiles are nearest-rank, like
stats.percentile: the bucket holding the ranked sample, reported as its midpoint clamped to the
exact min and max. Up to EXACT_LIMIT samples are also kept raw, and percentiles are then exact.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Iterable
from typing import Any

SUB_BITS = 11  # 2048 exact buckets, then 1024 per power of two
_SUB = 1 << SUB_BITS
_HALF = _SUB >> 1
EXACT_LIMIT = 65_536  # raw samples kept (8 bytes each) before only the histogram remains
REORDER_WINDOW = 1024  # replies held to put IPDV pairs in sequence order
MAX_RELATIVE_ERROR = 1 / _SUB


def bucket_of(value: int) -> int:
    """The bucket index of a non-negative integer."""
    if value < _SUB:
        return value
    shift = value.bit_length() - SUB_BITS
    return _SUB + (shift - 1) * _HALF + ((value >> shift) - _HALF)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) of a bucket."""
    if index < _SUB:
        return index, index + 1
    shift, offset = divmod(index - _SUB, _HALF)
    shift += 1
    low = (offset + _HALF) << shift
    return low, low + (1 << shift)


class Histogram:
    """Counts per bucket (sparse), plus exact count, min, max, sum and sum of squares."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.total_squares = 0
        self.min = 0
        self.max = 0

    def add(self, value: int) -> None:
        """Record one non-negative integer value."""
        value = max(0, value)
        index = bucket_of(value)
        self.counts[index] = self.counts.get(index, 0) + 1
        if not self.count:
            self.min = self.max = value
        elif value < self.min:
            self.min = value
        elif value > self.max:
            self.max = value
        self.count += 1
        self.total += value
        self.total_squares += value * value

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts into this one."""
        if not other.count:
            return
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        self.min = other.min if not self.count else min(self.min, other.min)
        self.max = other.max if not self.count else max(self.max, other.max)
        self.count += other.count
        self.total += other.total
        self.total_squares += other.total_squares

    def percentiles(
        self, percents: Iterable[float], population: int | None = None
    ) -> dict[float, int]:
        """Nearest-rank percentiles (bucket midpoints clamped to min..max), in one pass.

        Ranked among `population` values (default: those recorded); one whose rank falls
        beyond the recorded values (among lost probes, RFC 2679 §5.1) is left out.
        """
        total = max(population or 0, self.count)
        wanted = sorted((rank(p, total), p) for p in percents)
        result: dict[float, int] = {}
        if not self.count:
            return result
        seen = 0
        position = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            while position < len(wanted) and wanted[position][0] <= seen:
                low, high = bucket_bounds(index)
                middle = (low + high - 1) // 2 if high - low > 1 else low
                result[wanted[position][1]] = min(max(middle, self.min), self.max)
                position += 1
            if position == len(wanted):
                break
        return result

    def mean(self) -> float:
        """Exact arithmetic mean."""
        return self.total / self.count if self.count else 0.0

    def stdev(self) -> float:
        """Sample standard deviation (n − 1), from exact integer sums."""
        if self.count < 2:
            return 0.0
        numerator = self.count * self.total_squares - self.total * self.total
        return math.sqrt(max(0, numerator) / (self.count * (self.count - 1)))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: buckets as [index, count] pairs."""
        return {
            "count": self.count,
            "total": self.total,
            "total_squares": self.total_squares,
            "min": self.min,
            "max": self.max,
            "buckets": sorted(self.counts.items()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        """The inverse of to_json."""
        histogram = cls()
        histogram.counts = {int(index): int(count) for index, count in data["buckets"]}
        histogram.count = int(data["count"])
        histogram.total = int(data["total"])
        histogram.total_squares = int(data["total_squares"])
        histogram.min = int(data["min"])
        histogram.max = int(data["max"])
        return histogram


class Recorder:
    """One stream of delays (RTT, or one direction): histogram, exact samples while few, IPDV."""

    def __init__(self, exact_limit: int = EXACT_LIMIT, keep_seqs: bool = False) -> None:
        self.histogram = Histogram()
        self.exact: array[int] | None = array("q")
        # With keep_seqs, the sequence numbers of the exact samples too: replies() lists them.
        self.seqs: array[int] | None = array("q") if keep_seqs else None
        self.exact_limit = exact_limit
        self._pending: list[tuple[int, int]] = []  # (seq, value): the reorder window
        self._previous: int | None = None
        self._ipdv_total = 0
        self._ipdv_pairs = 0

    def add(self, seq: int, value: int) -> None:
        """Record `value` (ns) of probe `seq`."""
        self.histogram.add(value)
        if self.exact is not None:
            if len(self.exact) < self.exact_limit:
                self.exact.append(value)
                if self.seqs is not None:
                    self.seqs.append(seq)
            else:
                self.exact = self.seqs = None  # from here on the histogram alone answers
        heapq.heappush(self._pending, (seq, value))
        if len(self._pending) > REORDER_WINDOW:
            self._pair(heapq.heappop(self._pending)[1])

    def replies(self) -> list[list[float]]:
        """[seq, seconds] of each sample in arrival order, while they are few enough to keep."""
        if self.exact is None or self.seqs is None:
            return []
        return [[seq, value / 1e9] for seq, value in zip(self.seqs, self.exact, strict=True)]

    def _pair(self, value: int) -> None:
        if self._previous is not None:
            self._ipdv_total += abs(value - self._previous)
            self._ipdv_pairs += 1
        self._previous = value

    def summary(self, population: int | None = None) -> dict[str, Any]:
        """JSON-ready figures: count, min, max, mean, stdev, jitter, percentiles (ns).

        `population` is how many probes this stream should have held (sent, in its direction):
        percentiles are ranked among all of them, a lost one counting as infinitely late
        (RFC 2679 §5.1, RFC 7679); a percentile whose rank falls among the lost is None.
        Without it, percentiles are ranked among the recorded values alone.
        """
        while self._pending:
            self._pair(heapq.heappop(self._pending)[1])
        histogram = self.histogram
        total = max(population or 0, histogram.count)
        figures: dict[str, Any] = {"count": histogram.count, "population": total}
        if not histogram.count:
            return {**figures, **({f"p{p}": None for p in _P} if total else {})}
        if self.exact is not None:
            ordered = sorted(self.exact)
            ranks: dict[float, int] = {
                p: ordered[rank(p, total) - 1] for p in _P if rank(p, total) <= len(ordered)
            }
            figures["exact"] = True
        else:
            ranks = histogram.percentiles(_P, total)
            figures["exact"] = False
        figures.update(
            {
                "min": histogram.min,
                "max": histogram.max,
                "mean": histogram.mean(),
                "stdev": histogram.stdev(),
                "jitter": self._ipdv_total / self._ipdv_pairs if self._ipdv_pairs else 0.0,
                **{f"p{p}": ranks.get(p) for p in _P},
                "histogram": histogram.to_json(),
            }
        )
        return figures


def rank(percent: float, total: int) -> int:
    """The nearest rank (from 1) of the `percent` percentile among `total` values."""
    return max(1, math.ceil(percent / 100 * total - 1e-9))


_P = (50, 90, 95, 99)


def series_period(interval: float, count: int) -> int:
    """Probes per series point: one per probe for short runs, else a round period (≤ ~1000)."""
    target = max(interval, (count - 1) * interval / 1000)
    for nice in _NICE_PERIODS:
        if nice >= target * (1 - 1e-9):
            return max(1, round(nice / interval))
    return max(1, math.ceil(target / interval))


_NICE_PERIODS = (
    *tuple(base * scale for scale in (0.001, 0.01, 0.1, 1.0, 10.0) for base in (1, 2, 5)),
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)


class Series:
    """Per-period figures (min, p50, p99, max, loss) of the RTT: never a list per packet."""

    def __init__(self, count: int, per_point: int, lag_points: int) -> None:
        self.count = count
        self.per_point = per_point
        self.lag = max(1, lag_points)
        self._open: dict[int, list[int]] = {}
        self._highest = -1
        self.points: list[list[float]] = []  # [index, min, p50, p99, max, loss %, received]

    def add(self, seq: int, rtt: int) -> None:
        """Record the RTT of probe `seq`."""
        point = seq // self.per_point
        if point < self._highest - self.lag and point not in self._open:
            return  # its point is already closed: far later than the timeout
        self._open.setdefault(point, []).append(rtt)
        if point > self._highest:
            self._highest = point
            for old in [p for p in self._open if p < point - self.lag]:
                self._close(old)

    def _close(self, point: int) -> None:
        values = sorted(self._open.pop(point))
        sent = min(self.per_point, self.count - point * self.per_point)
        self.points.append(
            [
                point,
                values[0],
                values[max(1, math.ceil(len(values) * 0.5 - 1e-9)) - 1],
                values[max(1, math.ceil(len(values) * 0.99 - 1e-9)) - 1],
                values[-1],
                100.0 * max(0, sent - len(values)) / sent if sent > 0 else 0.0,
                len(values),
            ]
        )

    def finish(self) -> list[list[float]]:
        """Every point, in time order; a period without any reply is 100 % loss."""
        for point in sorted(self._open):
            self._close(point)
        present = {int(p[0]) for p in self.points}
        last = (self.count - 1) // self.per_point
        for point in range(last + 1):
            if point not in present and len(present) + 1 <= 100_000:
                self.points.append([point, 0, 0, 0, 0, 100.0, 0])
        self.points.sort(key=lambda p: p[0])
        return self.points
