"""Scenario files: YAML → validated specs, every error pointing at file, line and key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .bounds import Bound, parse_expectations
from .errors import InputError, ScenarioError, did_you_mean
from .metrics import unmeasurable
from .probes import Probe
from .target import RESPONDER_PORT
from .traffic import TRAFFIC_KEYS, Traffic
from .units import Kind, parse, whole_number

TOP_KEYS = ("description", "target", "defaults", "lab", "tests")
TEST_KEYS = ("description", "traffic", "probe", "load", "repeat", "settle", "expect")
DEFAULT_KEYS = (*TRAFFIC_KEYS, "repeat", "settle")
TARGET_KEYS = ("host", "port", "ports", "responder_port")
LAB_KEYS = ("router",)
DEFAULT_SETTLE = 1.0
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

KeyPath = tuple[str, ...]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class TargetSpec:
    """`target:` — the local default, or iperf3 servers already running at host:ports."""

    host: str | None = None  # None: local (servers spawned on loopback)
    ports: tuple[int, ...] = ()
    responder_port: int = RESPONDER_PORT

    @property
    def is_local(self) -> bool:
        """True for the built-in default target."""
        return self.host is None


@dataclass(frozen=True)
class LabSpec:
    """`lab:` — run the tests across client/router/server namespaces with a router config."""

    router: Path | None


@dataclass(frozen=True)
class TestSpec:
    """One entry under `tests:`: what to measure and the bounds it must meet."""

    name: str
    line: int
    traffic: Traffic | None = None
    probe: Probe | None = None
    load: tuple[Traffic, ...] = ()
    repeat: int = 1
    settle: float = DEFAULT_SETTLE
    expect: dict[str, Bound] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file."""

    path: Path
    tests: tuple[TestSpec, ...]
    target: TargetSpec = TargetSpec()
    lab: LabSpec | None = None
    description: str = ""


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; raises ScenarioError on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), None, None, f"cannot read: {error}") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    """Validate scenario YAML `text` read from `path`."""
    reader = _Reader(path, text)
    return reader.scenario()


def _yaml_problem(error: yaml.YAMLError) -> tuple[int | None, str]:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    return (mark.line + 1 if mark else None), f"not valid YAML: {problem}"


class _Reader:  # long: one small method per scenario key, all sharing the file's line map
    """Walks the YAML once for values and once for line numbers, validating as it goes."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines: dict[KeyPath, int] = {}
        # One parse (in C when libyaml is there): the node tree gives lines, then values.
        loader = _LOADER(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                self._map_lines(root, ())
            self.data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as error:
            line, message = _yaml_problem(error)
            raise ScenarioError(str(path), line, None, message) from None
        finally:
            loader.dispose()

    # -- locations -------------------------------------------------------------------------

    def _map_lines(self, node: yaml.Node, path: KeyPath) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise ScenarioError(
                        str(self.path),
                        line,
                        _dotted((*path, key)),
                        "duplicate key; each key may appear once",
                    )
                seen.add(key)
                key_path = (*path, key)
                self.lines[key_path] = line
                self._map_lines(value_node, key_path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                item_path = (*path, str(index))
                self.lines[item_path] = item.start_mark.line + 1
                self._map_lines(item, item_path)

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        """A ScenarioError at the line of `path` (or of its nearest ancestor)."""
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return ScenarioError(
            str(self.path),
            self.lines.get(probe, 1 if not path else None),
            _dotted(path) or None,
            message,
        )

    def guard(self, path: KeyPath, action: Callable[[], Any]) -> Any:
        """Run `action`, turning an InputError into a ScenarioError at `path` (+ its key)."""
        try:
            return action()
        except InputError as error:
            where = (*path, *error.key.split(".")) if error.key else path
            raise self.error(where, error.message) from None

    # -- structure -------------------------------------------------------------------------

    def mapping(self, value: Any, path: KeyPath, what: str) -> dict[str, Any]:
        """`value` as a mapping with string keys, or an error saying what was expected."""
        if not isinstance(value, dict):
            raise self.error(
                path, f"{what} must be a mapping (key: value lines), got {_kind(value)}"
            )
        return {str(key): item for key, item in value.items()}

    def known_keys(
        self, data: dict[str, Any], known: tuple[str, ...], path: KeyPath, where: str
    ) -> None:
        """Reject unknown keys with a did-you-mean."""
        for key in data:
            if key not in known:
                raise self.error(
                    (*path, key),
                    f"unknown key '{key}' in {where}"
                    f"{did_you_mean(key, known)} (known: {', '.join(known)})",
                )

    def scenario(self) -> Scenario:
        """Validate the whole file."""
        if self.data is None:
            raise self.error((), "the file is empty; a scenario needs a 'tests:' mapping")
        top = self.mapping(self.data, (), "a scenario file")
        self.known_keys(top, TOP_KEYS, (), "the scenario file")
        if "tests" not in top:
            raise self.error((), "no 'tests:' mapping; add at least one test under 'tests:'")
        tests_data = self.mapping(top["tests"], ("tests",), "'tests'")
        if not tests_data:
            raise self.error(("tests",), "'tests:' is empty; add at least one test")
        defaults = self.defaults(top.get("defaults"))
        tests = tuple(self.test(name, value, defaults) for name, value in tests_data.items())
        description = top.get("description", "")
        if not isinstance(description, str):
            raise self.error(("description",), "description must be text")
        return Scenario(
            path=self.path,
            tests=tests,
            target=self.target(top.get("target")),
            lab=self.lab(top["lab"]) if "lab" in top else None,
            description=description,
        )

    def defaults(self, value: Any) -> dict[str, Any]:
        """`defaults:` — traffic keys (and repeat, settle) applied to every test."""
        if value is None:
            return {}
        data = self.mapping(value, ("defaults",), "'defaults'")
        self.known_keys(data, DEFAULT_KEYS, ("defaults",), "'defaults'")
        traffic_defaults = {k: v for k, v in data.items() if k in TRAFFIC_KEYS}
        self.guard(("defaults",), lambda: Traffic.from_options(traffic_defaults))
        return data

    def target(self, value: Any) -> TargetSpec:
        """`target: local` or `{host, port | ports, responder_port}`."""
        path: KeyPath = ("target",)
        if value is None or value == "local":
            return TargetSpec()
        if isinstance(value, str):
            raise self.error(
                path,
                f"target '{value}' is not 'local' nor a mapping; write "
                "'target: local' or 'target: {host: 198.18.1.2, port: 5201}'",
            )
        data = self.mapping(value, path, "'target'")
        self.known_keys(data, TARGET_KEYS, path, "'target'")
        host = data.get("host")
        if not isinstance(host, str) or not host:
            raise self.error(
                path,
                "a target mapping needs 'host:' (the address iperf3 "
                "servers run at), e.g. {host: 198.18.1.2, port: 5201}",
            )
        if "port" in data and "ports" in data:
            raise self.error((*path, "ports"), "give 'port' or 'ports', not both")
        if "port" in data:
            ports: tuple[int, ...] = (self.port(data["port"], (*path, "port")),)
        elif "ports" in data:
            ports = self.port_range(data["ports"], (*path, "ports"))
        else:
            ports = (5201,)
        responder = self.port(data.get("responder_port", RESPONDER_PORT), (*path, "responder_port"))
        return TargetSpec(host=host, ports=ports, responder_port=responder)

    def port(self, value: Any, path: KeyPath) -> int:
        """A TCP/UDP port number."""
        port: int = self.guard(path, lambda: whole_number(value, 1, 65535, "a port"))
        return port

    def port_range(self, value: Any, path: KeyPath) -> tuple[int, ...]:
        """`5201-5204`, or a list of ports."""
        if isinstance(value, list):
            return tuple(self.port(item, (*path, str(i))) for i, item in enumerate(value))
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(value))
        if not match:
            raise self.error(path, f"ports '{value}' is not a range like '5201-5204' nor a list")
        low, high = (self.port(int(group), path) for group in match.groups())
        if not low <= high or high - low >= 64:
            raise self.error(path, f"ports '{value}' must run low-high, at most 64 ports")
        return tuple(range(low, high + 1))

    def lab(self, value: Any) -> LabSpec:
        """`lab: {router: path/to/config}` (relative to the scenario file)."""
        if value is None:
            return LabSpec(router=None)
        data = self.mapping(value, ("lab",), "'lab'")
        self.known_keys(data, LAB_KEYS, ("lab",), "'lab'")
        router = data.get("router")
        if router is None:
            return LabSpec(router=None)
        if not isinstance(router, str):
            raise self.error(("lab", "router"), "router is the path of an executable config")
        config = (self.path.parent / router).resolve()
        if not config.is_file():
            raise self.error(
                ("lab", "router"), f"router config '{router}' does not exist (looked for {config})"
            )
        return LabSpec(router=config)

    def test(self, name: str, value: Any, defaults: dict[str, Any]) -> TestSpec:
        """One test under `tests:`."""
        path: KeyPath = ("tests", name)
        if not _NAME.match(name):
            raise self.error(
                path, f"test name '{name}' may use only letters, digits, '-', '_' and '.'"
            )
        data = self.mapping(value, path, f"test '{name}'")
        self.known_keys(data, TEST_KEYS, path, f"test '{name}'")
        if "traffic" not in data and "probe" not in data:
            raise self.error(
                path, "a test needs 'traffic:' (an iperf3 flow) or 'probe:' (a latency probe)"
            )
        traffic_defaults = {k: v for k, v in defaults.items() if k in TRAFFIC_KEYS}
        traffic = None
        if "traffic" in data:
            flow = self.mapping(data["traffic"], (*path, "traffic"), "'traffic'")
            traffic = self.guard(
                (*path, "traffic"), lambda: Traffic.from_options({**traffic_defaults, **flow})
            )
        probe = self.probe(data["probe"], (*path, "probe")) if "probe" in data else None
        load = self.load(data.get("load"), (*path, "load"), traffic_defaults)
        repeat_value = data.get("repeat", defaults.get("repeat", 1))
        repeat: int = self.guard(
            (*path, "repeat"), lambda: whole_number(repeat_value, 1, 100, "repeat")
        )
        settle_value = data.get("settle", defaults.get("settle"))
        settle = DEFAULT_SETTLE
        if settle_value is not None:
            settle = self.guard((*path, "settle"), lambda: parse(settle_value, Kind.DURATION))
            if not 0 <= settle <= 60:
                raise self.error((*path, "settle"), "settle must be from 0 s to 60 s")
        expect_data = self.mapping(data.get("expect", {}), (*path, "expect"), "'expect'")
        expect = self.guard((*path, "expect"), lambda: parse_expectations(expect_data))
        self.check_measurable(expect, traffic, probe, (*path, "expect"))
        description = data.get("description", "")
        return TestSpec(
            name=name,
            line=self.lines.get(path, 1),
            traffic=traffic,
            probe=probe,
            load=load,
            repeat=repeat,
            settle=settle,
            expect=expect,
            description=str(description),
        )

    def probe(self, value: Any, path: KeyPath) -> Probe:
        """`probe:` — a latency probe's options."""
        data = self.mapping(value, path, "'probe'")
        probe: Probe = self.guard(path, lambda: Probe.from_options(data))
        return probe

    def load(self, value: Any, path: KeyPath, defaults: dict[str, Any]) -> tuple[Traffic, ...]:
        """`load:` — one flow or a list of flows running in the background."""
        if value is None:
            return ()
        flows = value if isinstance(value, list) else [value]
        if not flows:
            raise self.error(path, "'load:' is empty; give a flow or remove the key")
        parsed = []
        for index, flow in enumerate(flows):
            where = (*path, str(index)) if isinstance(value, list) else path
            data = self.mapping(flow, where, "a load flow")
            parsed.append(self.flow(where, {**defaults, **data}))
        return tuple(parsed)

    def flow(self, path: KeyPath, options: dict[str, Any]) -> Traffic:
        """A validated iperf3 flow."""
        traffic: Traffic = self.guard(path, lambda: Traffic.from_options(options))
        return traffic

    def check_measurable(
        self, expect: dict[str, Bound], traffic: Traffic | None, probe: Probe | None, path: KeyPath
    ) -> None:
        """A bound on a metric this test cannot measure is an error, not a silent skip."""
        for name in expect:
            reason = unmeasurable(
                name,
                traffic.protocol if traffic else None,
                traffic.direction if traffic else None,
                probe is not None,
            )
            if reason:
                raise self.error((*path, name), reason)


def _dotted(path: KeyPath) -> str:
    return ".".join(path)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"{type(value).__name__} {value!r}"
