"""pytest hooks of pytest-qos: options, markers, `--qos` skip, collection, reports."""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ..diagnose import WHEN, WHEN_HELP, Diagnosis
from ..diagnose.mesh import annotate as annotate_mesh
from ..errors import InputError, QosError
from ..history.options import add_options, history_options, record_run, trend_judge
from ..judge.thresholds import parse_compare_fail
from ..lab.spec import router_overrides
from ..lab.wan import wan_emulations
from ..measure.progress import Progress
from ..monitor.options import add_options as add_monitor_options
from ..report import diagnosis, junit, matrix, terminal
from ..report.html import QosHtmlExtras, html_report_requested
from ..report.markdown import append_step_summary, escape, render_markdown, write_markdown
from ..report.plots import write_plots
from ..results import QosResult
from ..scenario.run import Baseline
from ..scenario.sites import PAIR_WORD
from ..store import document as json_report
from ..store.baselines import (
    DEFAULT_DIRECTORY,
    BaselineMissing,
    check_name,
    load_baseline,
    save_baseline,
)
from . import monitoring
from .collect import ScenarioFile, explain, is_scenario_file
from .fixtures import (
    iperf3,
    iperf3_server,
    latency_probe,
    qos_check,
    qos_lab,
    qos_sites,
    qos_target,
)
from .session import (
    QOS_MARKER,
    RESULT_KEY,
    SESSION_KEY,
    SKIP_REASON,
    QosSession,
    qos_session,
    reports_result,
)

# pytest finds fixtures among a plugin module's names.
__all__ = [
    "iperf3",
    "iperf3_server",
    "latency_probe",
    "qos_check",
    "qos_lab",
    "qos_sites",
    "qos_target",
]

# -- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--qos` and friends; ini options for where scenario files are found."""
    group = parser.getgroup("qos", "network QoS measurements (pytest-qos)")
    group.addoption("--qos", action="store_true", help="run QoS measurements (else skipped)")
    group.addoption("--qos-iperf3", metavar="PATH", help="iperf3 executable to use")
    group.addoption("--qos-json", metavar="PATH", help="write all QoS results as one JSON file")
    group.addoption(
        "--qos-json-series", action="store_true", help="keep per-sample series in --qos-json"
    )
    group.addoption(
        "--qos-router-config",
        metavar="PATH|NAME=PATH",
        action="append",
        help="router config to apply in lab scenarios, instead of the one each file names "
        "(NAME=PATH: router NAME's in a line of routers; repeatable)",
    )
    group.addoption("--qos-diagnose", choices=WHEN, default="failed", help=WHEN_HELP)
    group.addoption(
        "--qos-testbed",
        metavar="PATH",
        help="testbed file (hosts for path: and mesh: scenarios); ini: qos_testbed",
    )
    group.addoption(
        "--qos-keep-lab",
        action="store_true",
        help="leave each router lab in place after its tests, so the reproduce lines of a "
        "failure can be run in it (remove it with the 'python -m pytest_qos lab remove' line "
        "printed at the end)",
    )
    _add_output_options(group)
    parser.addini(
        "qos_scenario_dirs",
        type="linelist",
        default=["scenarios"],
        help="directories whose YAML files are QoS scenarios (default: scenarios)",
    )
    parser.addini("qos_testbed", default="", help="testbed file for path: and mesh: scenarios")
    add_options(parser)  # --qos-history, --qos-trend and friends (pytest_qos.history)
    add_monitor_options(group, parser)  # --qos-prometheus and friends (pytest_qos.monitor)
    parser.addini(
        "qos_file_patterns",
        type="linelist",
        default=["*.qos.yaml", "*.qos.yml"],
        help="file name patterns of QoS scenarios anywhere (default: *.qos.yaml *.qos.yml)",
    )


def _add_output_options(group: pytest.OptionGroup) -> None:
    """Baselines (save, compare) and the report files (Markdown, plots)."""
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


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value) if value else None


def pytest_configure(config: pytest.Config) -> None:
    """Create the session store; turn SIGTERM into an interrupt so teardowns still run."""
    config.addinivalue_line(
        "markers", f"{QOS_MARKER}: a network QoS measurement (skipped unless --qos)"
    )
    config.addinivalue_line(
        "markers", "qos_lab(router=PATH, wan=DICT): the qos_lab fixture's router config and WAN hop"
    )
    config.addinivalue_line(
        "markers", "qos_sites(sites=N, router=PATH): the site lab the qos_sites fixture builds"
    )
    keyword = getattr(config.option, "keyword", "")
    if keyword and "->" in keyword:
        # pytest's -k grammar has no '>': `-k 'branch-1->'` becomes a word it can parse.
        config.option.keyword = keyword.replace("->", PAIR_WORD)
    try:
        router_config, named_configs = router_overrides(config.getoption("qos_router_config"))
    except InputError as error:
        raise pytest.UsageError(f"--qos-router-config={error.key}: {error.message}") from None
    store = QosSession(
        enabled=bool(config.getoption("qos")),
        iperf3_path=config.getoption("qos_iperf3"),
        json_path=_path_option(config, "qos_json"),
        router_config=router_config,
        router_configs=named_configs,
        diagnosis=Diagnosis(when=config.getoption("qos_diagnose")),
        keep_lab=bool(config.getoption("qos_keep_lab")),
        save_dir=Path(config.getoption("qos_save_dir")),
        md_path=_path_option(config, "qos_md"),
        plot_dir=_path_option(config, "qos_plot_dir"),
    )
    try:
        _configure_baselines(config, store)
        store.history = history_options(config)
        store.trend = trend_judge(config, store.history)
    except InputError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[SESSION_KEY] = store
    monitoring.configure(config)
    _INTERRUPTED.clear()
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
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                signal.signal(signal.SIGINT, _interrupt)


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
        try:
            stored = load_baseline(compare_with, store.save_dir)
        except BaselineMissing as missing:
            # A first run has no baseline yet: say so, compare nothing, fail nothing for it.
            store.baseline_note = f"{missing}. Nothing was compared with a baseline."
            return
        store.baseline = Baseline(stored, thresholds)
        store.baseline_name = compare_with


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the session's ssh connections; give SIGTERM and SIGINT back their defaults."""
    from ..hosts.ssh import MUX

    MUX.close()
    with contextlib.suppress(ValueError):
        if signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if signal.getsignal(signal.SIGINT) is _interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)


_INTERRUPTED: list[str] = []  # signals seen; a handler cannot reach the session store


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI timeout) unwinds like Ctrl-C, so fixtures stop their processes.

    Both are noted first: the run is then incomplete whatever the exit status says.
    """
    _INTERRUPTED.append(signal.Signals(signum).name)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise KeyboardInterrupt(f"signal {signum}")


# -- collection ----------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    """Scenario YAML becomes a ScenarioFile."""
    if is_scenario_file(file_path, parent.config, parent.session.isinitpath(file_path)):
        node: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
        return node
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note the QoS tests that must report before this run may count as complete."""
    qos_session(session.config).expected = {
        item.nodeid for item in session.items if item.get_closest_marker(QOS_MARKER)
    }


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist the controller collects nothing: every test a worker found must report."""
    qos_session(node.config).expected.update(ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --qos, QoS tests are collected but skipped (the --runslow pattern)."""
    if config.getoption("qos"):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker(QOS_MARKER):
            item.add_marker(skip)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `-n N` (dist load): mesh items go to workers whose hosts are free."""
    if config.getoption("dist", "load") != "load":
        return None
    from .meshsched import HostAwareScheduling

    return HostAwareScheduling(config, log)


# -- results -------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Attach the test's QoS result to its report (JUnit properties, xdist transport)."""
    carries = reports_result(item, call)
    if carries:
        item.user_properties.extend(junit.properties(item.stash[RESULT_KEY]))
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if carries:
        result = item.stash[RESULT_KEY]
        # The one place a result's outcome is written: pytest's own verdict on the test. A
        # failed setup is pytest's error (JUnit <error>, pytest-html's Error): so it is ours.
        failed_setup = report.when == "setup" and report.failed
        result.outcome = "error" if failed_setup or result.error else report.outcome
        baseline = qos_session(item.config).baseline
        if baseline is not None and result.comparison is None:
            baseline.attach(result)  # a test that measured but judged nothing: reported
        report.qos_result = result.to_json()  # type: ignore[attr-defined]
    if call.excinfo is not None and report.failed and call.when in ("setup", "call"):
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

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """An interrupt pytest saw (it may not get to mark the session before sessionfinish)."""
        said = str(excinfo.value)  # e.g. xdist's "stopping after 1 failures" under -x
        self.store.interrupted = self.store.interrupted or (
            f"{excinfo.typename} ({said})" if said else excinfo.typename
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Keep each call report's QoS result; count tests that ran to their teardown."""
        if report.when == "teardown":
            self.store.reported.add(report.nodeid)
        data = getattr(report, "qos_result", None)
        if report.when in ("setup", "call") and data:
            self.store.results.append(QosResult.from_json(data))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The `QoS results` table: every checked metric of every QoS test."""
        annotate_mesh(self.store.results)
        if self.store.results:
            terminalreporter.write_sep("=", "QoS results")
            for emulation in wan_emulations(self.store.results):
                terminalreporter.write_line(f"WAN emulation: {emulation}")
            terminalreporter.write_line(
                terminal.summary(
                    self.store.results, self.store.comparisons(), self.store.baseline_name
                )
            )
            grids = matrix.render_terminal(self.store.results)
            if grids:
                terminalreporter.write_sep("=", "QoS mesh matrix")
                terminalreporter.write_line(grids)
            said = diagnosis.render_text(self.store.results)
            if said:
                terminalreporter.write_sep("=", "QoS diagnosis")
                terminalreporter.write_line(said)
        if self.store.baseline_note:
            terminalreporter.write_line(f"QoS baseline: {self.store.baseline_note}")
        for kept in self.store.kept_labs:
            terminalreporter.write_line(f"QoS lab kept (--qos-keep-lab): {kept}")

    # pytest-html is an optional extra: without it this hook is unknown, and pluggy must not
    # refuse the whole plugin (which would break every pytest run of the user's).
    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: Any, postfix: Any) -> None:
        """pytest-html: the mesh matrices, cells coloured by verdict, above the results."""
        annotate_mesh(self.store.results)
        grids = matrix.render_html(self.store.results)
        if grids:
            prefix.append(grids)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write --qos-json, the baseline, plots, Markdown (on the controller only, under xdist).

    Each output is written on its own: one that cannot be written is one line, and the
    others are still written.
    """
    store = qos_session(session.config)
    if hasattr(session.config, "workerinput"):
        return
    openmetrics = session.config.getoption("qos_openmetrics")
    wanted = store.json_path is not None or store.save_name or store.md_path or openmetrics
    if not (wanted or store.results):
        return
    if _INTERRUPTED and not store.interrupted:
        store.interrupted = _INTERRUPTED[0]
    if exitstatus == pytest.ExitCode.INTERRUPTED and not store.interrupted:
        store.interrupted = "KeyboardInterrupt"
    incomplete = store.incomplete()
    annotate_mesh(store.results)
    document = _document(session, store, incomplete)
    failed: list[str] = []
    json_path, plot_dir, md_path = store.json_path, store.plot_dir, store.md_path
    if json_path is not None:
        _output(failed, "--qos-json", lambda: json_report.write_document(json_path, document))
    if openmetrics:
        _output(
            failed,
            "--qos-openmetrics",
            lambda: monitoring.write_openmetrics(session.config, store.results),
        )
    if store.results:
        if store.save_name:
            _save_baseline(session, document, incomplete, failed)
        if plot_dir is not None:
            # series travel with results, also from xdist
            _output(
                failed,
                "--qos-plot-dir",
                lambda: [write_plots(r, plot_dir) for r in store.results],
            )
        markdown = _markdown(store)
        if md_path is not None:
            _output(failed, "--qos-md", lambda: write_markdown(md_path, markdown))
        _output(failed, "GITHUB_STEP_SUMMARY", lambda: append_step_summary(markdown))
        if store.history is not None:
            history = store.history
            _output(
                failed,
                "--qos-history",
                lambda: _tell(session, record_run(history, document, incomplete, store.trend)),
            )
    for line in failed:
        _tell(session, line, error=True)
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


def _save_baseline(
    session: pytest.Session, document: dict[str, Any], incomplete: str, failed: list[str]
) -> None:
    """--qos-save: a complete run only; an incomplete one leaves the previous baseline."""
    store = qos_session(session.config)
    if incomplete:
        _tell(
            session,
            f"QoS baseline '{store.save_name}' not saved: the run is incomplete "
            f"({incomplete}); the previous baseline stays as it was",
        )
        return
    _output(failed, "--qos-save", lambda: _save(session, store, document))


def _document(session: pytest.Session, store: QosSession, incomplete: str) -> dict[str, Any]:
    """The run's results document (--qos-json, baselines, the history)."""
    environment = json_report.environment(store.iperf3_version())
    emulations = wan_emulations(store.results)
    if emulations:
        environment["wan"] = emulations
    series = bool(session.config.getoption("qos_json_series", False))
    return json_report.build_document(store.results, environment, incomplete, series)


def _markdown(store: QosSession) -> str:
    """The Markdown report: the results table, the mesh matrices, the diagnoses."""
    markdown = render_markdown(store.results, store.comparisons(), store.baseline_name)
    grids = matrix.render_markdown(store.results)
    if grids:
        markdown += f"\n### QoS mesh matrix\n\n{grids}\n"
    return markdown + diagnosis.render_markdown(store.results, escape)


def _save(session: pytest.Session, store: QosSession, document: dict[str, Any]) -> None:
    assert store.save_name is not None
    path = save_baseline(document, store.save_name, store.save_dir)
    _tell(session, f"QoS baseline '{store.save_name}' saved to {path}")


def _output(failed: list[str], option: str, write: Callable[[], object]) -> None:
    """Run one output's `write`; a failure becomes one line in `failed`, not a traceback."""
    try:
        write()
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        failed.append(f"pytest-qos: {option}: cannot write{where}: {error.strerror or error}")
    except QosError as error:
        failed.append(f"pytest-qos: {option}: {getattr(error, 'message', error)}")


def _tell(session: pytest.Session, line: str, error: bool = False) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        # Never onto pytest's progress line ("....  [100%]" under -q or xdist).
        writer = session.config.get_terminal_writer()
        if writer.width_of_current_line:
            writer.line()
        reporter.write_line(line, **({"red": True, "bold": True} if error else {}))
    elif error:
        sys.stderr.write(line + "\n")
