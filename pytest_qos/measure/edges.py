"""The measured window's edges: the target's observers read when it opens and when it closes.

A test's flows run longer than what they measure (settle, a load's head start, a tail), so a
router counter read before and after the whole test counts traffic that no figure counts.
`WindowEdges` reads the observers (the lab router) at the two edges of the measured window,
from timer threads when the window lies ahead, so the counters cover what the figures cover.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MeasurementError
from ..hosts.target import Observer
from ..results import Measurement

JOIN_TIMEOUT = 30.0  # an edge reading is a few tc commands: milliseconds, seconds at worst


@dataclass(frozen=True)
class Reading:
    """Every observer's snapshot at one edge, and when it was taken (monotonic seconds)."""

    at: float
    snapshots: list[Any]


@dataclass(frozen=True)
class Window:
    """One observer's snapshots at the window's opening and closing, and the seconds between."""

    opened: Any
    closed: Any
    seconds: float


class WindowEdges:
    """Reads `observers` at the window's opening and closing (now, or at a wall-clock time)."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self.observers = list(observers)
        self.readings: dict[str, Reading] = {}
        self._timers: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def open(self) -> None:
        """Read the observers now: the window opens."""
        self._read("open")

    def open_after(self, seconds: float) -> None:
        """The window opens in `seconds` (a flow's omitted head), or now."""
        if seconds > 0:
            self.at("open", time.time() + seconds)
        else:
            self.open()

    def close(self) -> None:
        """Read the observers now: the window closes."""
        self._read("close")

    def at(self, edge: str, wall_time: float) -> None:
        """Read at `wall_time` (time.time()) from a thread: `edge` is 'open' or 'close'."""
        if not self.observers:
            return

        def read_then() -> None:
            time.sleep(max(0.0, wall_time - time.time()))
            try:
                self._read(edge)
            except BaseException as error:  # handed to the measuring thread by join()
                self._errors.append(error)

        thread = threading.Thread(target=read_then, name=f"qos-edge-{edge}", daemon=True)
        self._timers.append(thread)
        thread.start()

    def join(self) -> None:
        """Wait for scheduled readings; an error of one is raised here."""
        for thread in self._timers:
            thread.join(JOIN_TIMEOUT)
            if thread.is_alive():
                raise MeasurementError("reading the router at the window's edge did not finish")
        self._timers.clear()
        if self._errors:
            raise self._errors[0]

    def window(self, index: int) -> Window | None:
        """Observer `index`'s snapshots at both edges, or None when an edge was not read."""
        opened, closed = self.readings.get("open"), self.readings.get("close")
        if opened is None or closed is None or closed.at <= opened.at:
            return None
        seconds = closed.at - opened.at
        return Window(opened.snapshots[index], closed.snapshots[index], seconds)

    def _read(self, edge: str) -> None:
        if not self.observers:
            return
        started = time.monotonic()
        snapshots = [observer.snapshot() for observer in self.observers]
        # The reading's moment: halfway through it (tc takes a few ms per interface).
        self.readings[edge] = Reading((started + time.monotonic()) / 2, snapshots)


def observed(
    observers: Sequence[Observer], before: Sequence[Any], edges: WindowEdges, wanted: list[str]
) -> list[Measurement]:
    """Each observer's measurement: its change over the whole test (from `before`, read again
    now) and over the window between the edges' readings."""
    edges.join()
    return [
        observer.measurement(snapshot, observer.snapshot(), wanted, edges.window(index))
        for index, (observer, snapshot) in enumerate(zip(observers, before, strict=True))
    ]
