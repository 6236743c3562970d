"""The delay line's own account of each measurement: what it carried, dropped, and how late.

An observer of a lab's target, like the router's RouterView: `snapshot()` reads each
direction's statistics block (delayline.py's layout) before and after a measurement, and
`measurement()` gives the change as a Measurement (`tool: wan`, the counts in its details).
When the delay line fell behind its own tolerance, or one of its processes died, the figures
of that test are not the WAN's: `measurement()` raises WanEmulationError, carrying the
counts, and the test is an error.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..hosts.endpoints import wait_until
from ..results import Measurement
from ..units import Kind, format_value
from . import delayline
from .delaylines import WAYS, DelayLines, WanEmulationError, record_carried
from .wan import WanLink

DROP_TOLERANCE = 1e-4  # share of a direction's frames it may drop without having chosen to
LATENESS_TOLERANCE = 1e-3  # s: the p99 of its frames' lateness (send time - departure time)
JUDGED_FRAMES = 100  # fewer frames sent in a window: their p99 lateness is not judged
FRESH_TIMEOUT = 1.0  # s: a running line refreshes its block every 5 ms
RECORD_SECONDS = 1.0  # a window at least this long may raise the carried-frames record


@dataclass(frozen=True)
class Reading:
    """One direction's statistics block at one moment."""

    counters: dict[str, int]
    histogram: tuple[int, ...]


def _share(part: int, whole: int) -> str:
    share = 100.0 * part / whole if whole else 0.0
    return f"{share:.1f}" if share >= 1 else f"{share:.2g}"


@dataclass(frozen=True)
class Window:
    """One direction over one measurement: the change of its counters, its lateness."""

    way: str
    link: WanLink
    counts: dict[str, int]
    late: dict[str, float]  # p50, p99, max (s)
    seconds: float
    bound: int  # bytes
    peak_bytes: int

    @property
    def offered(self) -> int:
        """Frames that reached the line: those it read, and those the kernel dropped for it."""
        return self.counts["received"] + self.counts["kernel_drops"]

    @property
    def bound_chosen(self) -> bool:
        """A bound drop with a rate limit is the rate's: the bound holds 1.25 × its traffic."""
        rate = self.link.rate or 0.0
        return rate > 0 and self.bound >= rate / 8 * (self.link.delay + self.link.jitter)

    @property
    def unchosen(self) -> int:
        """Frames dropped that the emulation (its loss, its rate) did not choose to drop."""
        counts = self.counts
        dropped = counts["kernel_drops"] + counts["send_drops"] + counts["send_errors"]
        dropped += counts["truncated"]
        return dropped + (0 if self.bound_chosen else counts["bound_drops"])

    def overload(self) -> str:
        """What put this direction beyond its tolerance, in words; '' when it kept up."""
        counts, offered, parts = self.counts, self.offered, []
        if self.unchosen > DROP_TOLERANCE * offered:
            for key, words in (
                ("kernel_drops", "dropped by the kernel (no room in its socket)"),
                ("send_drops", "not sent (its send buffer was full)"),
                ("send_errors", "failed to send"),
                ("truncated", "too large for its buffers"),
            ):
                if counts[key]:
                    parts.append(f"{_share(counts[key], offered)} % {words}")
            if counts["bound_drops"] and not self.bound_chosen:
                bound = f"{self.bound / 2**20:.0f} MiB"
                parts.append(
                    f"{_share(counts['bound_drops'], offered)} % dropped at its memory bound "
                    f"({bound}; give wan.rate to size it)"
                )
        if counts["sent"] >= JUDGED_FRAMES and self.late["p99"] > LATENESS_TOLERANCE:
            parts.append(f"p99 lateness {format_value(self.late['p99'], Kind.DURATION)}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The counts as the result carries them (times in s, sizes in bytes)."""
        return {
            **self.counts,
            "dropped_unchosen": self.unchosen,
            "late_p50": self.late["p50"],
            "late_p99": self.late["p99"],
            "late_max": self.late["max"],
            "peak_bytes": self.peak_bytes,
            "bound_bytes": self.bound,
            "seconds": round(self.seconds, 3),
        }


def way_window(way: str, link: WanLink, before: Reading, after: Reading) -> Window:
    """The change of one direction's block between two readings."""
    counts = {key: after.counters[key] - before.counters[key] for key in delayline.COUNTERS}
    histogram = [now - then for now, then in zip(after.histogram, before.histogram, strict=True)]
    top = max((index for index, count in enumerate(histogram) if count), default=0)
    return Window(
        way=way,
        link=link,
        counts=counts,
        late={
            "p50": delayline.percentile(histogram, 0.5) / 1e9,
            "p99": delayline.percentile(histogram, 0.99) / 1e9,
            "max": delayline.bucket_top(top) / 1e9 if any(histogram) else 0.0,
        },
        seconds=(after.counters["updated"] - before.counters["updated"]) / 1e9,
        bound=after.counters["bound"],
        peak_bytes=after.counters["peak_bytes"],
    )


class DelayLineView:
    """Reads the lab's delay lines around each measurement (an observer of its target)."""

    def __init__(self, lines: DelayLines, description: str | None) -> None:
        self.lines = lines
        self.description = description

    def _read(self, way: str, since: int) -> Reading | None:
        """The direction's block once it was refreshed after `since` (ns); None if it never was."""
        path = self.lines.stats_path(way)
        found: list[Reading] = []

        def fresh() -> bool:
            try:
                block = delayline.read_stats(path.read_bytes())
            except OSError:
                return False
            if block is None or block[0]["updated"] < since:
                return False
            found.append(Reading(block[0], tuple(block[1])))
            return True

        wait_until(fresh, FRESH_TIMEOUT, 0.002)
        return found[0] if found else None

    def snapshot(self) -> dict[str, Reading]:
        """Both directions' blocks now; WanEmulationError when a line died or stalled."""
        died = self.lines.explain()
        if died is not None:
            raise died
        since = time.time_ns()
        readings = {}
        for way in WAYS:
            reading = self._read(way, since)
            if reading is None:
                raise WanEmulationError(
                    f"WAN delay line stalled: {way} has not updated its counters for "
                    f"{FRESH_TIMEOUT:g} s (stopped, or starved of CPU), so this test's figures "
                    "are not the WAN's"
                )
            readings[way] = reading
        return readings

    def measurement(
        self,
        before: dict[str, Reading],
        after: dict[str, Reading],
        wanted: Collection[str] = (),
        window: Any = None,
    ) -> Measurement:
        """The delay line's counts during the measurement; WanEmulationError if it fell behind.

        Counted over the whole measurement, not `window`: a frame it could not carry while
        the flows settled disturbed the window too."""
        wan = self.lines.wan
        assert wan is not None
        windows = [
            way_window(way, link, before[way], after[way])
            for way, link in (("up", wan.up), ("down", wan.down))
        ]
        overloads = [(w.way, w.overload()) for w in windows]
        said = "; ".join(f"{way} {words}" for way, words in overloads if words)
        details: dict[str, Any] = {
            "engine": self.lines.engine,
            "tolerance": {"dropped": DROP_TOLERANCE, "late_p99": LATENESS_TOLERANCE},
            **{w.way: w.to_json() for w in windows},
        }
        if said:
            details["overloaded"] = said
        measurement = Measurement(
            tool="wan",
            metrics={},
            details={
                "delay_line": details,
                **({"wan": self.description} if self.description else {}),
            },
        )
        if said:
            raise WanEmulationError(
                f"WAN delay line overloaded: {said} ({self.lines.engine} engine; its tolerance: "
                f"{DROP_TOLERANCE * 100:g} % of frames dropped, p99 lateness "
                f"{format_value(LATENESS_TOLERANCE, Kind.DURATION)}); this test's figures are "
                "not the WAN's",
                [measurement],
            )
        for w in windows:
            if w.seconds >= RECORD_SECONDS:
                record_carried(self.lines.engine, w.counts["sent"] / w.seconds)
        return measurement
