"""Scenario files as pytest nodes: `ScenarioFile` collects one `ScenarioItem` per test."""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _pytest._code.code import ExceptionInfo, TerminalRepr

from .baselines import Comparison
from .errors import MeasurementError, QosError, ScenarioError
from .report import terminal
from .results import QosResult
from .runner import Runner
from .scenario import Scenario, TestSpec, load_scenario
from .session import COMPARISON_KEY, QOS_MARKER, RESULT_KEY, qos_session
from .target import Target, local_target, remote_target

YAML_SUFFIXES = (".yaml", ".yml")


class QosFailure(Exception):
    """A test's measurement missed at least one bound (or regressed against the baseline)."""

    def __init__(
        self, result: QosResult, comparison: Comparison | None = None, context: str = ""
    ) -> None:
        super().__init__(result.test)
        self.result = result
        self.comparison = comparison
        self.context = context  # e.g. the lab router's queue counters


def is_scenario_file(path: Path, config: pytest.Config, is_argument: bool) -> bool:
    """YAML in a scenario directory, matching a scenario pattern, or named as an argument."""
    if path.suffix not in YAML_SUFFIXES:
        return False
    if is_argument:
        return True
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in config.getini("qos_file_patterns")):
        return True
    directories = set(config.getini("qos_scenario_dirs"))
    return any(part in directories for part in path.parent.parts)


def explain(error: BaseException) -> str | None:
    """One clear message for our own errors (no traceback), else None."""
    if isinstance(error, QosFailure):
        report = terminal.failure(error.result, error.comparison)
        return f"{report}\n\n{error.context}" if error.context else report
    if isinstance(error, MeasurementError) and error.command:
        return f"{error}\nreproduce: {shlex.join(error.command)}"
    if isinstance(error, QosError):
        return str(error)
    return None


class ScenarioFile(pytest.File):
    """A YAML scenario file; its lab (if any) lives as long as the file's tests run."""

    scenario: Scenario
    _lab: Any = None

    def collect(self) -> Iterator[ScenarioItem]:
        """Validate the file, then one item per entry under `tests:`."""
        self.scenario = load_scenario(self.path)
        for spec in self.scenario.tests:
            yield ScenarioItem.from_parent(self, name=spec.name, spec=spec)

    def repr_failure(  # type: ignore[override]
        self, excinfo: ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        """A scenario error is one line: file:line: key: what is wrong and what is right."""
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def target(self) -> Target:
        """Where this file's tests measure: a lab, a running server, or loopback."""
        scenario = self.scenario
        router_config = qos_session(self.config).router_config
        if scenario.lab is not None:
            return self._lab_target(router_config or scenario.lab.router)
        if scenario.target.is_local:
            return local_target()
        assert scenario.target.host is not None
        return remote_target(
            scenario.target.host, list(scenario.target.ports), scenario.target.responder_port
        )

    def _lab_target(self, router_config: Path | None) -> Target:
        from .lab import Lab, lab_unavailable_reason

        if self._lab is None:
            reason = lab_unavailable_reason()
            if reason:
                pytest.skip(f"router lab {reason}")
            self._lab = Lab.create(router_config=router_config)
        target: Target = self._lab.target()
        return target

    def lab_state(self) -> str:
        """The router's qdiscs and counters, to show why a lab test failed ('' if no lab)."""
        if self._lab is None:
            return ""
        return f"router qdiscs after the test (tc -s qdisc show):\n{self._lab.qdiscs()}"

    def teardown(self) -> None:
        """Destroy the lab (namespaces, processes, qdiscs) after the file's last test."""
        if self._lab is not None:
            lab, self._lab = self._lab, None
            lab.destroy()


class ScenarioItem(pytest.Item):
    """One scenario test: measure, judge its bounds, record the result."""

    def __init__(self, *, spec: TestSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker(QOS_MARKER)

    def runtest(self) -> None:
        """Run the measurement; a missed bound raises QosFailure with the results table."""
        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        session = qos_session(self.config)
        spec = self.spec
        runner = Runner(session.iperf3, parent.target(), session.progress)
        try:
            result = runner.run(
                self.nodeid,
                traffic=spec.traffic,
                probe=spec.probe,
                load=spec.load,
                repeat=spec.repeat,
                settle=spec.settle,
                expect=spec.expect,
                baseline=session.baseline_metrics(self.nodeid),
            )
        except QosError as error:
            self.stash[RESULT_KEY] = QosResult(test=self.nodeid, outcome="error", error=str(error))
            raise
        finally:
            runner.close()
        self.stash[RESULT_KEY] = result
        comparison = session.compare(result)
        if comparison is not None:
            self.stash[COMPARISON_KEY] = comparison
        if not result.passed:
            raise QosFailure(result, comparison, parent.lab_state())

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        """The results table for a missed bound; one line for a tool error."""
        return explain(excinfo.value) or super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the test is written: file and line."""
        return self.path, self.spec.line - 1, f"qos: {self.name}"
