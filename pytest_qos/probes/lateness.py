"""Send lateness: the `probe.send_late.*` figures of every probe run, and the user's bound on them.

A probe is a schedule: probe i is due at start + i × interval. How late each send left is
measured by the client's send loop (clock.Lateness; for `icmp`, estimated from ping's output).
A run whose schedule slipped beyond the probe's `send_late` bound is an error, not a figure:
its round trips were taken by a host too busy to send on time.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError, MeasurementError, did_you_mean
from ..results import Measurement
from ..units import Kind, format_value, parse
from .clock import Lateness

PREFIX = "probe.send_late"
# The `send_late:` key's figures: the client record's key and the kind of quantity.
FIGURES = {
    "p50": ("send_late_p50", Kind.DURATION),
    "p99": ("send_late_p99", Kind.DURATION),
    "max": ("send_late_max", Kind.DURATION),
    "over_1ms": ("send_late_over_1ms", Kind.PERCENT),
}
# Unless the probe says otherwise: 99 % of sends within one interval of their time (a later
# send is closer to the next probe's slot than to its own), and never less than 50 ms. Each
# round trip is timed from its own send, so a send a few ms late still measures the path; 50
# ms at p99 is a host that cannot keep the schedule at all. A busy 2-core CI runner (four
# pytest-xdist workers) reached 12-22 ms, even at real-time priority (likely waiting for the
# interpreter's lock, or behind a busy delay line's higher real-time priority).
DEFAULT_P99_FLOOR = 0.050
# Below this many sends a p99 is the maximum: one scheduler hiccup of a busy CI runner would
# make a short probe (RPM's, a method's baseline) an error. Limits a probe states always apply.
DEFAULT_MIN_SENDS = 100
EXAMPLE = "{p99: 2 ms, over_1ms: 1 %}"

Limits = tuple[tuple[str, float], ...]


def parse_limits(value: Any) -> Limits:
    """The `send_late:` key: upper limits per figure, e.g. {p99: 2 ms, over_1ms: 1 %}."""
    if not isinstance(value, Mapping):
        raise InputError(
            f"send_late must be a mapping of upper limits such as {EXAMPLE} "
            f"({{}}: no limit), got {value!r}"
        )
    limits = []
    for figure, limit in value.items():
        if figure not in FIGURES:
            raise InputError(
                f"unknown send_late figure '{figure}'{did_you_mean(str(figure), FIGURES)} "
                f"(known: {', '.join(FIGURES)})",
                key=f"send_late.{figure}",
            )
        kind = FIGURES[figure][1]
        try:
            number = parse(limit, kind, f"send_late.{figure}")
        except InputError as error:
            raise InputError(error.message, key=f"send_late.{figure}") from None
        if number < 0:
            raise InputError(
                f"send_late.{figure} must be 0 or more, got {limit!r}", key=f"send_late.{figure}"
            )
        limits.append((str(figure), number))
    return tuple(limits)


def default_limits(interval: float, sent: int) -> Limits:
    """The bound a probe without a `send_late` key gets: none before DEFAULT_MIN_SENDS sends."""
    if sent < DEFAULT_MIN_SENDS:
        return ()
    return (("p99", max(DEFAULT_P99_FLOOR, interval)),)


def metrics_of(record: Mapping[str, Any]) -> dict[str, float]:
    """probe.send_late.* (s, %) from a client's record; empty when it sent nothing."""
    return {
        f"{PREFIX}.{figure}": float(record[key])
        for figure, (key, _) in FIGURES.items()
        if record.get(key) is not None
    }


class ScheduleSlipped(MeasurementError):
    """A probe fell behind its schedule beyond its `send_late` limits: its figures describe a
    host too busy to send on time, so the run is an error. `measurements` holds the run (its
    probe.send_late.* and round trips), for the test's result."""

    def __init__(
        self, message: str, command: Sequence[str], measurements: Sequence[Measurement]
    ) -> None:
        super().__init__(message, command)
        self.measurements = list(measurements)


def slipped(metrics: Mapping[str, float], limits: Limits, sent: int) -> str:
    """Why the schedule slipped beyond `limits`, naming the figures ('' when it did not)."""
    beyond = [
        (figure, limit)
        for figure, limit in limits
        if metrics.get(f"{PREFIX}.{figure}", 0.0) > limit
    ]
    if not beyond:
        return ""
    said = "; ".join(
        f"send lateness {figure} {_shown(figure, metrics[f'{PREFIX}.{figure}'])} is over the "
        f"{_shown(figure, limit)} allowed (send_late.{figure})"
        for figure, limit in beyond
    )
    seen = (
        f"{metrics.get(f'{PREFIX}.over_1ms', 0.0):.1f} % of {sent} sends left more than 1 ms "
        f"late, p50 {_shown('p50', metrics.get(f'{PREFIX}.p50', 0.0))}, "
        f"max {_shown('max', metrics.get(f'{PREFIX}.max', 0.0))}"
    )
    return (
        f"the probe fell behind its schedule: {said}; {seen} — its host was too busy to send "
        "on time, so its figures are not judged (give it real-time priority by running as "
        "root, run fewer tests at once, or raise the probe's 'send_late' limits)"
    )


def _shown(figure: str, value: float) -> str:
    return format_value(value, FIGURES[figure][1])


def estimated(sends: list[tuple[int, float]], interval: float) -> dict[str, Any]:
    """Lateness of sends known only by their times (s), for a sender that schedules each send
    one interval after the one before (ping): how much later than that each left, counted from
    the previous answered probe. Ping's own drift therefore does not accumulate."""
    ordered = sorted((seq, round(at * 1e9)) for seq, at in sends)
    if len(ordered) < 2:
        return {}
    interval_ns = round(interval * 1e9)
    lateness = Lateness()
    for (seq, at), (next_seq, next_at) in itertools.pairwise(ordered):
        lateness.add(next_at - at - (next_seq - seq) * interval_ns)
    basis = f"estimated from {len(ordered)} replies: printed time - RTT, after the previous"
    return {**lateness.summary(), "send_late_basis": basis}
