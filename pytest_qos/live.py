"""Live figures while a measurement runs: the seam a monitor plugs into.

The measuring code (measure/live.py for flows, probes/live.py for probes) hands "the last
interval's figures" of each flow and probe to the observer set with `observing()`; with none
set (the default) nothing is sampled and nothing changes. An observer's `interval()` is called
on a measuring thread (a probe's, between two sends) and must return at once: queue the
figures, never block, never raise. The seam sits in the foundation because both sides of it
need it: the measuring rooms (probes, measure) hand figures out, the monitor room takes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


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
