"""Readers of the entries under `tests:`: one small reader per kind of test.

`read_test` tells the kind by its keys: a method key (rfc2544, rfc6349, y1564) makes a
`MethodTest`, `flows:` a `FlowsTest`, `traffic:`/`probe:`/`probes:` a `TrafficTest`. What every
kind has (name, `expect:`, `compare:`, `path:`) is read by `TestReader`; what the two measured
kinds share (probes, repeat, settle, which bounds they can measure) by `MeasuredReader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from ..errors import did_you_mean
from ..judge.bounds import Bound, parse_expectations
from ..judge.metrics import split_name, unmeasurable
from ..judge.thresholds import Threshold, parse_compare_block
from ..measure.request import (
    DEFAULT_SETTLE,
    WINDOW_KEYS,
    FlowsRequest,
    TrafficRequest,
    check_name,
    check_window_keys,
)
from ..measure.traffic import TRAFFIC_KEYS, Traffic
from ..methods.spec import FAMILIES, METHOD_KEYS, measures, parse_method
from ..methods.y1541 import expand as expand_y1541
from ..probes import Probe
from ..units import Kind, parse, whole_number
from ..yamldoc import KeyPath, LocatedYaml
from .section import Section
from .sections import PlacesReader
from .spec import AnyTest, FlowsTest, MethodTest, TrafficTest

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
MEASURED_KEYS = ("traffic", "flows", "probe", "probes")  # a test without a method needs one
# None of these may stand beside a method key: a method runs its own flows.
FLOW_KEYS = ("traffic", "flows", "probe", "probes", "load", "duration", "repeat", "settle")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# Why a test cannot measure a metric (what to add or write instead), or None when it can.
Unmeasurable = Callable[..., str | None]
# Keys that cannot go together in one test, each pair with what to write instead.
_EXCLUSIVE = (
    ("flows", "traffic", "name the measured flow under 'flows:' instead of 'traffic:'"),
    (
        "flows",
        "load",
        "give the background flows names under 'flows:' (all are judged or reported there)",
    ),
    ("probes", "probe", "name this probe under 'probes:' too"),
)


def read_test(document: LocatedYaml, name: str, value: Any, defaults: dict[str, Any]) -> AnyTest:
    """One entry under `tests:`, read by the reader of its kind."""
    reader = TestReader(document)
    path: KeyPath = ("tests", name)
    data = reader.entry(name, value)
    key = reader.method_key(data, path)
    if key is not None:
        return MethodTestReader(document).read(name, data, key)
    reader.measured_keys(data, path)
    if "flows" in data:
        return FlowsTestReader(document).read(name, data, defaults)
    return TrafficTestReader(document).read(name, data, defaults)


class TestReader(Section):
    """What every kind of test has: its name, `expect:`, `compare:`, `description:`, `path:`."""

    def entry(self, name: str, value: Any) -> dict[str, Any]:
        """The test's mapping, its name and keys checked."""
        path: KeyPath = ("tests", name)
        if not _NAME.fullmatch(name):
            raise self.error(
                path, f"test name {name!r} may use only letters, digits, '-', '_' and '.'"
            )
        data = self.mapping(value, path, f"test '{name}'")
        self.known_keys(data, TEST_KEYS, path, f"test '{name}'")
        return data

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

    def measured_keys(self, data: dict[str, Any], path: KeyPath) -> None:
        """Something to measure, and no two keys that cannot go together."""
        if not set(MEASURED_KEYS) & set(data):
            raise self.error(
                path,
                "a test needs 'traffic:' (an iperf3 flow), 'flows:' (named concurrent flows), "
                f"'probe:' (a latency probe) or one method key ({', '.join(METHOD_KEYS)})",
            )
        for key, other, instead in _EXCLUSIVE:
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
        return self.guard(where, lambda: parse_expectations(expect_data))

    def common(self, name: str, data: dict[str, Any], expect: dict[str, Bound]) -> dict[str, Any]:
        """The fields every kind of test has, read after its own keys and its bounds."""
        path: KeyPath = ("tests", name)
        return {
            "name": name,
            "line": self.line(path),
            "expect": expect,
            "compare": self.compare(data.get("compare", {}), (*path, "compare")),
            "description": str(data.get("description", "")),
            "site_path": (
                PlacesReader(self.document).path(data["path"], (*path, "path"))
                if "path" in data
                else None
            ),
        }

    def compare(self, value: Any, path: KeyPath) -> dict[str, Threshold]:
        """`compare:` — this test's thresholds against a baseline, e.g. '20% + 1 ms'."""
        data = self.mapping(value, path, "'compare'")
        return self.guard(path, lambda: parse_compare_block(data))


class MethodTestReader(TestReader):
    """A test that runs a standard method (rfc2544, rfc6349, y1564)."""

    def read(self, name: str, data: dict[str, Any], key: str) -> MethodTest:
        """The method's options, and bounds only on what the method measures."""
        path: KeyPath = ("tests", name)
        method = self.guard((*path, key), lambda: parse_method(key, data[key]))
        expect = self.expect(data, path)
        for metric in expect:
            if not measures(key, metric):
                families = ", ".join(f + "*" if f.endswith(".") else f for f in FAMILIES[key])
                raise self.error(
                    (*path, "expect", metric),
                    f"'{metric}' is not measured by the {key} method; it measures {families}",
                )
        return MethodTest(**self.common(name, data, expect), method=method, method_key=key)


class MeasuredReader(TestReader):
    """What the measured kinds share: probes, repeat and settle, bounds they can measure."""

    def probe(self, value: Any, path: KeyPath, windowed: bool = False) -> Probe:
        """`probe:` — a latency probe's options (in a flows test it sends over the window)."""
        data = self.mapping(value, path, "'probe'")
        if windowed:
            self.guard(path, partial(check_window_keys, "probe", data))
        return self.guard(path, lambda: Probe.from_options(data))

    def probes(
        self, data: dict[str, Any], path: KeyPath, flows: Iterable[str] = ()
    ) -> tuple[Probe | None, dict[str, Probe]]:
        """The test's `probe:` and its named `probes:` ('NAME.latency.p99')."""
        windowed = "flows" in data
        probe = self.probe(data["probe"], (*path, "probe"), windowed) if "probe" in data else None
        if "probes" not in data:
            return probe, {}
        named: dict[str, Probe] = {}
        for name, options in self.named(data["probes"], (*path, "probes"), "probe").items():
            self.guard((*path, "probes"), partial(check_name, name, "probe", set(flows)))
            named[name] = self.probe(options, (*path, "probes", name), windowed)
        return probe, named

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

    def flow(self, path: KeyPath, options: dict[str, Any]) -> Traffic:
        """A validated iperf3 flow."""
        return self.guard(path, lambda: Traffic.from_options(options))

    def measured(
        self,
        name: str,
        data: dict[str, Any],
        defaults: dict[str, Any],
        probing: tuple[Probe | None, dict[str, Probe]],
        unmeasurable: Unmeasurable,
    ) -> tuple[dict[str, Bound], dict[str, Any]]:
        """The bounds (each one the test can measure: `unmeasurable` says why not) and the
        request's common fields: probes told what the bounds read, settle, repeat, wanted."""
        path: KeyPath = ("tests", name)
        probe, probes = probing
        repeat, settle = self.repeat_settle(data, defaults, path)
        expect = self.expect(data, path)
        for metric in expect:
            reason = unmeasurable(metric, probe=probe, probes=probes)
            if reason:
                raise self.error((*path, "expect", metric), reason)
        probe, probes = told_what_is_read(probe, probes, expect)
        fields = {"probe": probe, "probes": probes, "settle": settle, "repeat": repeat}
        return expect, {**fields, "wanted": tuple(expect)}

    def repeat_settle(
        self, data: dict[str, Any], defaults: dict[str, Any], path: KeyPath
    ) -> tuple[int, float]:
        """`repeat:` (1 to 100 runs, medians judged) and `settle:` (0 s to 60 s)."""
        repeat_value = data.get("repeat", defaults.get("repeat", 1))
        repeat = self.guard((*path, "repeat"), lambda: whole_number(repeat_value, 1, 100, "repeat"))
        value = data.get("settle", defaults.get("settle"))
        if value is None:
            return repeat, DEFAULT_SETTLE
        settle = self.guard((*path, "settle"), lambda: parse(value, Kind.DURATION))
        if not 0 <= settle <= 60:
            raise self.error((*path, "settle"), "settle must be from 0 s to 60 s")
        return repeat, settle


class TrafficTestReader(MeasuredReader):
    """`traffic:` and/or `probe:`/`probes:`, with background `load:`."""

    def read(self, name: str, data: dict[str, Any], defaults: dict[str, Any]) -> TrafficTest:
        """The test, its bounds checked against what it measures."""
        path: KeyPath = ("tests", name)
        traffic_defaults = {k: v for k, v in defaults.items() if k in TRAFFIC_KEYS}
        traffic = None
        if "traffic" in data:
            flow = self.mapping(data["traffic"], (*path, "traffic"), "'traffic'")
            traffic = self.flow((*path, "traffic"), {**traffic_defaults, **flow})
        probe, probes = self.probes(data, path)
        load = self.load(data.get("load"), (*path, "load"), traffic_defaults)
        why = partial(traffic_reason, traffic=traffic)
        expect, fields = self.measured(name, data, defaults, (probe, probes), why)
        request = TrafficRequest(**fields, traffic=traffic, load=load)
        return TrafficTest(**self.common(name, data, expect), request=request)

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


class FlowsTestReader(MeasuredReader):
    """`flows:` — named iperf3 flows (and probes) measured over the test's window."""

    def read(self, name: str, data: dict[str, Any], defaults: dict[str, Any]) -> FlowsTest:
        """The test, its bounds checked against its flows and probes."""
        path: KeyPath = ("tests", name)
        traffic_defaults = {k: v for k, v in defaults.items() if k in TRAFFIC_KEYS}
        flows = self.flows(data["flows"], (*path, "flows"), traffic_defaults)
        probe, probes = self.probes(data, path, flows)
        duration = self.window(data, defaults, path)
        why = partial(flows_reason, flows=flows)
        expect, fields = self.measured(name, data, defaults, (probe, probes), why)
        request = FlowsRequest(**fields, flows=flows, duration=duration)
        return FlowsTest(**self.common(name, data, expect), request=request)

    def flows(self, value: Any, path: KeyPath, defaults: dict[str, Any]) -> dict[str, Traffic]:
        """Named iperf3 flows, started together (the defaults apply, but not their window)."""
        base = {k: v for k, v in defaults.items() if k not in WINDOW_KEYS}
        flows: dict[str, Traffic] = {}
        for name, options in self.named(value, path, "flow").items():
            self.guard(path, partial(check_name, name, "flow"))
            data = self.mapping(options, (*path, name), f"flow '{name}'")
            self.guard(path, partial(check_window_keys, "flow", data, name))
            flows[name] = self.flow((*path, name), {**base, **data})
        return flows

    def window(self, data: dict[str, Any], defaults: dict[str, Any], path: KeyPath) -> float:
        """The measured window: the test's `duration:` (or the defaults'), 1 s to 1 day."""
        value = data.get("duration", defaults.get("duration", "1 s"))
        where = (*path, "duration") if "duration" in data else path
        seconds = self.guard(where, lambda: parse(value, Kind.DURATION))
        if not 1 <= seconds <= 86400:
            raise self.error(
                where, f"the window 'duration' must be from 1 s to 1 day, got {value!r}"
            )
        return seconds


# -- which bounds a test can measure ------------------------------------------------------


def traffic_reason(
    name: str, *, traffic: Traffic | None, probe: Probe | None, probes: dict[str, Probe]
) -> str | None:
    """Why a traffic test cannot measure `name` (say what to add), or None when it can."""
    if name.startswith("router."):
        return None  # read from the lab router around any test (checked for the whole file)
    prefix, metric = split_name(name)
    if prefix:
        return named_reason(prefix, metric, {}, probes)
    reason = unmeasurable(
        name,
        traffic.protocol if traffic else None,
        traffic.direction if traffic else None,
        probe is not None,
    )
    if reason and probes and probe is None:
        reason = f"say which probe's {name}, e.g. '{next(iter(probes))}.{name}'"
    return reason or _probe_reason(probe, name)


def flows_reason(
    name: str, *, flows: dict[str, Traffic], probe: Probe | None, probes: dict[str, Probe]
) -> str | None:
    """Why a flows test cannot measure `name` (say whose metric), or None when it can."""
    if name.startswith("router."):
        return None
    prefix, metric = split_name(name)
    if prefix:
        return named_reason(prefix, metric, flows, probes)
    if unmeasurable(metric, None, None, True) is not None:  # not a probe's: a flow's metric
        first = next(iter(flows))
        return (
            f"this test has named flows ({', '.join(flows)}); say whose "
            f"{metric}, e.g. '{first}.{metric}'"
        )
    reason = unmeasurable(name, None, None, probe is not None)
    if reason and probes and probe is None:
        reason = f"say which probe's {name}, e.g. '{next(iter(probes))}.{name}'"
    return reason or _probe_reason(probe, name)


def _probe_reason(probe: Probe | None, name: str) -> str | None:
    return probe.unmeasurable(name) if probe is not None else None


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


def told_what_is_read(
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
