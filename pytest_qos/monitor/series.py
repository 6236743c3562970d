"""The series one test's result becomes: its verdict, every measured metric, every bound.

Names and labels follow names.py. The test's own identity (scenario, test, and the pair and
IP version of a path or mesh item) is the Pushgateway's grouping key when pushed, and labels
of every series in the textfile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..judge.bounds import Bound, parse_bound
from ..judge.metrics import lookup
from ..measure.live import LiveFigures
from ..results import Check, Measurement, QosResult, keyed, prefixes
from .names import BOUND_PREFIX, LIVE_PREFIX, Labels, SeriesName, labels, series_name

_DIRECTIONS = (("--bidir", "bidir"), ("-R", "download"))
# Which side of a bound its value draws: a lower limit is `min`, an upper one `max`.
_KINDS = {">=": ("min",), ">": ("min",), "<=": ("max",), "<": ("max",), "==": ("min", "max")}


@dataclass(frozen=True)
class Sample:
    """One value of one series."""

    name: str
    help: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Identity:
    """Which test a result belongs to: the Pushgateway grouping key (with job and instance)."""

    scenario: str  # the file, relative to the rootdir
    test: str  # the test's name in it (a mesh item's pair goes in `extra`)
    extra: Labels = ()  # from, to, ip where they apply

    def grouping(self) -> Labels:
        """The identity as label pairs (names.py rule 3 applied)."""
        return labels((("scenario", self.scenario), ("test", self.test), *self.extra))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (it travels from xdist workers with the report)."""
        return {
            "scenario": self.scenario,
            "test": self.test,
            "extra": [list(p) for p in self.extra],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        """The inverse of to_json."""
        extra = tuple((str(key), str(value)) for key, value in data.get("extra", []))
        return cls(str(data["scenario"]), str(data["test"]), extra)


@dataclass(frozen=True)
class Record:
    """A test's identity and its bounds as written (re-read exactly wherever it is pushed)."""

    identity: Identity
    bounds: tuple[tuple[str, str], ...] = ()  # (metric, bound as written in the scenario)

    def parsed_bounds(self) -> dict[str, Bound]:
        """The bounds, parsed again (one that no longer parses is left out)."""
        parsed = {}
        for metric, text in self.bounds:
            try:
                parsed[metric] = parse_bound(text, lookup(metric))
            except InputError:
                continue
        return parsed

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (it travels with the report from an xdist worker)."""
        return {"identity": self.identity.to_json(), "bounds": [list(b) for b in self.bounds]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Record:
        """The inverse of to_json."""
        bounds = tuple((str(metric), str(text)) for metric, text in data.get("bounds", []))
        return cls(Identity.from_json(data["identity"]), bounds)


class Samples:
    """Samples in order, each (name, labels) once: the first one written wins."""

    def __init__(self, common: Labels = ()) -> None:
        self.common = common  # labels every sample gets (the identity, in a textfile)
        self.items: list[Sample] = []
        self._seen: set[tuple[str, Labels]] = set()

    def add(self, name: str, help_text: str, pairs: Labels, value: float) -> None:
        """Add one sample unless its series is already there."""
        full = (*self.common, *pairs)
        key = (name, full)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(Sample(name, help_text, full, value))


def result_samples(
    result: QosResult, bounds: Mapping[str, Bound] | None = None, common: Labels = ()
) -> list[Sample]:
    """The verdict, measured metrics and bounds of one test.

    `bounds` are the test's parsed bounds when known (a scenario's); otherwise each check's
    bound is read back from its text (3 significant digits).
    """
    samples = Samples(common)
    passed = result.status == "passed"
    samples.add("qos_test_passed", "1 when the QoS test passed, else 0", (), float(passed))
    error = 1.0 if result.status == "error" else 0.0
    samples.add("qos_test_error", "1 when the QoS test could not measure, else 0", (), error)
    for prefix, measurement in zip(prefixes(result.measurements), result.measurements, strict=True):
        where = labels({"direction": _direction(measurement)})
        for metric, value in keyed(prefix, measurement.metrics).items():
            series = series_name(metric)
            samples.add(series.name, series.help, (*series.labels, *where), series.value(value))
    for check in result.checks:
        _add_check(samples, check, (bounds or {}).get(check.metric))
    return samples.items


def _add_check(samples: Samples, check: Check, bound: Bound | None) -> None:
    series = series_name(check.metric)
    held = (("metric", series.name), ("bound", check.bound), *series.labels)
    samples.add(
        "qos_bound_passed", "1 when the bound held, else 0", labels(held), float(check.passed)
    )
    for kind, limit in bound_limits(check, bound):
        samples.add(
            series.renamed(BOUND_PREFIX),
            f"bound on: {series.help}",
            (*series.labels, ("kind", kind)),
            series.value(limit),
        )


def bound_limits(check: Check, bound: Bound | None) -> list[tuple[str, float]]:
    """(min|max, limit in base units) of a check's bound; none for one relative to a missing
    baseline or a baseline threshold."""
    if bound is None:
        try:
            bound = parse_bound(check.bound, lookup(check.metric))
        except InputError:
            return []
    if bound.of_baseline:
        if check.baseline is None:
            return []
        low, high = bound.resolve(check.baseline)
    else:
        low, high = bound.limit, bound.high
    if bound.op == "..":
        return [("min", low)] + ([("max", high)] if high is not None else [])
    return [(kind, low) for kind in _KINDS[bound.op]]


def _direction(measurement: Measurement) -> str:
    """An iperf3 flow's direction (upload, download, bidir); '' for anything else."""
    if measurement.tool != "iperf3":
        return ""
    for flag, direction in _DIRECTIONS:
        if flag in measurement.command:
            return direction
    return "upload"


def live_samples(figures: Iterable[LiveFigures], common: Labels = ()) -> list[Sample]:
    """`qos_live_…` series of the latest interval of each running flow and probe."""
    samples = Samples(common)
    for one in figures:
        who = labels({one.kind: one.name})
        for metric, value in one.metrics().items():
            series: SeriesName = series_name(metric)
            samples.add(
                series.renamed(LIVE_PREFIX),
                f"last live interval: {series.help}",
                (*series.labels, *who),
                series.value(value),
            )
        samples.add(
            "qos_live_elapsed_seconds",
            "end of the last live interval, seconds since the flow or probe started",
            who,
            one.end,
        )
    return samples.items


def run_info(version: str, host: str, commit: str, common: Labels = ()) -> list[Sample]:
    """The one info series of a run."""
    pairs = labels({"version": version, "host": host, "commit": commit})
    return [
        Sample("qos_run_info", "pytest-qos run: version, host, git commit", (*common, *pairs), 1.0)
    ]
