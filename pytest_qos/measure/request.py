"""What one test asks the runner to measure: one request object, one type per kind of test.

A `TrafficRequest` is one measured iperf3 flow and/or latency probes, with background load
started `settle` s before them; a `FlowsRequest` is named flows started together and measured,
with its probes, over one window. Both say how often to repeat, which probes run beside the
flows, and which metrics the test's bounds will read (the router's counters are read only
when wanted).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, MeasurementError
from ..judge.metrics import reserved_names
from ..probes import Probe
from ..results import check_label
from .traffic import Traffic

DEFAULT_SETTLE = 1.0  # s between starting the load (or the flows) and measuring
# Set by the test for all its named flows (their window), never by one flow or probe.
WINDOW_KEYS = ("duration", "omit")
PROBE_WINDOW_KEYS = ("duration", "count")
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a test name without '.': it separates the metric


def check_name(name: str, what: str, taken: Collection[str] = ()) -> None:
    """A named flow's or probe's name, from YAML or Python alike; InputError keyed by it.

    Letters, digits, '-' and '_' ('.' separates it from the metric: 'video.throughput'),
    not a metric's own word (`loss.…` would be ambiguous), not one of `taken`.
    """
    if not _ENTRY_NAME.fullmatch(name):
        raise InputError(
            f"{what} name {name!r} may use only letters, digits, '-' and '_' "
            "('.' separates it from the metric, as in 'video.throughput')",
            key=name,
        )
    if name in reserved_names():
        raise InputError(
            f"{what} name '{name}' is also a metric's name, so '{name}.…' would be "
            f"ambiguous; call it e.g. '{name}-{what}'",
            key=name,
        )
    if name in taken:
        raise InputError(f"'{name}' already names a flow; names must differ", key=name)


def check_window_keys(what: str, options: Mapping[str, Any], name: str = "") -> None:
    """A flow (`name`) or a probe beside named flows sets nothing of the test's window."""
    keys = WINDOW_KEYS if what == "flow" else PROBE_WINDOW_KEYS
    for key in keys:
        if key not in options:
            continue
        where = f"{name}.{key}" if name else key
        if what == "flow":
            raise InputError(
                f"all flows share the test's window: set 'duration:' (and 'settle:') "
                f"on the test, not '{key}' on flow '{name}'",
                key=where,
            )
        raise InputError(
            f"a probe beside 'flows:' sends over the test's window; remove '{key}' "
            "and set the test's 'duration:'",
            key=where,
        )


@dataclass(frozen=True)
class Request:
    """What every request says: probes beside the flows, settle, repeats, names."""

    probe: Probe | None = None  # the test's one unnamed probe: 'latency.p99'
    probes: Mapping[str, Probe] = field(default_factory=dict)  # named: 'ef.latency.p99'
    settle: float = DEFAULT_SETTLE
    repeat: int = 1  # measured this often; each metric's median is reported, and its spread
    wanted: tuple[str, ...] = ()  # metrics the bounds read (e.g. router counters)
    label: str = ""  # names the measurements in their test: 'wire' → 'wire.throughput'

    def __post_init__(self) -> None:
        check_label(self.label)

    @property
    def named_probes(self) -> dict[str, Probe]:
        """Every probe by the name its metrics carry ('' for the unnamed one)."""
        return {**({"": self.probe} if self.probe is not None else {}), **self.probes}


@dataclass(frozen=True)
class TrafficRequest(Request):
    """One measured iperf3 flow and/or probes; `load` runs in the background from `settle` s
    before them until after them."""

    traffic: Traffic | None = None
    load: tuple[Traffic, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.traffic is None and not self.named_probes:
            raise MeasurementError("nothing to measure: give traffic, flows or a probe")


@dataclass(frozen=True)
class FlowsRequest(Request):
    """Named flows started together and measured, with the probes, over one window of
    `duration` s that begins `settle` s after their start ('video' → 'video.throughput')."""

    flows: Mapping[str, Traffic] = field(default_factory=dict)
    duration: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.flows:
            raise MeasurementError("nothing to measure: a flows request names at least one flow")


AnyRequest = TrafficRequest | FlowsRequest
