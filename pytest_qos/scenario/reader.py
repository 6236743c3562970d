"""Scenario files: YAML → validated specs, every error pointing at file, line and key."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ScenarioError, did_you_mean
from ..hosts.names import check_host
from ..hosts.target import RESPONDER_PORT
from ..judge.bounds import Bound, parse_expectations
from ..judge.metrics import reserved_names, split_name, unmeasurable
from ..judge.thresholds import Threshold, parse_compare_block
from ..lab.spec import LAB_KEYS, LabSpec, bound_problem, parse_lab
from ..measure.traffic import TRAFFIC_KEYS, Traffic
from ..methods.spec import METHOD_KEYS, MethodSpec, measures, parse_method
from ..methods.y1541 import expand as expand_y1541
from ..probes import Probe
from ..units import Kind, parse, whole_number
from ..yamldoc import KeyPath, LocatedYaml, dotted

TOP_KEYS = ("description", "target", "defaults", "lab", "path", "mesh", "tests")
TEST_KEYS = (
    "description",
    "traffic",
    "flows",
    "probe",
    "probes",
    "load",
    "duration",
    "repeat",
    "settle",
    "expect",
    *METHOD_KEYS,
    "path",
    "compare",
)
# None of these may stand beside a method key: a method runs its own flows.
FLOW_KEYS = ("traffic", "flows", "probe", "probes", "load", "duration", "repeat", "settle")
# Set by the test for all its flows (the window), not by each flow.
WINDOW_KEYS = ("duration", "omit")
PROBE_WINDOW_KEYS = ("duration", "count")
DEFAULT_KEYS = (*TRAFFIC_KEYS, "repeat", "settle")
TARGET_KEYS = ("host", "port", "ports", "responder_port")
PATH_KEYS = ("from", "to")
MESH_KEYS = ("hosts", "group", "from", "to")
DEFAULT_SETTLE = 1.0
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
MAX_PORTS = 64
_FLAT = "a scenario nests a few levels (tests: name: traffic: key: value)"
_FLOW_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a test name without '.': it separates the metric


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
class HostRef:
    """A host or group name written in the file, with where (for errors at collection)."""

    name: str
    line: int
    key: str


@dataclass(frozen=True)
class PathSpec:
    """`path: {from, to}` — clients at `from` (default: here), servers at `to`."""

    to: HostRef
    from_: HostRef | None = None


@dataclass(frozen=True)
class MeshSpec:
    """`mesh:` — every ordered pair of `hosts` (or `group`), or each of `from` to each of `to`."""

    hosts: tuple[HostRef, ...] = ()
    from_: tuple[HostRef, ...] = ()
    to: tuple[HostRef, ...] = ()


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
    # --qos-compare thresholds of this test: {metric: Threshold}, over --qos-compare-fail's.
    compare: dict[str, Threshold] = field(default_factory=dict)
    description: str = ""
    # Named concurrent flows and probes, measured over one window of `duration` s.
    flows: dict[str, Traffic] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    duration: float = 1.0
    method: MethodSpec | None = None  # rfc2544 / rfc6349 / y1564 instead of flows
    method_key: str | None = None
    site_path: PathSpec | None = None  # `path:` of this test


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file."""

    path: Path
    tests: tuple[TestSpec, ...]
    target: TargetSpec = TargetSpec()
    lab: LabSpec | None = None
    description: str = ""
    site_path: PathSpec | None = None  # `path:` (the file's own path is `path`)
    mesh: MeshSpec | None = None


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


class _Reader:  # long: one small method per scenario key, all sharing the file's line map
    """Validates a scenario's values, each error at the line yamldoc found for its key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.document = LocatedYaml(path, text, nesting=_FLAT)
        self.lines = self.document.lines
        self.data = self.document.data

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        """A ScenarioError at the line of `path` (or of its nearest ancestor)."""
        return self.document.error(path, message)

    def guard(self, path: KeyPath, action: Callable[[], Any]) -> Any:
        """Run `action`, turning an InputError into a ScenarioError at `path` (+ its key)."""
        try:
            return action()
        except InputError as error:
            where = (*path, *error.key.split(".")) if error.key else path
            if error.key and (*path, error.key) in self.lines:
                where = (*path, error.key)  # a key with dots in it: a metric name
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
        for key in top["tests"]:
            if not isinstance(key, str):
                raise self.error(
                    ("tests", str(key)),
                    f"test name {key!r} is read as {type(key).__name__}, not as text; "
                    "quote the name (e.g. '\"1\":') so it stays a name",
                )
        if not tests_data:
            raise self.error(("tests",), "'tests:' is empty; add at least one test")
        if "target" in top and "lab" in top:
            raise self.error(
                ("lab",),
                f"'target:' (line {self.lines[('target',)]}) and 'lab:' in one file: a lab file "
                "measures across its own namespaces, a target file measures a running path; "
                "keep one of them (split the file in two to measure both)",
            )
        defaults = self.defaults(top.get("defaults"))
        tests = tuple(self.test(name, value, defaults) for name, value in tests_data.items())
        description = top.get("description", "")
        if not isinstance(description, str):
            raise self.error(("description",), "description must be text")
        path = self.site_path(top["path"], ("path",)) if "path" in top else None
        mesh = self.mesh(top["mesh"]) if "mesh" in top else None
        if mesh is not None and (path is not None or any(t.site_path for t in tests)):
            raise self.error(("mesh",), "a mesh file gives no 'path:'; the mesh makes the paths")
        if (mesh or path or any(t.site_path for t in tests)) and "target" in top:
            raise self.error(("target",), "give 'target:' or 'path:'/'mesh:', not both")
        lab = self.lab(top["lab"]) if "lab" in top else None
        self.lab_metrics(tests, lab)
        return Scenario(
            path=self.path,
            tests=tests,
            target=self.target(top.get("target")),
            lab=lab,
            description=description,
            site_path=path,
            mesh=mesh,
        )

    def ref(self, value: Any, path: KeyPath) -> HostRef:
        """A host (or group) name."""
        if not isinstance(value, str) or not value:
            raise self.error(path, f"a host name from the testbed, got {_kind(value)}")
        return HostRef(value, self.lines.get(path, 1), dotted(path))

    def refs(self, value: Any, path: KeyPath) -> tuple[HostRef, ...]:
        """One name or a list of names."""
        if isinstance(value, list):
            if not value:
                raise self.error(path, "give at least one host")
            return tuple(self.ref(item, (*path, str(i))) for i, item in enumerate(value))
        return (self.ref(value, path),)

    def test_path(self, data: dict[str, Any], path: KeyPath) -> PathSpec | None:
        """A test's own `path:`, if it has one."""
        return self.site_path(data["path"], (*path, "path")) if "path" in data else None

    def site_path(self, value: Any, path: KeyPath) -> PathSpec:
        """`path: {from: A, to: B}`."""
        data = self.mapping(value, path, "'path'")
        self.known_keys(data, PATH_KEYS, path, "'path'")
        if "to" not in data:
            raise self.error(path, "a path needs 'to:' (the host servers run at)")
        from_ = self.ref(data["from"], (*path, "from")) if "from" in data else None
        return PathSpec(to=self.ref(data["to"], (*path, "to")), from_=from_)

    def mesh(self, value: Any) -> MeshSpec:
        """`mesh: {hosts: [...]}`, `{group: G}` or `{from: ..., to: ...}`."""
        path: KeyPath = ("mesh",)
        data = self.mapping(value, path, "'mesh'")
        self.known_keys(data, MESH_KEYS, path, "'mesh'")
        ways = [k for k in ("hosts", "group") if k in data] + (
            ["from/to"] if {"from", "to"} & set(data) else []
        )
        if len(ways) != 1:
            raise self.error(
                path,
                "give one of 'hosts: [A, B, C]', 'group: NAME' or 'from: ... to: ...'",
            )
        if "hosts" in data:
            return MeshSpec(hosts=self.refs(data["hosts"], (*path, "hosts")))
        if "group" in data:
            return MeshSpec(hosts=(self.ref(data["group"], (*path, "group")),))
        if not {"from", "to"} <= set(data):
            raise self.error(path, "a from/to mesh needs both 'from:' and 'to:'")
        return MeshSpec(
            from_=self.refs(data["from"], (*path, "from")),
            to=self.refs(data["to"], (*path, "to")),
        )

    def lab_metrics(self, tests: tuple[TestSpec, ...], lab: LabSpec | None) -> None:
        """`router.` bounds need the lab's router(s); `hop.N.` bounds a hop its path has."""
        for spec in tests:
            for name in spec.expect:
                problem = bound_problem(lab, name)
                if problem:
                    raise self.error(("tests", spec.name, "expect", name), problem)

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
        self.guard((*path, "host"), lambda: check_host(host))
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
            if not 1 <= len(value) <= MAX_PORTS:
                raise self.error(
                    path, f"ports lists 1 to {MAX_PORTS} ports (one server each), got {len(value)}"
                )
            return tuple(self.port(item, (*path, str(i))) for i, item in enumerate(value))
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(value))
        if not match:
            raise self.error(path, f"ports '{value}' is not a range like '5201-5204' nor a list")
        low, high = (self.port(int(group), path) for group in match.groups())
        if not low <= high or high - low >= MAX_PORTS:
            raise self.error(path, f"ports '{value}' must run low-high, at most {MAX_PORTS} ports")
        return tuple(range(low, high + 1))

    def lab(self, value: Any) -> LabSpec:
        """`lab: {router: CONFIG | routers: [...], wan: {...}, ip: 4 | 6 | both}` or
        `{sites: N}` (configs relative to the scenario file; parsed in lab/spec.py)."""
        if value is None:
            return LabSpec(router=None)
        data = self.mapping(value, ("lab",), "'lab'")
        self.known_keys(data, LAB_KEYS, ("lab",), "'lab'")
        lab: LabSpec = self.guard(("lab",), lambda: parse_lab(data, self.path.parent))
        return lab

    def test(self, name: str, value: Any, defaults: dict[str, Any]) -> TestSpec:
        """One test under `tests:`."""
        path: KeyPath = ("tests", name)
        if not _NAME.fullmatch(name):
            raise self.error(
                path, f"test name {name!r} may use only letters, digits, '-', '_' and '.'"
            )
        data = self.mapping(value, path, f"test '{name}'")
        self.known_keys(data, TEST_KEYS, path, f"test '{name}'")
        method_key = self.method_key(data, path)
        if method_key is not None:
            return self.method_test(name, data, method_key)
        if not {"traffic", "flows", "probe", "probes"} & set(data):
            raise self.error(
                path,
                "a test needs 'traffic:' (an iperf3 flow), 'flows:' (named concurrent flows), "
                f"'probe:' (a latency probe) or one method key ({', '.join(METHOD_KEYS)})",
            )
        self.exclusive(data, path)
        traffic_defaults = {k: v for k, v in defaults.items() if k in TRAFFIC_KEYS}
        traffic = None
        if "traffic" in data:
            flow = self.mapping(data["traffic"], (*path, "traffic"), "'traffic'")
            traffic = self.guard(
                (*path, "traffic"), lambda: Traffic.from_options({**traffic_defaults, **flow})
            )
        flows = self.flows(data.get("flows"), (*path, "flows"), traffic_defaults)
        windowed = bool(flows)
        probe = self.probe(data["probe"], (*path, "probe"), windowed) if "probe" in data else None
        probes = self.named_probes(data.get("probes"), (*path, "probes"), windowed, set(flows))
        load = self.load(data.get("load"), (*path, "load"), traffic_defaults)
        duration = self.window(data, defaults, path) if flows else 1.0
        repeat_value = data.get("repeat", defaults.get("repeat", 1))
        repeat: int = self.guard(
            (*path, "repeat"), lambda: whole_number(repeat_value, 1, 100, "repeat")
        )
        settle = self.settle(data.get("settle", defaults.get("settle")), (*path, "settle"))
        expect = self.expect(data, path)
        self.check_measurable(expect, traffic, probe, (*path, "expect"), flows, probes)
        probe, probes = _told_what_is_read(probe, probes, expect)
        return TestSpec(
            name=name,
            line=self.lines.get(path, 1),
            traffic=traffic,
            probe=probe,
            load=load,
            repeat=repeat,
            settle=settle,
            expect=expect,
            compare=self.compare(data.get("compare", {}), (*path, "compare")),
            description=str(data.get("description", "")),
            flows=flows,
            probes=probes,
            duration=duration,
            site_path=self.test_path(data, path),
        )

    def expect(self, data: dict[str, Any], path: KeyPath) -> dict[str, Bound]:
        """`expect:` with a `y1541: class-N` preset expanded into its own bounds."""
        where = (*path, "expect")
        expect_data = self.mapping(data.get("expect", {}), where, "'expect'")
        if "y1541" in expect_data:
            preset = self.guard((*where, "y1541"), lambda: expand_y1541(expect_data["y1541"]))
            for name in preset:
                if name in expect_data:
                    raise self.error(
                        (*where, name), f"'{name}' is already bounded by the y1541 preset"
                    )
            expect_data = {
                **{k: v for k, v in expect_data.items() if k != "y1541"},
                **preset,
            }
        parsed: dict[str, Bound] = self.guard(where, lambda: parse_expectations(expect_data))
        return parsed

    def method_key(self, data: dict[str, Any], path: KeyPath) -> str | None:
        """The test's one method key, or None; beside flows or another method it is an error."""
        keys = [key for key in METHOD_KEYS if key in data]
        if not keys:
            return None
        if len(keys) > 1:
            raise self.error(
                (*path, keys[1]),
                f"a test runs one method; '{keys[0]}' and '{keys[1]}' belong in separate tests",
            )
        beside = [key for key in FLOW_KEYS if key in data]
        if beside:
            raise self.error(
                (*path, beside[0]),
                f"'{beside[0]}' cannot stand beside the method '{keys[0]}', which runs its own "
                f"flows; remove '{beside[0]}' or put it in a test of its own",
            )
        return keys[0]

    def method_test(self, name: str, data: dict[str, Any], key: str) -> TestSpec:
        """A test that runs a standard method (rfc2544, rfc6349, y1564)."""
        path: KeyPath = ("tests", name)
        method: MethodSpec = self.guard((*path, key), lambda: parse_method(key, data[key]))
        expect = self.expect(data, path)
        for metric in expect:
            if not measures(key, metric):
                raise self.error(
                    (*path, "expect", metric),
                    f"'{metric}' is not measured by the {key} method; it measures "
                    f"{', '.join(f + '*' if f.endswith('.') else f for f in _families(key))}",
                )
        return TestSpec(
            name=name,
            line=self.lines.get(path, 1),
            expect=expect,
            description=str(data.get("description", "")),
            method=method,
            method_key=key,
            site_path=self.test_path(data, path),
        )

    def settle(self, value: Any, path: KeyPath) -> float:
        """`settle:` — time between starting the load (or flows) and measuring."""
        if value is None:
            return DEFAULT_SETTLE
        settle: float = self.guard(path, lambda: parse(value, Kind.DURATION))
        if not 0 <= settle <= 60:
            raise self.error(path, "settle must be from 0 s to 60 s")
        return settle

    def compare(self, value: Any, path: KeyPath) -> dict[str, Threshold]:
        """`compare:` — this test's thresholds against a baseline, e.g. '20% + 1 ms'."""
        data = self.mapping(value, path, "'compare'")
        thresholds: dict[str, Threshold] = self.guard(path, lambda: parse_compare_block(data))
        return thresholds

    def probe(self, value: Any, path: KeyPath, windowed: bool = False) -> Probe:
        """`probe:` — a latency probe's options (in a flows test it sends over the window)."""
        data = self.mapping(value, path, "'probe'")
        if windowed:
            for key in PROBE_WINDOW_KEYS:
                if key in data:
                    raise self.error(
                        (*path, key),
                        f"a probe beside 'flows:' sends over the test's window; remove '{key}' "
                        "and set the test's 'duration:'",
                    )
        probe: Probe = self.guard(path, lambda: Probe.from_options(data))
        return probe

    # -- named flows and probes (issue 9) ---------------------------------------------------

    def exclusive(self, data: dict[str, Any], path: KeyPath) -> None:
        """Keys that cannot go together in one test, each pair with what to write instead."""
        pairs = (
            ("flows", "traffic", "name the measured flow under 'flows:' instead of 'traffic:'"),
            (
                "flows",
                "load",
                "give the background flows names under 'flows:' (all are judged or reported there)",
            ),
            ("probes", "probe", "name this probe under 'probes:' too"),
        )
        for key, other, instead in pairs:
            if key in data and other in data:
                raise self.error(
                    (*path, key), f"'{key}' and '{other}' cannot be combined: {instead}"
                )
        if "duration" in data and "flows" not in data:
            raise self.error(
                (*path, "duration"),
                "'duration' is the measured window of a 'flows:' test; a single flow's "
                "duration goes under 'traffic:'",
            )

    def entry_name(self, name: str, path: KeyPath, what: str, taken: set[str]) -> None:
        """A flow's or probe's name: test-name characters without '.', not a metric's word."""
        where = (*path, name)
        if not _FLOW_NAME.fullmatch(name):
            raise self.error(
                where,
                f"{what} name {name!r} may use only letters, digits, '-' and '_' "
                "('.' separates it from the metric, as in 'video.throughput')",
            )
        if name in reserved_names():
            raise self.error(
                where,
                f"{what} name '{name}' is also a metric's name, so '{name}.…' would be "
                f"ambiguous; call it e.g. '{name}-{what}'",
            )
        if name in taken:
            raise self.error(where, f"'{name}' already names a flow; names must differ")

    def named(self, value: Any, path: KeyPath, what: str) -> dict[str, Any]:
        """`flows:` or `probes:` as a mapping of name → options; a list has no names."""
        if isinstance(value, list):
            raise self.error(
                path,
                f"'{path[-1]}' is a mapping of {what} name → options, e.g. "
                f"'{path[-1]}: {{video: {{protocol: udp}}}}'; a list gives its {what}s no names",
            )
        data = self.mapping(value, path, f"'{path[-1]}'")
        if not data:
            raise self.error(path, f"'{path[-1]}:' is empty; name at least one {what}")
        return data

    def flows(self, value: Any, path: KeyPath, defaults: dict[str, Any]) -> dict[str, Traffic]:
        """`flows:` — named iperf3 flows, started together, measured over the test's window."""
        if value is None:
            return {}
        base = {k: v for k, v in defaults.items() if k not in WINDOW_KEYS}
        flows: dict[str, Traffic] = {}
        for name, options in self.named(value, path, "flow").items():
            self.entry_name(name, path, "flow", set())
            data = self.mapping(options, (*path, name), f"flow '{name}'")
            for key in WINDOW_KEYS:
                if key in data:
                    raise self.error(
                        (*path, name, key),
                        f"all flows share the test's window: set 'duration:' (and 'settle:') "
                        f"on the test, not '{key}' on flow '{name}'",
                    )
            flows[name] = self.flow((*path, name), {**base, **data})
        return flows

    def named_probes(
        self, value: Any, path: KeyPath, windowed: bool, flows: set[str]
    ) -> dict[str, Probe]:
        """`probes:` — named latency probes; their metrics read 'NAME.latency.p99'."""
        if value is None:
            return {}
        probes: dict[str, Probe] = {}
        for name, options in self.named(value, path, "probe").items():
            self.entry_name(name, path, "probe", flows)
            probes[name] = self.probe(options, (*path, name), windowed)
        return probes

    def window(self, data: dict[str, Any], defaults: dict[str, Any], path: KeyPath) -> float:
        """A flows test's measured window: its `duration:` (or the defaults'), 1 s to 1 day."""
        value = data.get("duration", defaults.get("duration", "1 s"))
        where = (*path, "duration") if "duration" in data else path
        seconds: float = self.guard(where, lambda: parse(value, Kind.DURATION))
        if not 1 <= seconds <= 86400:
            raise self.error(
                where, f"the window 'duration' must be from 1 s to 1 day, got {value!r}"
            )
        return seconds

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
        self,
        expect: dict[str, Bound],
        traffic: Traffic | None,
        probe: Probe | None,
        path: KeyPath,
        flows: dict[str, Traffic] | None = None,
        probes: dict[str, Probe] | None = None,
    ) -> None:
        """A bound on a metric this test cannot measure is an error, not a silent skip."""
        flows, probes = flows or {}, probes or {}
        for name in expect:
            if name.startswith("router."):
                continue  # read from the lab router around any test (checked in scenario())
            prefix, metric = split_name(name)
            by_probe = unmeasurable(metric, None, None, True) is None  # a probe alone measures it
            if prefix:
                reason = self.named_reason(prefix, metric, flows, probes)
            elif flows and not by_probe:
                first = next(iter(flows))
                reason = (
                    f"this test has named flows ({', '.join(flows)}); say whose "
                    f"{metric}, e.g. '{first}.{metric}'"
                )
            else:
                reason = unmeasurable(
                    name,
                    traffic.protocol if traffic else None,
                    traffic.direction if traffic else None,
                    probe is not None,
                )
                if reason and probes and probe is None:
                    reason = f"say which probe's {name}, e.g. '{next(iter(probes))}.{name}'"
            if reason:
                raise self.error((*path, name), reason)
            problem = probe.unmeasurable(name) if probe is not None else None
            if problem:
                raise self.error((*path, name), problem)

    @staticmethod
    def named_reason(
        prefix: str, metric: str, flows: dict[str, Traffic], probes: dict[str, Probe]
    ) -> str | None:
        """Why 'PREFIX.METRIC' cannot be measured here (no such flow, wrong kind), or None."""
        if prefix in flows:
            flow = flows[prefix]
            reason = unmeasurable(metric, flow.protocol, flow.direction, False)
            if reason and unmeasurable(metric, flow.protocol, flow.direction, True) is None:
                return f"'{prefix}' is an iperf3 flow; '{metric}' is measured by a probe"
            return reason and f"flow '{prefix}': {reason}"
        if prefix in probes:
            if unmeasurable(metric, None, None, True) is None:
                return probes[prefix].unmeasurable(metric)
            return f"'{prefix}' is a latency probe; '{metric}' is measured by an iperf3 flow"
        names = [*flows, *probes]
        if not names:
            return f"'{prefix}.{metric}' names a flow, but this test has no 'flows:' or 'probes:'"
        return (
            f"this test has no flow or probe named '{prefix}'{did_you_mean(prefix, names)} "
            f"(it has: {', '.join(names)})"
        )


def _families(key: str) -> tuple[str, ...]:
    from ..methods.spec import FAMILIES

    return FAMILIES[key]


def _told_what_is_read(
    probe: Probe | None, probes: dict[str, Probe], expect: dict[str, Bound]
) -> tuple[Probe | None, dict[str, Probe]]:
    """Each probe, told which of its figures a bound reads: those must not go missing silently."""
    if probe is not None:
        probe = probe.for_metrics(expect)
    named = {
        key: one.for_metrics(split_name(n)[1] for n in expect if split_name(n)[0] == key)
        for key, one in probes.items()
    }
    return probe, named


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"{type(value).__name__} {value!r}"
