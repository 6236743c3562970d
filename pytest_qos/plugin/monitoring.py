"""The pytest side of monitoring (monitor/): options read, pushes at each test's end, live
figures while it runs, the textfile at the session's end. Registered by hooks.py."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator
from typing import Any

import pytest

from .. import __version__
from ..errors import InputError, QosError
from ..hosts.endpoints import Local
from ..measure.live import observing
from ..monitor.live import LivePusher
from ..monitor.options import Settings, read_settings
from ..monitor.pusher import Gateway, Pusher, Tally, problem_line
from ..monitor.series import Identity, Record, Sample, result_samples, run_info
from ..monitor.textfile import file_samples, write_textfile
from ..results import QosResult
from .collect import ScenarioFile, ScenarioItem
from .session import RESULT_KEY, reports_result

PLUGIN_NAME = "qos-monitor"
_WORKER_KEY = "qos_monitor"  # the tally an xdist worker hands its controller
GIT_TIMEOUT = 2.0


def configure(config: pytest.Config) -> None:
    """Read the options (a bad one is a one-line usage error); register the plugin if used."""
    try:
        settings = read_settings(config.getoption, config.getini)
    except InputError as error:
        raise pytest.UsageError(str(error)) from None
    if settings.enabled:
        config.pluginmanager.register(QosMonitor(config, settings), PLUGIN_NAME)


def write_openmetrics(config: pytest.Config, results: list[QosResult]) -> None:
    """--qos-openmetrics: the textfile (called from hooks.pytest_sessionfinish's outputs)."""
    monitor = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(monitor, QosMonitor) and monitor.settings.openmetrics is not None:
        samples = file_samples(results, monitor.records, monitor.info)
        write_textfile(monitor.settings.openmetrics, samples)


def record_of(item: pytest.Item) -> Record:
    """A test's identity: its file (as in its node id) and name; a scenario's pair, IP
    version and bounds as written."""
    scenario, _, rest = item.nodeid.partition("::")
    if not isinstance(item, ScenarioItem):
        return Record(Identity(scenario, rest or item.name))
    extra: list[tuple[str, str]] = []
    if item.pair is not None:
        extra += [("from", item.pair[0]), ("to", item.pair[1])]
    lab = item.parent.scenario.lab if isinstance(item.parent, ScenarioFile) else None
    if lab is not None and len(lab.families) > 1:
        extra.append(("ip", str(item.family)))  # `ip: both` runs the test once per version
    bounds = tuple((metric, bound.text) for metric, bound in item.spec.expect.items())
    return Record(Identity(scenario, item.spec.name, tuple(extra)), bounds)


class QosMonitor:
    """Pushes (pusher.py's thread), live figures (measure/live.py's seam), the textfile."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.records: dict[str, Record] = {}  # node id → record, for the textfile
        self.tally = Tally()  # pushes of xdist workers, told at their end
        self.info = run_info(__version__, socket.gethostname(), _commit(config))
        self.pusher: Pusher | None = None
        self.live: LivePusher | None = None
        self._observing = contextlib.ExitStack()
        if settings.url is not None:
            self.pusher = Pusher(Gateway(settings.url, settings.job, settings.instance))
            if settings.live_every > 0:
                self.live = LivePusher(self.pusher, settings.live_every)
                self._observing.enter_context(observing(self.live))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The run's info series, pushed once (by the controller under xdist)."""
        if self.pusher is not None and not hasattr(session.config, "workerinput"):
            info: list[Sample] = self.info
            self.pusher.replace((), lambda: info)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, None]:
        """Live figures measured during the test (a scenario test measures in its setup)
        carry its identity."""
        if self.live is not None:
            self.live.identity = record_of(item).identity.grouping()
        try:
            yield
        finally:
            if self.live is not None:
                self.live.identity = None

    # Outermost: runs after hooks.py's wrapper wrote the result's outcome.
    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        """Queue the test's push (built on the pushing thread); its record rides the report."""
        outcome = yield
        if not reports_result(item, call):
            return
        report: pytest.TestReport = outcome.get_result()
        record = record_of(item)
        report.qos_monitor = record.to_json()  # type: ignore[attr-defined]
        if self.pusher is not None:
            result = item.stash[RESULT_KEY]
            self.pusher.replace(
                record.identity.grouping(),
                lambda: result_samples(result, record.parsed_bounds()),
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each test's record (also those xdist workers send) for the textfile."""
        data = getattr(report, "qos_monitor", None)
        if data:  # only the report that carries the test's result has it
            self.records[report.nodeid] = Record.from_json(data)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Wait (bounded) for queued pushes; a worker tells its controller how they went."""
        self._observing.close()
        if self.pusher is not None:
            self.pusher.close()
            workeroutput = getattr(session.config, "workeroutput", None)
            if workeroutput is not None:
                workeroutput[_WORKER_KEY] = vars(self.pusher.tally)
            else:
                self.tally.add(self.pusher.tally)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: a worker's tally of pushes."""
        told = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
        if told:
            self.tally.add(Tally(**told))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """One line when pushes did not arrive (verdicts are never changed by it)."""
        if self.settings.url is not None:
            line = problem_line(self.tally, self.settings.url)
            if line:
                terminalreporter.write_line(line, yellow=True, bold=True)

    def pytest_unconfigure(self) -> None:
        """Stop sending live figures anywhere."""
        self._observing.close()


def _commit(config: pytest.Config) -> str:
    """The git commit of the tested project, '' outside a repository."""
    with contextlib.suppress(QosError, OSError):
        completed = Local().run(
            ["git", "-C", str(config.rootpath), "rev-parse", "HEAD"], timeout=GIT_TIMEOUT
        )
        if completed.returncode == 0:
            return completed.stdout.strip()
    return ""
