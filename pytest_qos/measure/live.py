"""Live figures while a measurement runs: the seam a monitor plugs into.

The measuring code hands "the last interval's figures" of each flow and probe to the observer
set with `observing()`; with none set (the default) nothing is sampled and nothing changes.
An observer's `interval()` is called on a measuring thread (a probe's, between two sends) and
must return at once: queue the figures, never block, never raise.

iperf3 3.12 prints its JSON only at the end (`--json-stream` is 3.17+), and a second text
output beside `-J` does not exist. So a flow's live throughput is read from the kernel's count
of bytes its receiver read (`/proc/PID/io` `rchar`: the server for an upload, the client for a
download) every interval: nothing is added to what iperf3 runs or measures. Where the receiver
is not on this host (ssh endpoints, servers we did not start), the sender's count is used and
named `throughput.sent`; where neither is, the flow has no live figures.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..hosts.endpoints import Endpoint, Local, Netns, Process

# Bytes counted for a live metric: {"throughput": received bytes, ...}, or None when unreadable.
ByteCounter = Callable[[], dict[str, int] | None]


class LiveFigures(Protocol):
    """The last interval's figures of one flow or probe."""

    kind: str  # "flow" or "probe"
    name: str  # its name in its test ('' for a test's only flow or probe)
    start: float  # the interval, in seconds since the flow or probe started
    end: float

    def metrics(self) -> dict[str, float]:
        """Catalogue-named figures in base units (may compute: call it off the measuring
        thread)."""
        ...


class LiveObserver(Protocol):
    """What receives live figures (the monitor room implements it)."""

    every: float  # seconds between intervals; 0 turns live figures off

    def interval(self, figures: LiveFigures) -> None:
        """One interval's figures; called on a measuring thread, returns at once."""
        ...


_OBSERVERS: list[LiveObserver] = []


@contextlib.contextmanager
def observing(observer: LiveObserver) -> Iterator[LiveObserver]:
    """Send live figures of the measurements made in this block (any thread) to `observer`."""
    _OBSERVERS.append(observer)
    try:
        yield observer
    finally:
        _OBSERVERS.remove(observer)


def observer_for(seconds: float) -> LiveObserver | None:
    """The observer, when one is set and a measurement of `seconds` outlasts its interval."""
    observer = _OBSERVERS[-1] if _OBSERVERS else None
    if observer is None or observer.every <= 0 or seconds <= observer.every:
        return None
    return observer


@dataclass
class FlowInterval:
    """One live interval of one iperf3 flow: rates from the bytes counted over it."""

    name: str
    start: float
    end: float
    rates: dict[str, float] = field(default_factory=dict)  # bit/s by catalogue name

    kind = "flow"

    def metrics(self) -> dict[str, float]:
        """throughput (or throughput.sent, throughput.reverse) in bit/s."""
        return dict(self.rates)


def read_io(pid: int, field_name: str) -> int | None:
    """`rchar` or `wchar` of a process from /proc/PID/io; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as stream:
            for line in stream:
                key, _, value = line.partition(":")
                if key == field_name:
                    return int(value)
    except (OSError, ValueError):
        return None
    return None


def on_this_host(endpoint: Endpoint) -> bool:
    """True when a process spawned at `endpoint` is a process of this host (its pid is real)."""
    return type(endpoint) in (Local, Netns)


def process_bytes(
    process: Callable[[], Process | None], endpoint: Endpoint, field_name: str
) -> Callable[[], int | None] | None:
    """A reader of `field_name` of the current process at `endpoint`, or None elsewhere."""
    if not on_this_host(endpoint):
        return None

    def read() -> int | None:
        current = process()
        return read_io(current.pid, field_name) if current is not None else None

    return read


class FlowSampler:
    """Reads a flow's byte counters every interval on its own thread; stop() ends it."""

    def __init__(
        self, observer: LiveObserver, name: str, counter: ByteCounter, started: float
    ) -> None:
        self.observer = observer
        self.name = name
        self.counter = counter
        self.started = started  # monotonic time the flow started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qos-live-flow", daemon=True)

    def start(self) -> FlowSampler:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End sampling (idempotent); the last partial interval is not reported."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        every = self.observer.every
        before, at = self.counter(), time.monotonic()
        while not self._stop.wait(max(0.0, every - (time.monotonic() - at))):
            now, counted = time.monotonic(), self.counter()
            if before is not None and counted is not None and now > at:
                rates = {
                    name: 8.0 * (counted[name] - before[name]) / (now - at)
                    for name in counted
                    if name in before and counted[name] >= before[name]  # restarted: skip
                }
                if rates:
                    figures = FlowInterval(self.name, at - self.started, now - self.started, rates)
                    self.observer.interval(figures)
            before, at = counted, now
