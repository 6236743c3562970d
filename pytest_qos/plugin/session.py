"""The session store: one pytest run's QoS options and results, kept in `config.stash`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..diagnose import Diagnosis
from ..errors import QosError, ToolMissingError
from ..history.store import HistoryOptions
from ..history.verdict import TrendJudge
from ..judge.compare import Comparison
from ..measure.iperf3 import Iperf3
from ..measure.progress import Progress
from ..results import QosResult
from ..scenario.run import Baseline
from ..store.baselines import DEFAULT_DIRECTORY

QOS_MARKER = "qos"
SKIP_REASON = "QoS measurements need --qos"


@dataclass
class QosSession:
    """Options and collected results of one pytest run."""

    enabled: bool
    iperf3_path: str | None = None
    json_path: Path | None = None
    router_config: Path | None = None
    router_configs: dict[str, Path] = field(default_factory=dict)  # NAME=PATH, in a chain
    diagnosis: Diagnosis = field(default_factory=Diagnosis)  # --qos-diagnose
    keep_lab: bool = False  # --qos-keep-lab: labs stay after the run, for reproduce lines
    kept_labs: list[str] = field(default_factory=list)  # "lab id: how to remove it"
    save_name: str | None = None
    save_dir: Path = Path(DEFAULT_DIRECTORY)
    md_path: Path | None = None
    plot_dir: Path | None = None
    baseline: Baseline | None = None  # --qos-compare's stored run, --qos-compare-fail's limits
    baseline_name: str | None = None
    baseline_note: str = ""  # why nothing was compared although --qos-compare was given
    history: HistoryOptions | None = None  # --qos-history: where complete runs are kept
    trend: TrendJudge | None = None  # --qos-trend: each result judged against its history
    results: list[QosResult] = field(default_factory=list)
    expected: set[str] = field(default_factory=set)  # node ids of the tests that must report
    reported: set[str] = field(default_factory=set)  # node ids whose teardown reported
    interrupted: str = ""  # the signal that interrupted the run, if one did
    output_errors: list[str] = field(default_factory=list)  # outputs that could not be written
    progress: Progress = field(default_factory=lambda: Progress(None))
    _iperf3: Iperf3 | None = None

    def iperf3(self) -> Iperf3:
        """The iperf3 tool, found once; ToolMissingError says how to install it."""
        if self._iperf3 is None:
            self._iperf3 = Iperf3(self.iperf3_path)
        return self._iperf3

    def baseline_metrics(self, test_id: str) -> dict[str, float] | None:
        """The stored baseline's metrics for a test (--qos-compare), if any."""
        return self.baseline.metrics(test_id) if self.baseline is not None else None

    def compare(self, result: QosResult) -> Comparison | None:
        """Judge `result` against the baseline and its history, once each (checks that fail)."""
        if self.trend is not None and result.trend is None:
            self.trend.judge(result)
        if self.baseline is None:
            return None
        if result.comparison is None:
            self.baseline.judge(result)
        return result.comparison

    def comparisons(self) -> dict[str, Comparison] | None:
        """The comparison each gathered result carries, for the summary tables."""
        if self.baseline is None:
            return None
        return {r.test: r.comparison for r in self.results if r.comparison is not None}

    def iperf3_version(self) -> str | None:
        """iperf3's version for the report's environment, or None when it is missing."""
        try:
            return self.iperf3().version
        except ToolMissingError:
            return None
        except QosError as error:  # a hanging or broken `iperf3 --version`: report, go on
            return f"unknown ({error})"

    def incomplete(self) -> str:
        """Why this run is not whole ('' when it is): our own count, not the exit status.

        A second Ctrl-C can escape before pytest marks the session interrupted, so the
        exit status alone would call such a run a success.
        """
        if self.interrupted:
            return f"interrupted: {self.interrupted}"
        missing = sorted(self.expected - self.reported)
        if missing:
            return (
                f"{len(missing)} of {len(self.expected)} collected tests did not finish, "
                f"e.g. {missing[0]}"
            )
        return ""


SESSION_KEY = pytest.StashKey[QosSession]()
RESULT_KEY = pytest.StashKey[QosResult]()  # on an item: what its QoS test measured


def qos_session(config: pytest.Config) -> QosSession:
    """The store of this run (created in pytest_configure)."""
    return config.stash[SESSION_KEY]


def item_result(item: pytest.Item) -> QosResult:
    """The item's result, created on first use."""
    if RESULT_KEY not in item.stash:
        item.stash[RESULT_KEY] = QosResult(test=item.nodeid)
    return item.stash[RESULT_KEY]


def reports_result(item: pytest.Item, call: pytest.CallInfo[None]) -> bool:
    """True for the report that carries a test's QoS result: the call's, or a failed setup's
    (a scenario test measures in setup: what stops it there is pytest's error)."""
    if RESULT_KEY not in item.stash:
        return False
    return call.when == "call" or (call.when == "setup" and call.excinfo is not None)
