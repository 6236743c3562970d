"""What a scenario file says, as types: the file, its target or lab, its paths, its tests.

A test is one of three kinds, each its own type read by its own reader (testkinds.py): a
`TrafficTest` (one measured iperf3 flow and/or latency probes, with background load), a
`FlowsTest` (named flows over one window) and a `MethodTest` (RFC 2544, RFC 6349, Y.1564).
The first two carry the runner's request (measure.request) as it will be measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..hosts.target import RESPONDER_PORT
from ..judge.bounds import Bound
from ..judge.thresholds import Threshold
from ..lab.spec import LabSpec
from ..measure.request import FlowsRequest, TrafficRequest
from ..methods.spec import MethodSpec


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


@dataclass(frozen=True, kw_only=True)
class TestSpec:
    """What every entry under `tests:` has: its name and line, its bounds, where it runs."""

    name: str
    line: int
    expect: dict[str, Bound] = field(default_factory=dict)
    # --qos-compare thresholds of this test: {metric: Threshold}, over --qos-compare-fail's.
    compare: dict[str, Threshold] = field(default_factory=dict)
    description: str = ""
    site_path: PathSpec | None = None  # `path:` of this test

    @property
    def holds_hosts_alone(self) -> bool:
        """True when it loads the path: throughput holds both hosts alone, probes share them."""
        return True


@dataclass(frozen=True, kw_only=True)
class TrafficTest(TestSpec):
    """`traffic:` (one measured iperf3 flow) and/or `probe:`/`probes:`, with `load:`."""

    request: TrafficRequest

    @property
    def holds_hosts_alone(self) -> bool:
        """True unless it only probes (probes share a path, as perfSONAR's do)."""
        return self.request.traffic is not None or bool(self.request.load)


@dataclass(frozen=True, kw_only=True)
class FlowsTest(TestSpec):
    """`flows:` — named flows (and probes) measured over one window of `duration:`."""

    request: FlowsRequest


@dataclass(frozen=True, kw_only=True)
class MethodTest(TestSpec):
    """A standard method (`rfc2544:`, `rfc6349:`, `y1564:` or `rpm:`), which runs its own flows."""

    method: MethodSpec
    method_key: str


AnyTest = TrafficTest | FlowsTest | MethodTest


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file."""

    path: Path
    tests: tuple[AnyTest, ...]
    target: TargetSpec = TargetSpec()
    lab: LabSpec | None = None
    description: str = ""
    site_path: PathSpec | None = None  # `path:` (the file's own path is `path`)
    mesh: MeshSpec | None = None
