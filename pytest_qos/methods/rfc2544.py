"""RFC 2544 §26.1 throughput: the highest offered rate whose frame loss stays within max_loss.

The search is a bracket [lo, hi] narrowed until hi/lo <= 1 + resolution: geometric bisection
(scale-free, so a 100x range costs the same trials at 1 Mbit/s as at 1 Gbit/s), helped by the
delivered rate of a lossy trial, which for a shaper or a policer is the capacity itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import InputError, check_key
from ..results import Check
from ..units import Kind, format_value, parse
from .frames import (
    JUMBO_FRAME_SIZES,
    RFC2544_FRAME_SIZES,
    check_mtu,
    frames_per_second,
    sent_frame_rate,
    short_of,
    udp_payload,
)
from .trial import MethodResult, Trial, frame_counts, frame_flow

KEYS = ("frame_sizes", "range", "resolution", "max_loss", "trial", "max_trials")
DEFAULT_TRIAL = 2.0  # seconds; RFC 2544 §24 asks for at least 60
DEFAULT_RESOLUTION = 1.0  # percent
DEFAULT_MAX_TRIALS = 20
HINTS = 5  # trials placed from a lossy trial's delivered rate before pure bisection
_EPSILON = 1e-9


class Observation(NamedTuple):
    """What a trial at one offered rate saw; `sent` is None when the sender did not say."""

    loss: float  # percent of the frames sent
    delivered: float  # frame bit/s that arrived
    sent: float | None = None  # frame bit/s the sender actually sent


# rate -> (loss percent, delivered rate[, sent rate]): an Observation or a plain tuple.
Offer = Callable[[float], "Observation | tuple[float, float] | tuple[float, float, float | None]"]


@dataclass(frozen=True)
class Rfc2544:
    """`rfc2544:` options in base units (bit/s of Ethernet frames, seconds, percent)."""

    low: float
    high: float
    frame_sizes: tuple[int, ...] = RFC2544_FRAME_SIZES
    resolution: float = DEFAULT_RESOLUTION
    max_loss: float = 0.0
    trial: float = DEFAULT_TRIAL
    max_trials: int = DEFAULT_MAX_TRIALS

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Rfc2544:
        """Validate `rfc2544:`; an InputError's key names the option at fault."""
        for key in options:
            check_key(key, KEYS, "rfc2544")
        if "range" not in options:
            raise InputError(
                "rfc2544 needs 'range:' — the offered rates to search between, "
                "e.g. '1 Mbit/s .. 100 Mbit/s'",
                key="range",
            )
        low, high = _range(options["range"])
        values: dict[str, Any] = {"low": low, "high": high}
        if "frame_sizes" in options:
            values["frame_sizes"] = _frame_sizes(options["frame_sizes"])
        if "resolution" in options:
            values["resolution"] = _percent(options["resolution"], "resolution", 0.01, 50.0)
        if "max_loss" in options:
            values["max_loss"] = _percent(options["max_loss"], "max_loss", 0.0, 100.0)
            if values["max_loss"] >= 100.0:  # every rate would pass: no throughput is found
                raise InputError(
                    f"max_loss must be below 100 % (at 100 % every rate passes), got "
                    f"{options['max_loss']!r}",
                    key="max_loss",
                )
        if "trial" in options:
            values["trial"] = _whole_seconds(options["trial"], "trial")
        if "max_trials" in options:
            count = options["max_trials"]
            if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= 100:
                raise InputError(
                    f"max_trials must be a whole number from 2 to 100, got {count!r}",
                    key="max_trials",
                )
            values["max_trials"] = count
        return cls(**values)


def _range(value: Any) -> tuple[float, float]:
    text = str(value)
    if ".." not in text:
        raise InputError(
            f"range '{text}' is not 'LOW .. HIGH', e.g. '1 Mbit/s .. 100 Mbit/s'", key="range"
        )
    low_text, high_text = (part.strip() for part in text.split("..", 1))
    try:
        low, high = parse(low_text, Kind.RATE), parse(high_text, Kind.RATE)
    except InputError as error:
        raise InputError(error.message, key="range") from None
    if low <= 0:
        raise InputError(f"range '{text}' must start above 0 bit/s", key="range")
    if low >= high:
        raise InputError(
            f"range '{text}' is upside down: its low end must be below its high end; "
            f"write '{high_text} .. {low_text}'",
            key="range",
        )
    return low, high


def _frame_sizes(value: Any) -> tuple[int, ...]:
    if value == "jumbo":
        return JUMBO_FRAME_SIZES
    sizes = value if isinstance(value, list) else [value]
    if not sizes:
        raise InputError("frame_sizes is empty; give e.g. [64, 512, 1518]", key="frame_sizes")
    parsed = []
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int):
            raise InputError(
                f"frame size {size!r} is not a whole number of bytes, e.g. 1518", key="frame_sizes"
            )
        try:
            udp_payload(size)
        except InputError as error:
            raise InputError(error.message, key="frame_sizes") from None
        parsed.append(size)
    if len(set(parsed)) != len(parsed):
        raise InputError("frame_sizes lists a size twice", key="frame_sizes")
    return tuple(parsed)


def _percent(value: Any, key: str, low: float, high: float) -> float:
    try:
        percent = parse(value, Kind.PERCENT)
    except InputError as error:
        raise InputError(error.message, key=key) from None
    if not low <= percent <= high:
        raise InputError(f"{key} must be from {low:g} % to {high:g} %, got {value!r}", key=key)
    return percent


def _whole_seconds(value: Any, key: str) -> float:
    try:
        seconds = parse(value, Kind.DURATION)
    except InputError as error:
        raise InputError(error.message, key=key) from None
    if not float(seconds).is_integer() or not 1 <= seconds <= 3600:
        raise InputError(
            f"{key} is whole seconds from 1 s to 1 h (iperf3 measures whole seconds), "
            f"got {value!r}",
            key=key,
        )
    return seconds


@dataclass(frozen=True)
class TrialPoint:
    """One trial of the search: the offered rate, what was sent and lost, the verdict.

    A trial whose sender sent less than offered (beyond the resolution) is *limited*: neither
    clean nor lossy, it tells nothing of the path at the offered rate.
    """

    rate: float  # offered, bit/s of frames
    loss: float  # percent
    delivered: float  # bit/s of frames that arrived
    passed: bool
    sent: float | None = None  # bit/s of frames the sender sent, when it said
    limited: bool = False


@dataclass
class SearchResult:
    """Where the search ended: the throughput (0 when even the low end lost) and every trial.

    `limited_by` is the sender's limit (frame bit/s) when the path lost nothing up to it: the
    throughput is then only known to be at least that.
    """

    throughput: float
    trials: list[TrialPoint] = field(default_factory=list)
    converged: bool = True
    note: str = ""
    limited_by: float | None = None


def trial_bound(low: float, high: float, resolution: float) -> int:
    """The most trials `search` can take: top, hints, bisections and the low end's check."""
    bisections = math.ceil(math.log2(math.log(high / low) / math.log1p(resolution / 100.0)))
    return 1 + HINTS + max(0, bisections) + 1


class _Search:
    """The bracket [lo, hi] and the trials so far; hi is a lossy rate or the sender's limit."""

    def __init__(
        self, offer: Offer, bracket: tuple[float, float], resolution: float, frame: int
    ) -> None:
        self.offer, (self.lo, self.hi), self.frame = offer, bracket, frame
        self.ratio = 1.0 + resolution / 100.0
        self.trials: list[TrialPoint] = []
        self.limit: float | None = None  # the lowest rate the sender fell short at
        self.verified = False

    def run(self, rate: float, max_loss: float) -> TrialPoint:
        observed = Observation(*self.offer(rate))
        limited = short_of(observed.sent, rate, self.ratio - 1.0)
        passed = observed.loss <= max_loss and not limited
        point = TrialPoint(rate, observed.loss, observed.delivered, passed, observed.sent, limited)
        self.trials.append(point)
        if limited and observed.sent is not None:
            # Nothing is known above what was sent; loss at the sent rate is loss there.
            self.hi = min(self.hi, max(observed.sent, self.lo))
            if observed.loss <= max_loss:
                self.limit = min(self.limit or observed.sent, observed.sent)
        elif passed:
            self.lo, self.verified = max(self.lo, rate), True
        else:
            self.hi = min(self.hi, rate)
        return point

    @property
    def converged(self) -> bool:
        return self.hi <= self.lo * self.ratio * (1 + _EPSILON)

    def result(self, converged: bool, note: str = "") -> SearchResult:
        found = self.lo if self.verified else 0.0
        limited_by = None
        if self.limit is not None and found * self.ratio * (1 + _EPSILON) >= self.limit:
            limited_by = self.limit  # nothing was lost up to what the sender could send
            note = note or (
                f"limited by the sender at {frame_rate_text(self.limit, self.frame)}: the path "
                "lost nothing up to there, so its throughput is not known above it"
            )
        return SearchResult(found, self.trials, converged, note, limited_by)


def frame_rate_text(rate: float, frame: int) -> str:
    """'164 474 frames/s (84.2 Mbit/s of 64-byte frames)', or the rate alone without a frame."""
    bits = format_value(rate, Kind.RATE)
    if not frame:
        return bits
    return f"{frames_per_second(rate, frame):,.0f} frames/s ({bits} of {frame}-byte frames)"


def search(
    offer: Offer,
    low: float,
    high: float,
    *,
    resolution: float = DEFAULT_RESOLUTION,
    max_loss: float = 0.0,
    max_trials: int = DEFAULT_MAX_TRIALS,
    frame: int = 0,
) -> SearchResult:
    """Find the highest rate in [low, high] whose loss <= max_loss, to `resolution` percent.

    A trial the sender could not deliver in full caps the search at what it sent.
    """
    if not 0 < low < high:
        raise InputError(f"the search range must satisfy 0 < low < high, got {low}..{high}")
    state = _Search(offer, (low, high), resolution, frame)
    top = state.run(high, max_loss)
    if top.passed:
        return SearchResult(high, state.trials, True, "no loss at the range's high end")
    hints, last, last_hinted, backoff = HINTS, top, False, 0.5
    while len(state.trials) < max_trials and not state.converged:
        rate = math.sqrt(state.lo * state.hi)
        hinted = (
            _hint(last, last_hinted, state.lo, state.hi, state.ratio**backoff, state.ratio)
            if hints > 0
            else None
        )
        if hinted is not None:
            rate, hints = hinted, hints - 1
        last, last_hinted = state.run(rate, max_loss), hinted is not None
        # A hint that still lost backs off twice as far next time: a shaper delivers a little
        # more than its rate while its queue and burst fill (a short trial counts that too).
        backoff = backoff * 2 if last_hinted and not last.passed else 0.5
    if not state.verified and state.converged and len(state.trials) < max_trials:
        low_end = state.run(low, max_loss)
        if not low_end.passed:
            why = "the sender could not send it" if low_end.limited else "frames were lost"
            return state.result(True, f"{why} even at the range's low end")
    if not state.converged:
        note = (
            f"stopped after {len(state.trials)} trials (max_trials) before reaching the resolution"
        )
        return state.result(False, note)
    return state.result(True)


def _hint(
    last: TrialPoint, hinted: bool, lo: float, hi: float, down: float, up: float
) -> float | None:
    """A rate placed from the last trial, or None for plain bisection.

    After a loss, a factor `down` under the delivered rate (a shaper's capacity) — under the
    sent rate after a clean limited trial; after a hinted trial passed, a factor `up` (one
    resolution) above it, which closes the bracket when the capacity lies in between.
    """
    if last.limited and last.sent is not None and last.loss == 0.0:
        rate = last.sent / down  # clean up to what was sent: just under it
    elif not last.passed:
        rate = last.delivered / down
    elif hinted:
        rate = last.rate * up
    else:
        return None
    if lo * (1 + _EPSILON) < rate < hi * (1 - _EPSILON):
        return rate
    return None


def run(spec: Rfc2544, trial: Trial, *, ipv6: bool = False, mtu: int | None = None) -> MethodResult:
    """The search for each frame size, through real (or fake) trials; with `mtu` (the
    path's), a frame it cannot carry whole is an InputError before any trial."""
    check_mtu(spec.frame_sizes, mtu)
    result = MethodResult("rfc2544")
    searches: list[dict[str, Any]] = []
    for frame in spec.frame_sizes:

        def offer(rate: float, frame: int = frame) -> Observation:
            flow = frame_flow(rate, frame, spec.trial, ipv6=ipv6)
            measured = trial([flow])[0].measured
            counts = frame_counts(measured, frame)
            return Observation(
                counts.loss, counts.delivered, sent_frame_rate(measured, frame, ipv6)
            )

        found = search(
            offer,
            spec.low,
            spec.high,
            resolution=spec.resolution,
            max_loss=spec.max_loss,
            max_trials=spec.max_trials,
            frame=frame,
        )
        result.metrics[f"rfc2544.throughput.{frame}"] = found.throughput
        result.metrics[f"rfc2544.frame_rate.{frame}"] = frames_per_second(found.throughput, frame)
        searches.append(_search_details(frame, found, ipv6))
    # The unsuffixed figures are the worst frame size's: a bound on them holds for every size.
    result.metrics["rfc2544.throughput"] = min(s["throughput"] for s in searches)
    result.metrics["rfc2544.frame_rate"] = min(s["frame_rate"] for s in searches)
    result.details = {
        "method": "rfc2544",
        "range": [spec.low, spec.high],
        "resolution": spec.resolution,
        "max_loss": spec.max_loss,
        "trial": spec.trial,
        "ipv6": ipv6,
        "searches": searches,
    }
    return result


def _search_details(frame: int, found: SearchResult, ipv6: bool) -> dict[str, Any]:
    return {
        "frame_size": frame,
        "udp_payload": udp_payload(frame, ipv6),
        "throughput": found.throughput,
        "frame_rate": frames_per_second(found.throughput, frame),
        "converged": found.converged,
        "note": found.note,
        **({"limited_by": found.limited_by} if found.limited_by is not None else {}),
        "trials": [
            {
                "rate": point.rate,
                "loss": point.loss,
                "delivered": point.delivered,
                "passed": point.passed,
                **({"sent": point.sent} if point.sent is not None else {}),
                **({"limited": True} if point.limited else {}),
            }
            for point in found.trials
        ],
    }


def limit_error(details: Mapping[str, Any], checks: Sequence[Check]) -> str:
    """Why an RFC 2544 result cannot be judged ('' when it can).

    A frame size whose search was limited by the sender has a throughput that is only a lower
    bound. That is enough when the test bounds the figure below it and the bound held (the path
    carried what the user asked for); otherwise the test is an error, never a pass or a
    QoS failure.
    """
    problems = []
    for found in details.get("searches", []):
        limit = found.get("limited_by")
        if limit is None:
            continue
        frame = int(found["frame_size"])
        names = {f"rfc2544.throughput.{frame}", f"rfc2544.frame_rate.{frame}"}
        worst = [s for s in details["searches"] if s["throughput"] <= found["throughput"]]
        if worst and worst[0] is found:
            names |= {"rfc2544.throughput", "rfc2544.frame_rate"}
        bounded = [check for check in checks if check.metric in names]
        if bounded and all(check.passed for check in bounded):
            continue
        problems.append(
            f"RFC 2544 at {frame}-byte frames: limited by the sender at "
            f"{frame_rate_text(limit, frame)}; the path lost nothing up to there, so its "
            f"throughput is not known above it: lower the range's high end below "
            f"{format_value(limit, Kind.RATE)}, or bound rfc2544.throughput.{frame} at or below "
            "it (a faster sender, or larger frames, can measure more)"
        )
    return "; ".join(problems)
