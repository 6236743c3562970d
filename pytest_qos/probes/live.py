"""A running probe's figures per live interval: sent, received and an RTT histogram.

Standard library only (shipped with the probe client). The probe's own thread only counts:
per send an index computation, per reply a histogram add, and once per interval a hand-off of
the finished window to `sink`. Percentiles are computed later, by whoever calls
`ProbeInterval.metrics()` (the monitor's background thread), never on the probe's thread.

A window holds the probes *scheduled* in [k * every, (k + 1) * every) of the schedule and is
handed off once the last of them has had its full timeout: its loss is then exactly the
probe's definition (no reply within the timeout), not an artefact of where a window ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .hdr import Histogram

PERCENTILES = (50, 90, 95, 99)


@dataclass
class ProbeInterval:
    """The figures of one live interval of one probe: raw counts, figures on demand."""

    name: str  # the probe's name in its test ('' for a test's only probe)
    start: float  # seconds since the probe's schedule began
    end: float
    sent: int = 0
    histogram: Histogram = field(default_factory=Histogram)

    kind = "probe"

    @property
    def received(self) -> int:
        """Replies within the timeout."""
        return self.histogram.count

    def metrics(self) -> dict[str, float]:
        """latency.* (seconds) and latency.loss (percent) of this interval, as the catalogue
        names them; call it off the probe's thread."""
        if self.sent <= 0:
            return {}
        figures = {"latency.loss": 100.0 * max(0, self.sent - self.received) / self.sent}
        if not self.received:
            return figures
        histogram = self.histogram
        ranks = histogram.percentiles(PERCENTILES)
        figures["latency.min"] = histogram.min / 1e9
        figures["latency.mean"] = histogram.mean() / 1e9
        figures["latency.max"] = histogram.max / 1e9
        figures.update({f"latency.p{p}": ranks[p] / 1e9 for p in PERCENTILES})
        return figures


class LiveWindows:
    """Counts a probe's sends and replies per live interval; hands each finished one to `sink`.

    `sink` must return at once (it runs on the probe's thread between two sends).
    """

    def __init__(
        self,
        sink: Callable[[ProbeInterval], None],
        name: str,
        every: float,
        interval: float,
        timeout: float,
    ) -> None:
        self.sink = sink
        self.name = name
        self.every_ns = max(1, round(every * 1e9))
        self.interval_ns = max(1, round(interval * 1e9))
        self.timeout_ns = max(0, round(timeout * 1e9))
        self.start_ns = 0
        self._open: dict[int, ProbeInterval] = {}
        self._next_close_ns: int | None = None

    def begin(self, start_ns: int) -> None:
        """The schedule starts at monotonic `start_ns` (probe 0's send time)."""
        self.start_ns = start_ns

    def _window(self, seq: int) -> ProbeInterval | None:
        index = seq * self.interval_ns // self.every_ns
        window = self._open.get(index)
        if window is None:
            if index < max(self._open, default=index):
                return None  # an older window already handed off
            every = self.every_ns / 1e9
            window = ProbeInterval(self.name, index * every, (index + 1) * every)
            self._open[index] = window
            if self._next_close_ns is None:
                self._next_close_ns = self._closes_at(index)
        return window

    def _closes_at(self, index: int) -> int:
        return self.start_ns + (index + 1) * self.every_ns + self.timeout_ns

    def sent(self, seq: int) -> None:
        """Probe `seq` was sent."""
        window = self._window(seq)
        if window is not None:
            window.sent += 1

    def reply(self, seq: int, rtt_ns: int) -> None:
        """Probe `seq` came back after `rtt_ns` (within the timeout)."""
        window = self._open.get(seq * self.interval_ns // self.every_ns)
        if window is not None:
            window.histogram.add(rtt_ns)

    def tick(self, now_ns: int) -> None:
        """Hand off every window whose probes have all had their timeout by `now_ns`."""
        if self._next_close_ns is None or now_ns < self._next_close_ns:
            return
        for index in sorted(self._open):
            if now_ns < self._closes_at(index):
                self._next_close_ns = self._closes_at(index)
                return
            self.sink(self._open.pop(index))
        self._next_close_ns = None

    def finish(self) -> None:
        """The probe ended: hand off what is still open (its timeouts have all passed)."""
        for index in sorted(self._open):
            self.sink(self._open.pop(index))
        self._next_close_ns = None
