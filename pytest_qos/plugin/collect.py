"""Scenario files as pytest nodes: `ScenarioFile` collects one `ScenarioItem` per test."""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest._code.code import ExceptionInfo, TerminalRepr

from ..errors import MeasurementError, QosError, ScenarioError
from ..hosts.locks import host_locks
from ..hosts.target import Target, local_target, remote_target
from ..lab.spec import replace_configs
from ..report import terminal
from ..results import QosResult
from ..scenario.reader import Scenario, TestSpec, load_scenario
from ..scenario.run import run_test
from .session import QOS_MARKER, RESULT_KEY, qos_session

if TYPE_CHECKING:
    from ..hosts.testbed import Testbed
    from ..lab.routerlab import Lab

YAML_SUFFIXES = (".yaml", ".yml")
TESTBED_KEY = pytest.StashKey["Testbed | None"]()


class QosFailure(Exception):
    """A test's measurement missed at least one bound (or regressed against the baseline)."""

    def __init__(self, result: QosResult, context: str = "") -> None:
        super().__init__(result.test)
        self.result = result
        self.context = context  # e.g. the lab router's queue counters


class UntrustedResult(QosError):
    """A test measured, but its figures cannot be judged (e.g. the sender fell short).

    Raised during setup: pytest reports it as an error, never as a QoS failure.
    """

    def __init__(self, result: QosResult) -> None:
        super().__init__(result.error)
        self.result = result


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
        report = terminal.failure(error.result, error.result.comparison)
        return f"{report}\n\n{error.context}" if error.context else report
    if isinstance(error, UntrustedResult):
        return terminal.untrusted(error.result)
    if isinstance(error, MeasurementError) and error.command:
        return f"{error}\nreproduce: {shlex.join(error.command)}"
    if isinstance(error, QosError):
        return str(error)
    return None


def testbed_option(config: pytest.Config) -> Path | None:
    """--qos-testbed, else ini qos_testbed (relative to the ini file), else None."""
    value = config.getoption("qos_testbed", None)
    if value:
        return Path(value)
    ini = config.getini("qos_testbed")
    if ini:
        return (
            Path(config.rootpath, str(ini))
            if config.inipath is None
            else (config.inipath.parent / str(ini))
        )
    return None


def session_testbed(config: pytest.Config) -> Testbed | None:
    """The run's testbed, read once (a ScenarioError if the file is wrong)."""
    from ..hosts.testbed import load_testbed

    if TESTBED_KEY not in config.stash:
        path = testbed_option(config)
        config.stash[TESTBED_KEY] = load_testbed(path) if path is not None else None
    return config.stash[TESTBED_KEY]


class ScenarioFile(pytest.File):
    """A YAML scenario file; its lab (if any) lives as long as the file's tests run."""

    scenario: Scenario
    target: Target
    lab: Lab | None = None
    # A lab that failed to build: each of the file's tests fails with it; no rebuild per test.
    setup_error: QosError | None = None

    _sitelab: Any = None
    testbed: Any = None

    def collect(self) -> Iterator[ScenarioItem]:
        """Validate the file, then one item per test (per test and host pair in a mesh)."""
        from ..scenario import sites

        self.scenario = load_scenario(self.path)
        lab = self.scenario.lab
        if lab is not None and lab.sites:
            self.testbed = sites.lab_testbed(self.path, lab.sites)
        elif sites.uses_sites(self.scenario):
            self.testbed = session_testbed(self.config)
        families = lab.families if lab is not None else (4,)
        for spec, pair, name in sites.plan(self.scenario, self.testbed):
            for family in families:
                # `ip: both` runs each test once per family; the id shows which.
                named = name if len(families) == 1 else f"{name}[ipv{family}]"
                yield ScenarioItem.from_parent(
                    self, name=named, spec=spec, pair=pair, family=family
                )

    def repr_failure(  # type: ignore[override]
        self, excinfo: ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        """A scenario error is one line: file:line: key: what is wrong and what is right."""
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def setup(self) -> None:
        """Where this file's tests measure: a lab (built once here), a running server, loopback."""
        scenario = self.scenario
        if scenario.lab is not None and scenario.lab.sites:
            try:
                self._build_sites(scenario.lab.sites, scenario.lab.router)
            except QosError as error:
                self.setup_error = error
            return
        if scenario.lab is not None:
            router_config = qos_session(self.config).router_config or scenario.lab.router
            try:
                self.target = self._build_lab(router_config)
            except QosError as error:
                self.setup_error = error
        elif scenario.target.is_local:
            self.target = local_target()
        else:
            assert scenario.target.host is not None
            self.target = remote_target(
                scenario.target.host, list(scenario.target.ports), scenario.target.responder_port
            )

    def _build_lab(self, router_config: Path | None) -> Target:
        from ..lab.routerlab import Lab, lab_unavailable_reason

        if not qos_session(self.config).enabled:
            return local_target()  # the tests are skipped (no --qos): build nothing
        reason = lab_unavailable_reason()
        if reason:
            pytest.skip(f"router lab {reason}")
        spec = self.scenario.lab
        assert spec is not None
        session = qos_session(self.config)
        self.lab = Lab.create(
            router_config=None if spec.routers else router_config,
            wan=spec.wan,
            routers=replace_configs(spec, session.router_config, session.router_configs),
            wan_after=spec.wan_after,
            mtu=spec.mtu,
        )
        target: Target = self.lab.target(ipv6=spec.families[0] == 6)
        return target

    def _build_sites(self, sites: int, router_config: Path | None) -> None:
        """`lab: {sites: N}`: the site lab, and its generated testbed in place of the names."""
        from ..hosts.testbed import load_testbed
        from ..lab.sitelab import SiteLab, sites_unavailable_reason

        if not qos_session(self.config).enabled:
            return  # the tests are skipped (no --qos): build nothing
        reason = sites_unavailable_reason()
        if reason:
            pytest.skip(f"site lab {reason}")
        router = qos_session(self.config).router_config or router_config
        self._sitelab = SiteLab.create(sites, router)
        self.testbed = load_testbed(self._sitelab.testbed)

    @property
    def lock_scope(self) -> str:
        """Whose hosts the pairs name: a site lab's own identity, or '' (the testbed's)."""
        return str(self._sitelab.lock_scope) if self._sitelab is not None else ""

    def pair_target(self, pair: tuple[str, str]) -> Target:
        """Clients at the pair's `from` host, servers at its `to` host."""
        from ..scenario.sites import pair_target

        return pair_target(self.testbed, pair)

    def target_for(self, family: int) -> Target:
        """The file's target over IP version `family` (a lab has both; others one)."""
        if self.lab is not None:
            target: Target = self.lab.target(ipv6=family == 6)
            return target
        return self.target

    def lab_state(self, result: QosResult | None = None) -> str:
        """The router's counters during the test and its filters ('' if no lab)."""
        if self.lab is None:
            return ""
        state: str = self.lab.failure_context(result)
        return state

    def teardown(self) -> None:
        """Destroy the lab (namespaces, processes, qdiscs) after the file's last test."""
        if self.lab is not None:
            lab, self.lab = self.lab, None
            session = qos_session(self.config)
            if session.keep_lab:
                from ..lab.routerlab import keep_lab

                session.kept_labs.append(f"{lab.id}; remove it with: {keep_lab(lab)}")
            else:
                lab.destroy()
        if self._sitelab is not None:
            sitelab, self._sitelab = self._sitelab, None
            sitelab.destroy()


class ScenarioItem(pytest.Item):
    """One scenario test: measure, judge its bounds, record the result."""

    def __init__(
        self,
        *,
        spec: TestSpec,
        pair: tuple[str, str] | None = None,
        family: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.pair = pair  # (from, to) hosts of a path or mesh test
        self.family = family  # IP version in a lab (4 or 6)
        if pair is not None:
            from ..scenario.sites import PAIR_WORD

            # `-k 'branch-1->'` selects by pair (plugin.py rewrites '->' to PAIR_WORD).
            self.extra_keyword_matches.add(f"{pair[0]}{PAIR_WORD}{pair[1]}")
        self.add_marker(QOS_MARKER)

    def setup(self) -> None:
        """Measure through the library. What stops a measurement (the lab, the host, a tool, a
        figure that cannot be trusted) raises here, so pytest reports it as an error."""
        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        option = self.config.option
        if getattr(option, "setuponly", False) or getattr(option, "setupplan", False):
            return  # --setup-only / --setup-plan: show the plan, measure nothing
        session = qos_session(self.config)
        # Throughput holds both hosts alone; probes share them (perfSONAR's classes).
        spec = self.spec
        exclusive = spec.traffic is not None or bool(spec.load or spec.flows or spec.method)
        try:
            if parent.setup_error is not None:
                raise parent.setup_error
            target = parent.pair_target(self.pair) if self.pair else parent.target_for(self.family)
            with host_locks(list(self.pair or ()), exclusive, scope=parent.lock_scope):
                result = run_test(
                    self.spec,
                    target,
                    test_id=self.nodeid,
                    iperf3=session.iperf3,
                    baseline=session.baseline,
                    progress=session.progress,
                    diagnosis=session.diagnosis,
                )
        except QosError as error:
            # A dead WAN delay line is named, not its symptom ("no reply", "unable to connect").
            failure = (parent.lab.explain(error) if parent.lab is not None else None) or error
            measured = list(getattr(failure, "measurements", []))  # what the WAN's line counted
            self.stash[RESULT_KEY] = QosResult(self.nodeid, measured, error=str(failure))
            if failure is error:
                raise
            raise failure from error
        session.compare(result)  # the history verdict (run_test judged the baseline)
        self.stash[RESULT_KEY] = result
        if result.error:
            raise UntrustedResult(result)

    def runtest(self) -> None:
        """Judge what setup measured: a missed bound raises QosFailure with the table."""
        parent = self.parent
        assert isinstance(parent, ScenarioFile)
        result = self.stash.get(RESULT_KEY, None)
        if result is not None and not result.passed:
            raise QosFailure(result, parent.lab_state(result))

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        """The results table for a missed bound; one line for a tool error."""
        return explain(excinfo.value) or super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the test is written: file and line."""
        return self.path, self.spec.line - 1, f"qos: {self.name}"
