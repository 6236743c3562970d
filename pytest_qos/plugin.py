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

from . import document as json_report
from .baselines import (
    DEFAULT_DIRECTORY,
    check_name,
    load_baseline,
    parse_compare_fail,
    save_baseline,
)
from .collect import ScenarioFile, explain, is_scenario_file
from .errors import InputError
from .fixtures import iperf3, iperf3_server, latency_probe, qos_check, qos_lab, qos_target
from .progress import Progress
from .report import junit, terminal
from .report.html import QosHtmlExtras, html_report_requested
from .report.markdown import append_step_summary, render_markdown, write_markdown
from .report.plots import write_plots
from .results import QosResult
from .scenario_runner import Baseline
from .session import (
    QOS_MARKER,
    RESULT_KEY,
    SESSION_KEY,
    SKIP_REASON,
    QosSession,
    qos_session,
)

# pytest finds fixtures among a plugin module's names.
__all__ = ["iperf3", "iperf3_server", "latency_probe", "qos_check", "qos_lab", "qos_target"]

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
    group.addoption("--qos-save", metavar="NAME", help="store this run's results as baseline NAME")
    group.addoption(
        "--qos-save-dir",
        metavar="DIR",
        default=DEFAULT_DIRECTORY,
        help=f"where baselines are stored (default: {DEFAULT_DIRECTORY}/)",
    )
    group.addoption(
        "--qos-compare",
        metavar="NAME|PATH",
        help="compare each test's metrics with a stored baseline (name or JSON path)",
    )
    group.addoption(
        "--qos-compare-fail",
        metavar="METRIC:PCT[,...]",
        help="fail a test whose metric moved the bad way by more than PCT, e.g. throughput:5%%",
    )
    group.addoption("--qos-md", metavar="PATH", help="write the results table as Markdown")
    group.addoption(
        "--qos-plot-dir", metavar="DIR", help="write throughput and RTT plots as PNG files"
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
    config.addinivalue_line(
        "markers", "qos_lab(router=PATH): the router config the qos_lab fixture applies"
    )
    router_config = _path_option(config, "qos_router_config")
    if router_config is not None and not router_config.is_file():
        raise pytest.UsageError(f"--qos-router-config={router_config}: no such file")
    store = QosSession(
        enabled=bool(config.getoption("qos")),
        iperf3_path=config.getoption("qos_iperf3"),
        json_path=_path_option(config, "qos_json"),
        router_config=router_config.resolve() if router_config else None,
        save_dir=Path(config.getoption("qos_save_dir")),
        md_path=_path_option(config, "qos_md"),
        plot_dir=_path_option(config, "qos_plot_dir"),
    )
    try:
        _configure_baselines(config, store)
    except InputError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION_KEY] = store
    config.pluginmanager.register(QosReporter(store), "qos-reporter")
    if html_report_requested(config):
        config.pluginmanager.register(
            QosHtmlExtras(lambda item: item.stash.get(RESULT_KEY, None)),
            "qos-html",
        )
    if config.getoption("qos") and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError):
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _interrupt)


def _configure_baselines(config: pytest.Config, store: QosSession) -> None:
    """Check --qos-save's name, load --qos-compare's run, parse --qos-compare-fail."""
    save = config.getoption("qos_save")
    if save:
        store.save_name = check_name(save)
    compare_with = config.getoption("qos_compare")
    fail_spec = config.getoption("qos_compare_fail")
    if fail_spec and not compare_with:
        raise InputError(
            "needs --qos-compare=NAME|PATH: what to compare with", "--qos-compare-fail"
        )
    thresholds = parse_compare_fail(fail_spec) if fail_spec else {}
    if compare_with:
        store.baseline = Baseline(load_baseline(compare_with, store.save_dir), thresholds)
        store.baseline_name = compare_with


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
        # The one place a result's outcome is written: pytest's own verdict on the test.
        result.outcome = "error" if result.error else report.outcome
        baseline = qos_session(item.config).baseline
        if baseline is not None and result.comparison is None:
            baseline.attach(result)  # a test that measured but judged nothing: reported
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
            terminalreporter.write_line(
                terminal.summary(
                    self.store.results, self.store.comparisons(), self.store.baseline_name
                )
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write --qos-json, the baseline, Markdown (on the controller only, under xdist)."""
    store = qos_session(session.config)
    if hasattr(session.config, "workerinput"):
        return
    wanted = store.json_path is not None or store.save_name or store.md_path
    if not (wanted or store.results):
        return
    document = json_report.build_document(
        store.results, json_report.environment(store.iperf3_version())
    )
    if store.json_path is not None:
        json_report.write_document(store.json_path, document)
    if not store.results:
        return
    if store.save_name and exitstatus != pytest.ExitCode.INTERRUPTED:
        # An interrupted run is incomplete: the previous baseline stays as it was.
        path = save_baseline(document, store.save_name, store.save_dir)
        _tell(session, f"QoS baseline '{store.save_name}' saved to {path}")
    if store.plot_dir is not None:
        for result in store.results:
            write_plots(result, store.plot_dir)  # series travel with results, also from xdist
    markdown = render_markdown(store.results, store.comparisons(), store.baseline_name)
    if store.md_path is not None:
        write_markdown(store.md_path, markdown)
    append_step_summary(markdown)


def _tell(session: pytest.Session, line: str) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
