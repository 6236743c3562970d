"""pytest hooks of pytest-qos: options, markers, `--qos` skip, collection, reports."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from .collect import ScenarioFile, explain, is_scenario_file
from .fixtures import iperf3, iperf3_server, latency_probe, qos_check, qos_target
from .report import json as json_report
from .report import junit, terminal
from .report.progress import Progress
from .results import QosResult
from .session import (
    QOS_MARKER,
    RESULT_KEY,
    SESSION_KEY,
    SKIP_REASON,
    QosSession,
    qos_session,
)

# pytest finds fixtures among a plugin module's names.
__all__ = ["iperf3", "iperf3_server", "latency_probe", "qos_check", "qos_target"]

# -- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--qos` and friends; ini options for where scenario files are found."""
    group = parser.getgroup("qos", "network QoS measurements (pytest-qos)")
    group.addoption("--qos", action="store_true", help="run QoS measurements (else skipped)")
    group.addoption("--qos-iperf3", metavar="PATH", help="iperf3 executable to use")
    group.addoption("--qos-json", metavar="PATH", help="write all QoS results as one JSON file")
    group.addoption(
        "--qos-router-config",
        metavar="PATH",
        help="router config to apply in lab scenarios, instead of the one each file names",
    )
    parser.addini(
        "qos_scenario_dirs",
        type="linelist",
        default=["scenarios"],
        help="directories whose YAML files are QoS scenarios (default: scenarios)",
    )
    parser.addini(
        "qos_file_patterns",
        type="linelist",
        default=["*.qos.yaml", "*.qos.yml"],
        help="file name patterns of QoS scenarios anywhere (default: *.qos.yaml *.qos.yml)",
    )


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value) if value else None


def pytest_configure(config: pytest.Config) -> None:
    """Create the session store; turn SIGTERM into an interrupt so teardowns still run."""
    config.addinivalue_line(
        "markers", f"{QOS_MARKER}: a network QoS measurement (skipped unless --qos)"
    )
    router_config = _path_option(config, "qos_router_config")
    if router_config is not None and not router_config.is_file():
        raise pytest.UsageError(f"--qos-router-config={router_config}: no such file")
    config.stash[SESSION_KEY] = QosSession(
        enabled=bool(config.getoption("qos")),
        iperf3_path=config.getoption("qos_iperf3"),
        json_path=_path_option(config, "qos_json"),
        router_config=router_config.resolve() if router_config else None,
    )
    config.pluginmanager.register(QosReporter(config.stash[SESSION_KEY]), "qos-reporter")
    if config.getoption("qos") and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give SIGTERM back its default action."""
    with contextlib.suppress(ValueError):
        if signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI timeout) unwinds like Ctrl-C, so fixtures stop their processes."""
    raise KeyboardInterrupt(f"signal {signum}")


# -- collection ----------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    """Scenario YAML becomes a ScenarioFile."""
    if is_scenario_file(file_path, parent.config, parent.session.isinitpath(file_path)):
        node: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return node
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --qos, QoS tests are collected but skipped (the --runslow pattern)."""
    if config.getoption("qos"):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker(QOS_MARKER):
            item.add_marker(skip)


# -- results -------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the test's QoS result to its call report (JUnit properties, xdist transport)."""
    if call.when == "call" and RESULT_KEY in item.stash:
        result = item.stash[RESULT_KEY]
        item.user_properties.extend(junit.properties(result))
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.when == "call" and RESULT_KEY in item.stash:
        result = item.stash[RESULT_KEY]
        if result.outcome != "error":
            result.outcome = report.outcome
        report.qos_result = result.to_json()  # type: ignore[attr-defined]
        if call.excinfo is not None and report.failed:
            message = explain(call.excinfo.value)
            if message is not None:
                report.longrepr = message


class QosReporter:
    """Gathers results (also from pytest-xdist workers) and prints the summary table."""

    def __init__(self, store: QosSession) -> None:
        self.store = store

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """A live progress line on a TTY, unless -q; nothing extra elsewhere."""
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or not reporter.isatty() or session.config.option.verbose < 0:
            return
        width = shutil.get_terminal_size().columns
        capture = session.config.pluginmanager.get_plugin("capturemanager")
        terminal_writer = session.config.get_terminal_writer()

        def write(text: str) -> None:
            # During a test, output is captured; the line must reach the terminal itself.
            # Written past pytest's writer, so its idea of the current line stays true.
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                sys.stdout.write(text)
                sys.stdout.flush()

        self.store.progress = Progress(write, width, lambda: terminal_writer.width_of_current_line)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each call report's QoS result."""
        data = getattr(report, "qos_result", None)
        if report.when == "call" and data:
            self.store.results.append(QosResult.from_json(data))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The `QoS results` table: every checked metric of every QoS test."""
        if self.store.results:
            terminalreporter.write_sep("=", "QoS results")
            terminalreporter.write_line(terminal.summary(self.store.results))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write --qos-json (on the controller only, when running under xdist)."""
    store = qos_session(session.config)
    if store.json_path is None or hasattr(session.config, "workerinput"):
        return
    document = json_report.build_document(
        store.results, json_report.environment(store.iperf3_version())
    )
    json_report.write_document(store.json_path, document)
