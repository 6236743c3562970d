"""RFC 2544 §26.1 throughput: the highest offered rate whose frame loss stays within max_loss.

The search is a bracket [lo, hi] narrowed until hi/lo <= 1 + resolution: geometric bisection
(scale-free, so a 100x range costs the same trials at 1 Mbit/s as at 1 Gbit/s), helped by the
delivered rate of a lossy trial, which for a shaper or a policer is the capacity itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, check_key
from ..units import Kind, parse
from .frames import RFC2544_FRAME_SIZES, frames_per_second, udp_payload
from .trial import MethodResult, Trial, frame_counts, frame_flow

KEYS = ("frame_sizes", "range", "resolution", "max_loss", "trial", "max_trials")
DEFAULT_TRIAL = 2.0  # seconds; RFC 2544 §24 asks for at least 60
DEFAULT_RESOLUTION = 1.0  # percent
DEFAULT_MAX_TRIALS = 20
HINTS = 5  # trials placed from a lossy trial's delivered rate before pure bisection
_EPSILON = 1e-9

Offer = Callable[[float], tuple[float, float]]  # rate -> (loss percent, delivered rate)


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
    """One trial of the search: the offered rate, the loss seen, the verdict."""

    rate: float  # offered, bit/s of frames
    loss: float  # percent
    delivered: float  # bit/s of frames that arrived
    passed: bool


@dataclass
class SearchResult:
    """Where the search ended: the throughput (0 when even the low end lost) and every trial."""

    throughput: float
    trials: list[TrialPoint] = field(default_factory=list)
    converged: bool = True
    note: str = ""


def trial_bound(low: float, high: float, resolution: float) -> int:
    """The most trials `search` can take: top, hints, bisections and the low end's check."""
    bisections = math.ceil(math.log2(math.log(high / low) / math.log1p(resolution / 100.0)))
    return 1 + HINTS + max(0, bisections) + 1


def search(
    offer: Offer,
    low: float,
    high: float,
    *,
    resolution: float = DEFAULT_RESOLUTION,
    max_loss: float = 0.0,
    max_trials: int = DEFAULT_MAX_TRIALS,
) -> SearchResult:
    """Find the highest rate in [low, high] whose loss <= max_loss, to `resolution` percent."""
    if not 0 < low < high:
        raise InputError(f"the search range must satisfy 0 < low < high, got {low}..{high}")
    trials: list[TrialPoint] = []
    ratio = 1.0 + resolution / 100.0

    def run(rate: float) -> TrialPoint:
        loss, delivered = offer(rate)
        point = TrialPoint(rate, loss, delivered, loss <= max_loss)
        trials.append(point)
        return point

    top = run(high)
    if top.passed:
        return SearchResult(high, trials, True, "no loss at the range's high end")
    lo, hi, verified = low, high, False
    hints, last, last_hinted, backoff = HINTS, top, False, 0.5
    while len(trials) < max_trials and hi > lo * ratio * (1 + _EPSILON):
        rate = math.sqrt(lo * hi)
        hinted = _hint(last, last_hinted, lo, hi, ratio**backoff, ratio) if hints > 0 else None
        if hinted is not None:
            rate, hints = hinted, hints - 1
        last, last_hinted = run(rate), hinted is not None
        # A hint that still lost backs off twice as far next time: a shaper delivers a little
        # more than its rate while its queue and burst fill (a short trial counts that too).
        backoff = backoff * 2 if last_hinted and not last.passed else 0.5
        if last.passed:
            lo, verified = rate, True
        else:
            hi = rate
    converged = hi <= lo * ratio * (1 + _EPSILON)
    if not verified and converged and len(trials) < max_trials:
        verified = run(low).passed
        if not verified:
            return SearchResult(0.0, trials, True, "frames were lost even at the range's low end")
    if not converged:
        note = f"stopped after {len(trials)} trials (max_trials) before reaching the resolution"
        return SearchResult(lo if verified else 0.0, trials, False, note)
    return SearchResult(lo, trials, True)


def _hint(
    last: TrialPoint, hinted: bool, lo: float, hi: float, down: float, up: float
) -> float | None:
    """A rate placed from the last trial, or None for plain bisection.

    After a loss, a factor `down` under the delivered rate (a shaper's capacity); after a hinted
    trial passed, a factor `up` (one resolution) above it, which closes the bracket when the
    capacity lies in between.
    """
    if not last.passed:
        rate = last.delivered / down
    elif hinted:
        rate = last.rate * up
    else:
        return None
    if lo * (1 + _EPSILON) < rate < hi * (1 - _EPSILON):
        return rate
    return None


def run(spec: Rfc2544, trial: Trial, *, ipv6: bool = False) -> MethodResult:
    """The search for each frame size, through real (or fake) trials."""
    result = MethodResult("rfc2544")
    searches: list[dict[str, Any]] = []
    for frame in spec.frame_sizes:

        def offer(rate: float, frame: int = frame) -> tuple[float, float]:
            flow = frame_flow(rate, frame, spec.trial, ipv6=ipv6)
            counts = frame_counts(trial([flow])[0].measured, frame)
            return counts.loss, counts.delivered

        found = search(
            offer,
            spec.low,
            spec.high,
            resolution=spec.resolution,
            max_loss=spec.max_loss,
            max_trials=spec.max_trials,
        )
        result.metrics[f"rfc2544.throughput.{frame}"] = found.throughput
        result.metrics[f"rfc2544.frame_rate.{frame}"] = frames_per_second(found.throughput, frame)
        searches.append(
            {
                "frame_size": frame,
                "udp_payload": udp_payload(frame, ipv6),
                "throughput": found.throughput,
                "frame_rate": frames_per_second(found.throughput, frame),
                "converged": found.converged,
                "note": found.note,
                "trials": [
                    {
                        "rate": point.rate,
                        "loss": point.loss,
                        "delivered": point.delivered,
                        "passed": point.passed,
                    }
                    for point in found.trials
                ],
            }
        )
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
