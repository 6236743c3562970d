"""What a measurement produced and how it was judged, in base units, serialisable to JSON."""

from __future__ import annotations

import math
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import MeasurementError

if TYPE_CHECKING:
    from .judge.compare import Comparison

Series = dict[str, list[tuple[float, float]]]
_LABEL = re.compile(r"^[A-Za-z0-9_-]*$")
# A delay percentile ranks lost probes as infinitely late (RFC 2679 §5.1, RFC 7679): past
# the share of probes delivered it is infinite. JSON has no infinity: documents write LOST.
LOST = "lost"
_PERCENTILE = re.compile(r"(?:^|\.)p\d+$")


def may_be_lost(name: str) -> bool:
    """True for a metric that lost probes can make infinite: a delay percentile (….p99)."""
    return _PERCENTILE.search(name) is not None


def number_to_json(value: float | None) -> float | str | None:
    """A value as strict JSON holds it: an infinite (lost) percentile becomes "lost"."""
    return LOST if value == math.inf else value


def number_from_json(value: Any) -> float | None:
    """The inverse of number_to_json."""
    if value is None:
        return None
    return math.inf if value == LOST else float(value)


def metrics_to_json(metrics: dict[str, float]) -> dict[str, float | str | None]:
    """A metrics dict as strict JSON holds it."""
    return {name: number_to_json(value) for name, value in metrics.items()}


def metrics_from_json(data: dict[str, Any]) -> dict[str, float]:
    """The inverse of metrics_to_json."""
    numbers = {str(name): number_from_json(value) for name, value in data.items()}
    missing = [name for name, value in numbers.items() if value is None]
    if missing:
        raise TypeError(f"metric {missing[0]} has no value")
    return {name: value for name, value in numbers.items() if value is not None}


@dataclass
class Measurement:
    """Metrics of one run of one tool, with the exact command that reproduces it."""

    tool: str  # "iperf3", "probe:udp", "probe:icmp", "probe:tcp", "benchmark"
    metrics: dict[str, float]
    command: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    # Time series for progress lines and plots: name -> [(seconds since start, value)].
    series: Series = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # tool facts (protocol, mss, ...)
    raw: Any = None  # the tool's parsed output, kept for debugging; never serialised
    # Servers `command` needs, started in the background first (argv where each runs).
    setup: list[list[str]] = field(default_factory=list)
    requires: str = ""  # what must exist for these commands to run, e.g. the lab's namespaces
    # Names this measurement's metrics in its test ("wire" → "wire.throughput"); see prefixes().
    label: str = ""

    def __post_init__(self) -> None:
        check_label(self.label)
        # NaN never fails a bound and infinity breaks reports and JSON: neither is a value.
        for name, value in self.metrics.items():
            if not math.isfinite(value) and not (value == math.inf and may_be_lost(name)):
                raise MeasurementError(
                    f"{self.tool} reported {name} = {value}, not a finite number; "
                    "the measurement is unusable",
                    self.command,
                )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; metric values are plain numbers in base units."""
        return {
            "tool": self.tool,
            "metrics": metrics_to_json(self.metrics),
            "command": list(self.command),
            "started": self.started,
            "details": dict(self.details),
            # Plots are drawn where reports are written (the xdist controller): series travel.
            "series": {name: [list(p) for p in points] for name, points in self.series.items()},
            **({"setup": [list(argv) for argv in self.setup]} if self.setup else {}),
            **({"requires": self.requires} if self.requires else {}),
            **({"label": self.label} if self.label else {}),
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Measurement:
        """Rebuild a measurement from its JSON form."""
        return cls(
            tool=item["tool"],
            metrics=metrics_from_json(dict(item["metrics"])),
            command=list(item.get("command", [])),
            started=float(item.get("started", 0.0)),
            details=dict(item.get("details", {})),
            series={
                str(name): [(float(x), float(y)) for x, y in points]
                for name, points in dict(item.get("series", {})).items()
            },
            setup=[list(argv) for argv in item.get("setup", [])],
            requires=str(item.get("requires", "")),
            label=str(item.get("label", "")),
        )


def check_label(label: str) -> str:
    """`label`, or an InputError: it becomes part of metric names, so no dots or spaces."""
    if not _LABEL.match(label):
        from .errors import InputError

        raise InputError(
            f"label '{label}' may use only letters, digits, '-' and '_' "
            "(it prefixes metric names: 'wire' gives 'wire.throughput')",
            key="label",
        )
    return label


def prefixes(measurements: list[Measurement]) -> list[str]:
    """Each measurement's prefix in its test: its label, else '' while no name clashes.

    An unlabelled measurement whose metrics clash with an earlier one's is named after its
    tool and position ('iperf3-2'), so no value is ever overwritten or mixed with another's.
    The flows of one concurrent run use their flow names the same way (FLOW.METRIC).
    """
    taken: set[str] = set()
    chosen = []
    for index, measurement in enumerate(measurements, 1):
        prefix = measurement.label
        if not prefix and taken & set(measurement.metrics):
            prefix = f"{re.sub(r'[^A-Za-z0-9_-]', '-', measurement.tool)}-{index}"
        chosen.append(prefix)
        taken |= {f"{prefix}.{name}" if prefix else name for name in measurement.metrics}
    return chosen


def keyed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    """`metrics` named within a test: 'PREFIX.metric', or as they are without a prefix."""
    return {f"{prefix}.{name}" if prefix else name: value for name, value in metrics.items()}


def aggregate(runs: list[Measurement]) -> tuple[Measurement, dict[str, float]]:
    """Median of each metric across repeated runs, and each metric's spread (max - min)."""
    if len(runs) == 1:
        return runs[0], {}
    names = [name for name in runs[0].metrics if all(name in run.metrics for run in runs)]
    medians = {name: statistics.median(run.metrics[name] for run in runs) for name in names}
    # A lost (infinite) percentile in any run leaves its spread unknown, not infinite or NaN.
    spread = {
        name: max(run.metrics[name] for run in runs) - min(run.metrics[name] for run in runs)
        for name in names
        if all(math.isfinite(run.metrics[name]) for run in runs)
    }
    first = runs[0]
    merged = Measurement(
        tool=first.tool,
        metrics=medians,
        command=first.command,
        started=first.started,
        series=first.series,
        details={**first.details, "repeats": len(runs)},
        setup=first.setup,
        requires=first.requires,
        label=first.label,
    )
    return merged, spread


def prefixed(measurement: Measurement, name: str) -> Measurement:
    """`measurement` as flow or probe `name`'s: metrics become 'name.metric' ('' keeps them)."""
    if not name:
        return measurement
    measurement.metrics = {
        f"{name}.{metric}": value for metric, value in measurement.metrics.items()
    }
    measurement.details["name"] = name
    return measurement


def combine(measurements: list[Measurement]) -> Measurement:
    """Several named flows' (and probes') measurements as one, their metrics side by side."""
    first = measurements[0]
    return Measurement(
        tool=first.tool if all(m.tool == first.tool for m in measurements) else "flows",
        metrics={name: value for m in measurements for name, value in m.metrics.items()},
        command=list(first.command),
        started=min(m.started for m in measurements),
        series=dict(first.series),
        details={
            "parts": [
                {"name": m.details.get("name", ""), "command": m.command, "details": m.details}
                for m in measurements
            ],
            **({"window": first.details["window"]} if "window" in first.details else {}),
        },
    )


@dataclass
class Check:
    """One bound judged against one measured value."""

    metric: str
    bound: str  # humanised, e.g. ">= 19 Mbit/s"
    measured: float | None
    passed: bool
    baseline: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict in base units."""
        data: dict[str, Any] = {
            "metric": self.metric,
            "bound": self.bound,
            "measured": number_to_json(self.measured),
            "passed": self.passed,
        }
        if self.baseline is not None:
            data["baseline"] = number_to_json(self.baseline)
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        """Rebuild a check from its JSON form."""
        return cls(
            metric=data["metric"],
            bound=data["bound"],
            measured=number_from_json(data.get("measured")),
            passed=bool(data["passed"]),
            baseline=number_from_json(data.get("baseline")),
            note=data.get("note", ""),
        )


@dataclass
class QosResult:
    """Everything one QoS test measured and judged; one row group in every report."""

    test: str  # pytest node id
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    loads: list[Measurement] = field(default_factory=list)  # background load, reported only
    spread: dict[str, float] = field(default_factory=dict)  # max - min over repeats
    # The measured window of concurrent flows, (start, end) in seconds of their run.
    window: tuple[float, float] | None = None
    # pytest's own verdict, written by the plugin alone; None outside pytest (see `status`).
    outcome: str | None = None
    error: str = ""
    # Against --qos-compare's baseline: computed once per test, carried to every report.
    comparison: Comparison | None = None
    # Where it failed: [{"what", "where", "evidence"}] (diagnose/), and the seconds its
    # per-hop probing took (None when it did not probe).
    diagnosis: list[dict[str, Any]] = field(default_factory=list)
    diagnosis_time: float | None = None
    # Against the test's own history (--qos-trend, pytest_qos.history): each metric's verdict.
    trend: Comparison | None = None

    @property
    def passed(self) -> bool:
        """True when every bound held."""
        return all(check.passed for check in self.checks)

    @property
    def status(self) -> str:
        """'passed', 'failed' or 'error': pytest's outcome when known, else the bounds'."""
        if self.outcome is not None:
            return self.outcome
        if self.error:
            return "error"
        return "passed" if self.passed else "failed"

    @property
    def metrics(self) -> dict[str, float]:
        """Every measured metric of this test, each measurement's under its prefix()."""
        merged: dict[str, float] = {}
        for prefix, measurement in zip(prefixes(self.measurements), self.measurements, strict=True):
            merged.update(keyed(prefix, measurement.metrics))
        return merged

    @property
    def command(self) -> list[str]:
        """The command of the last measurement that has one (router counters have none)."""
        commanded = [m.command for m in self.measurements if m.command]
        return commanded[-1] if commanded else []

    def to_json(self) -> dict[str, Any]:
        """The `results[]` entry of the --qos-json document."""
        data: dict[str, Any] = {
            "test": self.test,
            "outcome": self.status,
            "metrics": metrics_to_json(self.metrics),
            "spread": self.spread,
            "bounds": [check.to_json() for check in self.checks],
            "command": self.command,
            "measurements": [m.to_json() for m in self.measurements],
            "loads": [m.to_json() for m in self.loads],
            **({"window": {"start": self.window[0], "end": self.window[1]}} if self.window else {}),
            **({"error": self.error} if self.error else {}),
        }
        if self.comparison is not None:
            data["comparison"] = self.comparison.to_json()
        if self.diagnosis:
            data["diagnosis"] = [dict(item) for item in self.diagnosis]
        if self.diagnosis_time is not None:
            data["diagnosis_time"] = self.diagnosis_time
        if self.trend is not None:
            data["trend"] = self.trend.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QosResult:
        """Rebuild a result from its JSON form (baselines, xdist workers)."""
        comparison = trend = None
        if "comparison" in data or "trend" in data:
            from .judge.compare import Comparison

            comparison = Comparison.from_json(data["comparison"]) if "comparison" in data else None
            trend = Comparison.from_json(data["trend"]) if "trend" in data else None
        return cls(
            test=data["test"],
            measurements=[Measurement.from_json(m) for m in data.get("measurements", [])]
            or [
                Measurement(
                    "unknown",
                    metrics_from_json(dict(data.get("metrics", {}))),
                    list(data.get("command", [])),
                )
            ],
            checks=[Check.from_json(c) for c in data.get("bounds", [])],
            loads=[Measurement.from_json(m) for m in data.get("loads", [])],
            spread=dict(data.get("spread", {})),
            window=(
                (float(data["window"]["start"]), float(data["window"]["end"]))
                if "window" in data
                else None
            ),
            outcome=data.get("outcome"),
            error=data.get("error", ""),
            comparison=comparison,
            diagnosis=[dict(item) for item in data.get("diagnosis", [])],
            diagnosis_time=data.get("diagnosis_time"),
            trend=trend,
        )
