"""`rpm:` — responsiveness under working conditions (draft-ietf-ippm-responsiveness-08) and a
bufferbloat grade: the options, the grade, and the figures a run reports.

The algorithm itself is responsiveness.py (pure); rpm_run.py runs it on a real path. See
docs/methods.md for what is the draft's and what differs here.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, MeasurementError, check_key
from ..measure.traffic import Traffic
from ..units import GRADES, Kind, parse
from .responsiveness import MINUTE, Assessment, Figures, Interval, foreign_rtt
from .trial import MethodResult

DRAFT = "draft-ietf-ippm-responsiveness-08"
KEYS = (
    "direction",
    "sequential",
    "interval",
    "connections",
    "moving_average",
    "tolerance",
    "trim",
    "duration",
    "probe_rate",
    "probe_share",
    "idle",
    "congestion",
    "dscp",
)
DIRECTIONS = ("upload", "download", "both")
MAX_CONNECTIONS = 64
DEFAULT_DURATION = 20.0  # goresponsiveness's and networkQuality's default test time
# The bufferbloat grades of the DSLReports speed test (its FAQ 17930, also used by Waveform's
# bufferbloat test): the upper bound of latency increase under load for each grade, best first.
GRADE_BOUNDS = (("A+", 0.005), ("A", 0.030), ("B", 0.060), ("C", 0.200), ("D", 0.400))


@dataclass(frozen=True)
class Rpm:
    """`rpm:` options in base units; the defaults are the draft's (§ Test Parameters)."""

    direction: str = "upload"
    sequential: bool = False  # direction both: upload, then download (else both at once)
    interval: float = 1.0  # ID, s
    connections: int = 16  # MNP: most load-generating connections per direction
    moving_average: int = 4  # MAD: intervals in a moving average
    tolerance: float = 5.0  # SDT, %
    trim: float = 5.0  # 100 % - TMP: the largest samples left out of a trimmed mean
    duration: float = DEFAULT_DURATION  # time limit of each phase, s
    probe_rate: float = 100.0  # MPS: foreign probe pairs per second
    probe_share: float = 5.0  # PTC: % of the goodput the probes may use
    idle: float = 1.0  # s of probing the idle path first (latency.idle)
    congestion: str | None = None
    dscp: int | None = None

    @property
    def phases(self) -> tuple[tuple[str, ...], ...]:
        """The directions loaded together, phase by phase."""
        if self.direction != "both":
            return ((self.direction,),)
        if self.sequential:
            return (("upload",), ("download",))
        return (("upload", "download"),)

    @property
    def intervals(self) -> int:
        """Intervals a phase may run before its time limit."""
        return max(1, int(self.duration / self.interval + 1e-9))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Rpm:
        """Validate `rpm:`; an InputError's key names the option at fault."""
        values: dict[str, Any] = {}
        for key, value in options.items():
            check_key(key, KEYS, "rpm")
            try:
                values[key] = _option(key, value)
            except InputError as error:
                raise InputError(error.message, key=key) from None
        spec = cls(**values)
        if spec.duration < spec.interval:
            fewest = fewest_intervals(spec.moving_average)
            raise InputError(
                f"duration {spec.duration:g} s is below one interval ({spec.interval:g} s); "
                f"stability takes at least {fewest} intervals, e.g. 'duration: "
                f"{max(DEFAULT_DURATION, fewest * spec.interval):g} s'",
                key="duration",
            )
        if spec.sequential and spec.direction != "both":
            raise InputError(
                "sequential runs upload, then download: it needs 'direction: both'",
                key="sequential",
            )
        return spec


def fewest_intervals(window: int) -> int:
    """Intervals before responsiveness can be stable: 2 × MAD − 1 for MAD moving averages of
    goodput, then MAD − 1 more for MAD responsiveness values."""
    return 3 * window - 2


def _option(key: str, value: Any) -> Any:
    """One option's value in base units (InputError without a key: the caller adds it)."""
    if key == "direction":
        text = str(value).strip().lower()
        if text not in DIRECTIONS:
            raise InputError(f"direction '{value}' is not upload, download or both")
        return text
    if key == "sequential":
        if not isinstance(value, bool):
            raise InputError(f"sequential is true or false, got {value!r}")
        return value
    if key in ("interval", "duration", "idle"):
        return _seconds(key, value)
    if key in ("connections", "moving_average"):
        low, high = (1, MAX_CONNECTIONS) if key == "connections" else (2, 20)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(f"{key} must be a whole number from {low} to {high}, got {value!r}")
        return value
    if key in ("tolerance", "trim", "probe_share"):
        return _percent(key, value)
    if key == "probe_rate":
        rate = parse(value, Kind.COUNT)
        if not 1 <= rate <= 1000:
            raise InputError(f"probe_rate is probes per second, 1 to 1000, got {value!r}")
        return rate
    traffic = Traffic.from_options({key: value})  # congestion, dscp: the traffic keys' rules
    return getattr(traffic, key)


def _seconds(key: str, value: Any) -> float:
    seconds = parse(value, Kind.DURATION)
    low, high = (0.1, 60.0) if key != "duration" else (0.1, 600.0)
    if not low <= seconds <= high:
        raise InputError(f"{key} must be from {low:g} s to {high:g} s, got {value!r}")
    return seconds


def _percent(key: str, value: Any) -> float:
    percent = parse(value, Kind.PERCENT)
    if key == "trim":
        if not 0 <= percent < 50:
            raise InputError(f"trim must be from 0 % to under 50 % (the draft: 5 %), got {value!r}")
    elif not 0 < percent < 100:
        raise InputError(f"{key} must be above 0 % and below 100 % (the draft: 5 %), got {value!r}")
    return percent


def grade(increase: float) -> str:
    """The bufferbloat grade of a latency increase (s): A+ under 5 ms … F from 400 ms."""
    for letter, bound in GRADE_BOUNDS:
        if increase < bound:
            return letter
    return "F"


@dataclass
class Idle:
    """Foreign probes on the idle path, before any load: the RTT latency.increase starts from."""

    tcp: list[float] = field(default_factory=list)
    udp: list[float] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)

    def latency(self, trim: float) -> float | None:
        """The idle foreign RTT, as the loaded one is figured."""
        return foreign_rtt(self.tcp, self.udp, trim)


@dataclass
class Phase:
    """One phase: the directions loaded together, every interval, and the assessment."""

    directions: tuple[str, ...]
    steps: list[Interval]
    assessment: Assessment
    started: float = 0.0  # wall-clock time (epoch s) the load began: steps' starts count from it

    @property
    def label(self) -> str:
        """'upload', 'download' or 'upload+download'."""
        return "+".join(self.directions)

    def figures(self) -> Figures:
        """The reported figures; a phase without any is a MeasurementError."""
        final = self.assessment.final
        if final is None:
            raise MeasurementError(
                f"rpm ({self.label}): no probe was answered and no RTT of the load was read "
                f"in {len(self.steps)} interval(s)"
            )
        return final

    def goodput(self) -> float:
        """Goodput where the figures were taken: the moving average, summed over directions."""
        at = self.assessment.final_at
        averages = self.assessment.averages[at] if at is not None else {}
        if averages:
            return sum(averages.values())
        return statistics.fmean(sum(step.goodput.values()) for step in self.steps)

    def connections(self) -> int:
        """Load-generating connections open where the figures were taken."""
        at = self.assessment.final_at
        return self.steps[at].connections if at is not None else self.steps[-1].connections


def phase_metrics(phase: Phase, idle: float | None) -> dict[str, float]:
    """One phase's figures as metrics (without a direction suffix)."""
    found = phase.figures()
    metrics = {
        "rpm": found.rpm,
        "rpm.goodput": phase.goodput(),
        "rpm.connections": float(phase.connections()),
        "latency.loaded": MINUTE / found.rpm,
    }
    if found.rpm_foreign is not None:
        metrics["rpm.foreign"] = found.rpm_foreign
    if found.rpm_loaded is not None:
        metrics["rpm.loaded"] = found.rpm_loaded
    if idle is not None:
        metrics["latency.increase"] = metrics["latency.loaded"] - idle
        metrics["bufferbloat.grade"] = float(GRADES.index(grade(metrics["latency.increase"])))
    return metrics


def combined_metrics(phases: Sequence[Phase], idle: float | None) -> dict[str, float]:
    """Every metric of the run: one phase's plainly; phases in turn per direction as well.

    In turn, a plain figure covers both directions: the worse one (rpm and its parts lowest,
    connections most, latency.loaded highest), except latency.increase and the grade, which
    follow DSLReports: the average of the up and down increase.
    """
    per = [phase_metrics(phase, idle) for phase in phases]
    metrics: dict[str, float] = {} if idle is None else {"latency.idle": idle}
    if len(per) == 1:
        return {**metrics, **per[0]}
    for phase, figures in zip(phases, per, strict=True):
        metrics.update({f"{name}.{phase.label}": value for name, value in figures.items()})
    for name in per[0]:
        values = [figures[name] for figures in per if name in figures]
        if len(values) < len(per):
            continue
        if name in ("latency.increase", "bufferbloat.grade"):
            continue
        worst = max if name in ("latency.loaded", "rpm.connections") else min
        metrics[name] = worst(values)
    if idle is not None:
        increase = statistics.fmean(figures["latency.increase"] for figures in per)
        metrics["latency.increase"] = increase
        metrics["bufferbloat.grade"] = float(GRADES.index(grade(increase)))
    return metrics


def outcome(spec: Rpm, idle: Idle, phases: Sequence[Phase]) -> MethodResult:
    """The method's result: metrics, and the step table of every phase in details."""
    idle_latency = idle.latency(spec.trim)
    result = MethodResult("rpm")
    result.metrics = combined_metrics(phases, idle_latency)
    grade_value = result.metrics.get("bufferbloat.grade")
    result.details = {
        "method": "rpm",
        "draft": DRAFT,
        "parameters": _parameters(spec),
        "idle": {
            "latency": idle_latency,
            "answered": {"tcp": len(idle.tcp), "udp": len(idle.udp)},
            "sent": dict(idle.sent),
        },
        "grade": GRADES[round(grade_value)] if grade_value is not None else None,
        "loaded_probe": "the kernel's smoothed RTT (TCP_INFO) of the load-generating "
        "connections at their sending side, read with ss",
        "foreign_probes": "TCP handshake of a new connection; UDP (STAMP) round trip",
        "phases": [phase_details(phase) for phase in phases],
    }
    return result


def _parameters(spec: Rpm) -> dict[str, Any]:
    return {
        "direction": spec.direction,
        "sequential": spec.sequential,
        "interval": spec.interval,
        "connections": spec.connections,
        "moving_average": spec.moving_average,
        "tolerance": spec.tolerance,
        "trim": spec.trim,
        "duration": spec.duration,
        "probe_rate": spec.probe_rate,
        "probe_share": spec.probe_share,
        "idle": spec.idle,
        "congestion": spec.congestion,
        "dscp": spec.dscp,
    }


def phase_details(phase: Phase) -> dict[str, Any]:
    """A phase for the JSON and the reports: its stages, confidence and one row per interval."""
    assessment = phase.assessment
    final = assessment.final
    return {
        "directions": list(phase.directions),
        "label": phase.label,
        "started": phase.started,
        "saturated_at": assessment.saturated_at,
        "stable_at": assessment.stable_at,
        "final_at": assessment.final_at,
        "confidence": dict(assessment.confidence),
        "rpm": final.rpm if final else None,
        "rpm_of_mean_rtt": final.rpm_of_mean_rtt if final else None,
        "foreign_rtt": final.foreign_rtt if final else None,
        "loaded_rtt": final.loaded_rtt if final else None,
        "samples": dict(final.samples) if final else {},
        "steps": [_row(phase, index) for index in range(len(phase.steps))],
    }


def _row(phase: Phase, index: int) -> dict[str, Any]:
    """One interval of the step table."""
    step = phase.steps[index]
    assessment = phase.assessment
    figure = assessment.rpm[index]
    return {
        "index": step.index,
        "start": round(step.start, 3),
        "seconds": round(step.seconds, 3),
        "connections": step.connections,
        "goodput": dict(step.goodput),
        "moving_goodput": dict(assessment.averages[index]) or None,
        "stage": _stage(assessment, index),
        "rate": round(step.rate, 1),
        "sent": dict(step.sent),
        "answered": {"tcp": len(step.tcp), "udp": len(step.udp)},
        "loaded_samples": len(step.loaded),
        "foreign_rtt": figure.foreign_rtt if figure else None,
        "loaded_rtt": figure.loaded_rtt if figure else None,
        "rpm": figure.rpm if figure else None,
    }


def _stage(assessment: Assessment, index: int) -> str:
    """Where the algorithm was at this interval."""
    if assessment.stable_at is not None and index > assessment.stable_at:
        return "after"
    if index == assessment.stable_at:
        return "responsiveness stable"
    if index == assessment.saturated_at:
        return "goodput stable"
    if assessment.saturated_at is not None and index > assessment.saturated_at:
        return "responsiveness"
    return "goodput"
