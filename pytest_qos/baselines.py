"""Baselines: store a run's results document, load it back, compare a test's metrics with it."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import InputError, did_you_mean
from .metrics import CATALOGUE, Better
from .report.json import SCHEMA_VERSION, write_atomically
from .results import Check, QosResult

DEFAULT_DIRECTORY = ".qos"
SUFFIX = ".json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_THRESHOLD = re.compile(r"^\s*([^:\s]+)\s*:\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%?)\s*$")
COMPARE_FAIL_HELP = "METRIC:PCT[,METRIC:PCT...], e.g. 'throughput:5%,latency.p99:20%'"


# -- storing and loading --------------------------------------------------------------------


def check_name(name: str, key: str = "--qos-save") -> str:
    """A baseline name safe as a file name ('main', 'v1.2', 'pr-42'), or an InputError."""
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not _NAME.match(name):
        raise InputError(
            f"baseline name {name!r} is not usable as a file name; use letters, digits, "
            "'.', '_', '+' or '-', starting with a letter or digit (e.g. 'main' or 'v1.2')",
            key=key,
        )
    return name


def baseline_path(name: str, directory: Path | str = DEFAULT_DIRECTORY) -> Path:
    """Where the baseline called `name` lives: DIRECTORY/NAME.json."""
    return Path(directory) / f"{check_name(name)}{SUFFIX}"


def save_baseline(
    document: Mapping[str, Any], name: str, directory: Path | str = DEFAULT_DIRECTORY
) -> Path:
    """Store a --qos-json document as baseline `name`, atomically; return its path."""
    if not isinstance(document.get("results"), list):
        raise InputError("a baseline is a results document with a 'results' list", key="--qos-save")
    path = baseline_path(name, directory)
    text = json.dumps(document, indent=2) + "\n"
    try:
        # A temporary file renamed over the old one: a killed run leaves the old baseline whole.
        write_atomically(path, text)
    except OSError as error:
        raise InputError(
            f"cannot write baseline {path}: {error.strerror or error}; "
            "choose a writable directory with --qos-save-dir",
            key="--qos-save",
        ) from None
    _sync_directory(path.parent)
    return path


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new name)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def list_baselines(directory: Path | str = DEFAULT_DIRECTORY) -> list[str]:
    """Names of the baselines stored in `directory` (temporary files of a killed save excluded)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(
        path.name[: -len(SUFFIX)]
        for path in folder.iterdir()
        if path.name.endswith(SUFFIX) and not path.name.startswith(".") and path.is_file()
    )


def resolve_baseline(name_or_path: str, directory: Path | str = DEFAULT_DIRECTORY) -> Path:
    """A --qos-compare value as a file: a path when it names one, else DIRECTORY/NAME.json."""
    text = name_or_path.strip()
    if not text:
        raise InputError(
            "--qos-compare needs a baseline name (e.g. 'main') or a path to a results JSON file",
            key="--qos-compare",
        )
    as_path = Path(text)
    if os.sep in text or "/" in text or text.endswith(SUFFIX):
        if not as_path.is_file():
            raise InputError(f"no baseline file at {text}", key="--qos-compare")
        return as_path
    path = Path(directory) / f"{text}{SUFFIX}"
    if not path.is_file():
        known = list_baselines(directory)
        listing = f"stored: {', '.join(known)}" if known else "none is stored there yet"
        raise InputError(
            f"no baseline '{text}' in {directory}{did_you_mean(text, known)} ({listing}); "
            f"save one with --qos-save={text}",
            key="--qos-compare",
        )
    return path


def load_baseline(
    name_or_path: str, directory: Path | str = DEFAULT_DIRECTORY
) -> dict[str, QosResult]:
    """A stored run's results by test id; clear errors for a missing, corrupt or newer file."""
    path = resolve_baseline(name_or_path, directory)
    return results_by_test(read_document(path))


def read_document(path: Path) -> dict[str, Any]:
    """The results document at `path`, checked for its schema version and shape."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(
            f"cannot read baseline {path}: {error.strerror}", "--qos-compare"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(
            f"baseline {path} is not valid JSON ({error}); save it again with --qos-save",
            key="--qos-compare",
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise InputError(
            f"baseline {path} is not a pytest-qos results document "
            "(expected {'version': 1, 'results': [...]}, as --qos-json writes)",
            key="--qos-compare",
        )
    version = document.get("version")
    if version != SCHEMA_VERSION:
        raise InputError(
            f"baseline {path} has schema version {version!r}; this pytest-qos reads "
            f"version {SCHEMA_VERSION}: save the baseline again with this version",
            key="--qos-compare",
        )
    return document


def results_by_test(document: Mapping[str, Any]) -> dict[str, QosResult]:
    """Rebuild every result of a document, keyed by pytest node id."""
    results: dict[str, QosResult] = {}
    for index, entry in enumerate(document.get("results", [])):
        try:
            result = QosResult.from_json(entry)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError(
                f"baseline result #{index + 1} is malformed (missing or bad field {error})",
                key="--qos-compare",
            ) from None
        results[result.test] = result
    return results


# -- thresholds -----------------------------------------------------------------------------


def parse_compare_fail(text: str) -> dict[str, float]:
    """'throughput:5%,latency.p99:20%' → {'throughput': 5.0, 'latency.p99': 20.0}."""
    key = "--qos-compare-fail"
    thresholds: dict[str, float] = {}
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise InputError(f"no thresholds given; write {COMPARE_FAIL_HELP}", key=key)
    for part in parts:
        match = _THRESHOLD.match(part)
        if not match:
            raise InputError(f"'{part.strip()}' is not METRIC:PCT; write {COMPARE_FAIL_HELP}", key)
        name, number = match.group(1), float(match.group(2))
        metric = CATALOGUE.get(name)
        if metric is None:
            directional = [m.name for m in CATALOGUE.values() if m.better is not Better.NEITHER]
            raise InputError(
                f"unknown metric '{name}'{did_you_mean(name, directional)} "
                f"(metrics with a better direction: {', '.join(directional)})",
                key,
            )
        if metric.better is Better.NEITHER:
            raise InputError(
                f"'{name}' is neither better higher nor lower, so it cannot regress; "
                "pick a metric such as throughput, loss or latency.p99",
                key,
            )
        if not math.isfinite(number) or number < 0:
            raise InputError(f"'{part.strip()}': the allowed change is a percentage >= 0", key)
        if name in thresholds:
            raise InputError(f"'{name}' is given twice; keep one threshold per metric", key)
        thresholds[name] = number
    return thresholds


# -- comparing ------------------------------------------------------------------------------


class Verdict(str, Enum):
    """How a metric moved against the baseline."""

    REGRESSION = "regression"  # worse by more than its threshold and more than the noise
    WORSE = "worse"  # worse, but within its threshold (or no threshold given)
    NOISE = "within noise"  # moved less than the measured spread of either run
    BETTER = "better"
    SAME = "unchanged"
    CHANGED = "changed"  # a metric with no better direction moved
    NEW = "not in baseline"
    GONE = "not measured now"


@dataclass(frozen=True)
class MetricChange:
    """One metric of one test: baseline and current value, the change, and its verdict."""

    metric: str
    baseline: float | None
    now: float | None
    change: float | None  # percent of the baseline; None when undefined (missing, or from 0)
    verdict: Verdict
    threshold: float | None = None  # allowed change in percent in the bad direction
    noise: float = 0.0  # the larger spread (max - min over repeats) of the two runs

    @property
    def failed(self) -> bool:
        """True for a regression beyond its --qos-compare-fail threshold."""
        return self.verdict is Verdict.REGRESSION

    def describe(self) -> str:
        """'-12.3 %', '+4 %', 'from 0' or '—'."""
        return format_change(self.change, self.baseline, self.now)

    def explain(self) -> str:
        """The verdict with its reason, e.g. 'REGRESSION (-48.1 %, allowed 5 %)'."""
        if self.verdict is Verdict.REGRESSION:
            return f"REGRESSION ({self.describe()}, allowed {self.threshold:g} %)"
        if self.verdict is Verdict.WORSE and self.threshold is not None:
            return f"worse, within {self.threshold:g} %"
        if self.verdict is Verdict.NOISE:
            metric = CATALOGUE.get(self.metric)
            spread = metric.format(self.noise) if metric else f"{self.noise:g}"
            return f"within noise (spread {spread})"
        return str(self.verdict.value)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict in base units."""
        return {
            "metric": self.metric,
            "baseline": self.baseline,
            "now": self.now,
            "change_percent": self.change,
            "verdict": self.verdict.value,
            "threshold_percent": self.threshold,
            "noise": self.noise,
        }


@dataclass
class Comparison:
    """One test compared with its baseline; `in_baseline` False means it was not there."""

    test: str
    in_baseline: bool
    changes: list[MetricChange] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when any metric regressed beyond its threshold."""
        return any(change.failed for change in self.changes)

    @property
    def regressions(self) -> list[MetricChange]:
        """The metrics that regressed beyond their thresholds."""
        return [change for change in self.changes if change.failed]

    def change_of(self, metric: str) -> MetricChange | None:
        """The change of one metric, if it was compared."""
        return next((change for change in self.changes if change.metric == metric), None)

    def checks(self) -> list[Check]:
        """One Check per thresholded metric, so regressions flow into every report and JUnit."""
        checks = []
        for change in self.changes:
            if change.threshold is None or change.verdict in (Verdict.NEW, Verdict.GONE):
                continue
            checks.append(
                Check(
                    metric=change.metric,
                    bound=f"change within {change.threshold:g} % of baseline",
                    measured=change.now,
                    passed=not change.failed,
                    baseline=change.baseline,
                    note=f"{change.describe()}, allowed {change.threshold:g} %"
                    if change.failed
                    else "",
                )
            )
        return checks

    def failure_message(self) -> str:
        """What a test failed by --qos-compare-fail prints: each regression with its numbers."""
        lines = [f"QoS regression against the baseline: {self.test}"]
        for change in self.regressions:
            metric = CATALOGUE[change.metric]
            lines.append(
                f"  {change.metric}: {metric.format(change.baseline)} → "
                f"{metric.format(change.now)} ({change.describe()}; "
                f"allowed {change.threshold:g} % {_bad_direction(metric.better)})"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "test": self.test,
            "in_baseline": self.in_baseline,
            "changes": [change.to_json() for change in self.changes],
        }


def _bad_direction(better: Better) -> str:
    return "lower" if better is Better.HIGHER else "higher"


def format_change(change: float | None, baseline: float | None, now: float | None) -> str:
    """A signed percentage ('-12.3 %', '+4 %'), 'from 0' when the baseline was 0, else '—'."""
    if baseline is None or now is None:
        return "—"
    if change is None:
        return "from 0"
    if change == 0:
        return "0 %"
    magnitude = abs(change)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 1 else 2
    return f"{change:+.{digits}f} %"


def compared_metrics(
    result: QosResult, baseline: QosResult | None, thresholds: Mapping[str, float]
) -> list[str]:
    """The metrics a comparison shows: checked and thresholded ones, else all in common."""
    now = result.metrics
    before = baseline.metrics if baseline is not None else {}
    chosen = [check.metric for check in result.checks]
    chosen += [name for name in thresholds if name in now or name in before]
    if not chosen:
        chosen = [name for name in CATALOGUE if name in now and name in before]
    return list(dict.fromkeys(chosen))


def compare(
    result: QosResult,
    baseline: QosResult | None,
    thresholds: Mapping[str, float] | None = None,
    metrics: Iterable[str] | None = None,
) -> Comparison:
    """Compare a test's (median) metrics with its baseline; None: the test is not in it."""
    thresholds = thresholds or {}
    names = list(metrics) if metrics is not None else compared_metrics(result, baseline, thresholds)
    if baseline is None:
        changes = [
            MetricChange(name, None, result.metrics.get(name), None, Verdict.NEW) for name in names
        ]
        return Comparison(result.test, in_baseline=False, changes=changes)
    now_metrics, before_metrics = result.metrics, baseline.metrics
    changes = []
    for name in names:
        noise = max(result.spread.get(name, 0.0), baseline.spread.get(name, 0.0))
        changes.append(
            judge_change(
                name, before_metrics.get(name), now_metrics.get(name), thresholds.get(name), noise
            )
        )
    return Comparison(result.test, in_baseline=True, changes=changes)


def judge_change(
    name: str, before: float | None, now: float | None, threshold: float | None, noise: float
) -> MetricChange:
    """The verdict on one metric moving from `before` to `now` (base units)."""
    if before is None:
        return MetricChange(name, None, now, None, Verdict.NEW, threshold, noise)
    if now is None:
        return MetricChange(name, before, None, None, Verdict.GONE, threshold, noise)
    change = (now - before) / abs(before) * 100.0 if before != 0 else None
    metric = CATALOGUE.get(name)
    better = metric.better if metric else Better.NEITHER
    delta = now - before
    if delta == 0:
        verdict = Verdict.SAME
    elif noise > 0 and abs(delta) <= noise:
        # Repeats of either run already moved this much: not evidence of a change.
        verdict = Verdict.NOISE
    elif better is Better.NEITHER:
        verdict = Verdict.CHANGED
    elif (delta > 0) == (better is Better.HIGHER):
        verdict = Verdict.BETTER
    elif threshold is not None and (change is None or abs(change) > threshold):
        verdict = Verdict.REGRESSION  # from 0 (e.g. no loss → some loss) exceeds any percentage
    else:
        verdict = Verdict.WORSE
    return MetricChange(name, before, now, change, verdict, threshold, noise)


def compare_all(
    results: Iterable[QosResult],
    baseline: Mapping[str, QosResult],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, Comparison]:
    """Every result compared with its baseline entry, keyed by test id."""
    return {
        result.test: compare(result, baseline.get(result.test), thresholds) for result in results
    }


def not_in_baseline(comparisons: Mapping[str, Comparison]) -> list[str]:
    """Tests of this run that the baseline does not have (reported, never failed)."""
    return [test for test, comparison in comparisons.items() if not comparison.in_baseline]
