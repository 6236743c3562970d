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

import contextlib
import json
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

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

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: how a probe client on a far host reports the interval."""
        return {
            "start": self.start,
            "end": self.end,
            "sent": self.sent,
            "histogram": self.histogram.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], name: str) -> ProbeInterval:
        """The inverse of to_json, for the probe called `name` here."""
        return cls(
            name,
            float(data["start"]),
            float(data["end"]),
            int(data["sent"]),
            Histogram.from_json(data["histogram"]),
        )

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


LIVE_KEY = "live"  # a line {"live": {...}} of a probe client is one interval, not its record
_WRITER_QUEUE = 64


class LineWriter:
    """A far host's probe client: each interval as one JSON line, written by a thread of its
    own (the probe's thread only queues), all of them before the client's record."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self._queue: queue.Queue[ProbeInterval | None] = queue.Queue(_WRITER_QUEUE)
        self._thread = threading.Thread(target=self._run, name="qos-live-lines", daemon=True)
        self._thread.start()

    def sink(self, interval: ProbeInterval) -> None:
        """Queue one interval (dropped if the reader has fallen far behind)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(interval)

    def _run(self) -> None:
        while True:
            interval = self._queue.get()
            if interval is None:
                return
            self.stream.write(json.dumps({LIVE_KEY: interval.to_json()}) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=5.0)
