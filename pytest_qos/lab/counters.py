"""The router's view of one test: qdisc and class counters over the measured window.

`tc -s -j qdisc show` is JSON; `tc -s class show` is text in iproute2 6.1 (it ignores -j), so
classes are parsed from text (JSON too, when a newer tc prints it). The counters are read at
the measured window's edges (measure/edges.py), so they count what the flows' figures count;
the change over the whole test (settle and tail included) is kept under `router.whole.`.
Metric names:

    router.qdisc.1:.drops            summed over the router's interfaces (LAN and WAN)
    router.WAN.class.1:20.bytes      that interface's only
    router.core.WAN.class.1:20.bytes in a line of routers, router core's (named first)
    router.class.1:20.rate           bytes × 8 / the window's seconds (bit/s of frames)
    router.whole.class.1:20.bytes    over the whole test
    router.core.whole.class.1:20.bytes   a line's router core, over the whole test
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InputError, MeasurementError, did_you_mean
from ..hosts.endpoints import Completed
from ..judge.metrics import Better, Metric
from ..results import Measurement, QosResult
from ..units import Kind

if TYPE_CHECKING:
    from ..measure.edges import Window

SIDES = ("LAN", "WAN")
OBJECTS = ("qdisc", "class")
COUNTERS = ("bytes", "packets", "drops", "overlimits", "requeues", "backlog")
RATE = "rate"  # derived: bytes over the window, bit/s
WHOLE = "whole"  # router.whole.…: the change over the whole test, not the window
TC_TIMEOUT = 5.0
_NAME = re.compile(
    r"^router\.(?:(?!whole\.)(?P<first>[A-Za-z][A-Za-z0-9_-]*)\.)?(?:(?P<span>whole)\.)?"
    r"(?:(?P<side>[A-Za-z]+)\.)?(?P<object>[a-z]+)\.(?P<id>[0-9a-fA-F]*:[0-9a-fA-F]*)"
    r"\.(?P<counter>[a-z_]+)$"
)
_KINDS = {"bytes": Kind.SIZE, "backlog": Kind.SIZE, RATE: Kind.RATE}
_DEFINITIONS = {
    "bytes": "bytes the router sent through it (frames, Ethernet header included)",
    "packets": "packets sent through it (a GSO super-frame counts once)",
    "drops": "packets it dropped",
    "overlimits": "times it held a packet back over its rate",
    "requeues": "packets requeued",
    "backlog": "bytes queued in it at the end",
    RATE: "bit/s of frames it sent (bytes × 8 / seconds; Ethernet header included, so compare "
    "it with a flow's throughput.wire)",
}
_SPANS = {
    "": "in the measured window (read at its edges)",
    WHOLE: "over the whole test (settle, a load's head start and the tail included)",
}
NAME_HELP = (
    "router.[whole.][LAN.|WAN.]qdisc.<handle>.<counter> or "
    "router.[whole.][LAN.|WAN.]class.<classid>.<counter>, counter one of "
    f"{', '.join(COUNTERS)} or {RATE} (e.g. router.class.1:20.bytes, router.class.1:20.rate, "
    "router.whole.qdisc.1:.drops; in a line of routers the router's name first: "
    "router.core.class.1:20.drops)"
)
ANY_ROUTER = None  # parse_name(routers=ANY_ROUTER): any name may be a router's (read time)


@dataclass(frozen=True)
class Counters:
    """One qdisc's or class's counters (backlog in bytes)."""

    bytes: int = 0
    packets: int = 0
    drops: int = 0
    overlimits: int = 0
    requeues: int = 0
    backlog: int = 0

    def minus(self, before: Counters) -> Counters:
        """The change since `before`; backlog is a level, so it is kept as it is now.

        A counter that went down means the object was replaced: its whole count is new.
        """
        values = {}
        for item in fields(self):
            now, then = getattr(self, item.name), getattr(before, item.name)
            values[item.name] = now if item.name == "backlog" or now < then else now - then
        return Counters(**values)

    def value(self, counter: str) -> int:
        """One counter by name."""
        return int(getattr(self, counter))


@dataclass(frozen=True)
class Entry:
    """A qdisc or class on one of the router's interfaces."""

    side: str  # LAN or WAN
    object: str  # qdisc or class
    id: str  # handle ('1:') or classid ('1:20')
    kind: str  # htb, tbf, bfifo, ...
    parent: str  # 'root' or the parent's id
    counters: Counters
    # When it was read (monotonic s); in a delta, the seconds between the two readings.
    at: float = 0.0


Snapshot = dict[tuple[str, str, str], Entry]


# -- parsing -------------------------------------------------------------------------------

_CLASS = re.compile(r"^class (?P<kind>\S+) (?P<id>\S+)(?: (?:parent (?P<parent>\S+)|root))?")
_SENT = re.compile(
    r"Sent (?P<bytes>\d+) bytes (?P<packets>\d+) pkts? \(dropped (?P<drops>\d+), "
    r"overlimits (?P<overlimits>\d+) requeues (?P<requeues>\d+)\)"
)
_BACKLOG = re.compile(r"backlog (?P<size>\d+(?:\.\d+)?)(?P<unit>[KMG]?)b (?P<packets>\d+)p")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_class_text(text: str, side: str) -> list[Entry]:
    """`tc -s class show dev X` (text): one Entry per class block."""
    entries: list[Entry] = []
    current: dict[str, Any] | None = None

    def flush() -> None:
        if current is not None:
            entries.append(
                Entry(
                    side,
                    "class",
                    current["id"],
                    current["kind"],
                    current["parent"],
                    Counters(**current["counters"]),
                )
            )

    for line in text.splitlines():
        header = _CLASS.match(line)
        if header:
            flush()
            current = {
                "id": header["id"],
                "kind": header["kind"],
                "parent": header["parent"] or "root",
                "counters": {},
            }
            continue
        if current is None:
            continue
        sent = _SENT.search(line)
        if sent:
            current["counters"].update({key: int(value) for key, value in sent.groupdict().items()})
        backlog = _BACKLOG.search(line)
        if backlog and "backlog" not in current["counters"]:
            size = float(backlog["size"]) * _SIZE_UNITS[backlog["unit"]]
            current["counters"]["backlog"] = int(size)
    flush()
    return entries


def parse_class_json(data: list[dict[str, Any]], side: str) -> list[Entry]:
    """`tc -s -j class show` from an iproute2 that prints JSON for classes."""
    entries = []
    for item in data:
        stats = item.get("stats", item)
        entries.append(
            Entry(
                side,
                "class",
                str(item.get("handle", item.get("class", ""))),
                str(item.get("class", item.get("kind", ""))),
                str(item.get("parent", "root")),
                _counters(stats),
            )
        )
    return entries


def parse_qdisc_json(data: list[dict[str, Any]], side: str) -> list[Entry]:
    """`tc -s -j qdisc show dev X`: one Entry per qdisc."""
    return [
        Entry(
            side,
            "qdisc",
            str(item.get("handle", "")),
            str(item.get("kind", "")),
            "root" if item.get("root") else str(item.get("parent", "")),
            _counters(item),
        )
        for item in data
    ]


def _counters(item: Mapping[str, Any]) -> Counters:
    return Counters(**{name: int(item.get(name, 0) or 0) for name in COUNTERS})


def parse_classes(text: str, side: str) -> list[Entry]:
    """Class output as tc printed it: JSON when it starts like JSON, else text."""
    stripped = text.strip()
    if stripped.startswith("["):
        with contextlib.suppress(ValueError):
            return parse_class_json(json.loads(stripped), side)
    return parse_class_text(text, side)


# -- names and metrics -----------------------------------------------------------------------


@dataclass(frozen=True)
class CounterName:
    """A parsed `router.` metric name."""

    side: str | None  # None: summed over both interfaces
    object: str
    id: str
    counter: str
    router: str | None = None  # in a line of routers, whose counter
    span: str = ""  # "" the measured window, "whole" the whole test


def parse_name(name: str, routers: Collection[str] | None = ()) -> CounterName:
    """Split a router metric name; InputError saying what a right one looks like.

    `routers` are a line's router names: () for a one-router lab (no name in the metric),
    ANY_ROUTER while the lab is not known yet (any name is taken for a router's).
    """
    match = _NAME.match(name)
    if not match:
        raise InputError(f"'{name}' is not a router counter; write {NAME_HELP}")
    router, side = _qualifiers(name, match["first"], match["side"], routers)
    if match["object"] not in OBJECTS:
        raise InputError(f"'{name}': '{match['object']}' is not qdisc or class; write {NAME_HELP}")
    if match["counter"] not in (*COUNTERS, RATE):
        raise InputError(
            f"'{name}': unknown counter '{match['counter']}' "
            f"(counters: {', '.join(COUNTERS)}, and {RATE})"
        )
    span = match["span"] or ""
    if span == WHOLE and match["counter"] == RATE:
        raise InputError(
            f"'{name}': a rate is over the measured window only; write "
            f"'{name.replace('router.whole.', 'router.', 1)}'"
        )
    return CounterName(
        side.upper() if side else None,
        match["object"],
        match["id"],
        match["counter"],
        router,
        span,
    )


def _qualifiers(
    name: str, first: str | None, side: str | None, routers: Collection[str] | None
) -> tuple[str | None, str | None]:
    """(router, interface) of a name's one or two qualifiers, each checked."""
    if first is not None and side is None and first.upper() in SIDES:
        first, side = None, first
    if first is not None and routers is not None and first not in routers:
        if not routers:
            raise InputError(
                f"'{name}': '{first}' is not an interface of the router; write LAN or WAN "
                "(or nothing, for the sum of both)"
            )
        raise InputError(
            f"'{name}': no router '{first}' in this lab{did_you_mean(first, routers)} "
            f"(routers: {', '.join(routers)})"
        )
    if first is None and routers:
        example = f"router.{next(iter(routers))}.{name.removeprefix('router.')}"
        raise InputError(
            f"'{name}': this lab has {len(routers)} routers ({', '.join(routers)}); say whose "
            f"counter, e.g. '{example}'"
        )
    if side is not None and side.upper() not in SIDES:
        raise InputError(
            f"'{name}': '{side}' is not an interface of the router; write LAN or WAN "
            "(or nothing, for the sum of both)"
        )
    return first, side


def router_metric(name: str) -> Metric:
    """The catalogue entry of a `router.` metric name (bytes and backlog in B, others counts)."""
    parsed = parse_name(name, ANY_ROUTER)
    owner = f"router {parsed.router}" if parsed.router else "the router"
    where = f"on {owner}'s {parsed.side}" if parsed.side else "summed over LAN and WAN"
    if parsed.router and not parsed.side:
        where = f"on router {parsed.router}, {where}"
    return Metric(
        name,
        _KINDS.get(parsed.counter, Kind.COUNT),
        Better.NEITHER,
        f"{parsed.object} {parsed.id} {where}: {_DEFINITIONS[parsed.counter]} "
        f"{_SPANS[parsed.span]}",
    )


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """Each qdisc's and class's change over the test (objects present at the end)."""
    changed = {}
    for key, entry in after.items():
        old = before.get(key)
        counters = entry.counters.minus(old.counters) if old is not None else entry.counters
        span = entry.at - old.at if old is not None and old.at and entry.at else 0.0
        changed[key] = replace(entry, counters=counters, at=max(0.0, span))
    return changed


def metrics(
    changes: Snapshot,
    wanted: Iterable[str] | None = None,
    *,
    seconds: float | None = None,
    whole: Snapshot | None = None,
    router: str | None = None,
) -> dict[str, float]:
    """`router.` metrics of a delta: every one (wanted=None) or the wanted names only.

    `router` names the router in a line of them (router.NAME.…). With `seconds` (the window's
    length) each object also has its `rate`; with `whole` (the whole test's delta) its counters
    are there as `router.[NAME.]whole.…`. A wanted name whose qdisc or class the router lacks
    raises InputError listing those that exist.
    """
    owner = f"{router}." if router else ""
    values = _values(changes, owner, seconds)
    if whole is not None:
        values.update(_values(whole, f"{owner}{WHOLE}."))
    if wanted is None:
        return values
    chosen = {}
    for name in wanted:
        if name not in values:
            parsed = parse_name(name, [router] if router else ())
            if parsed.counter == RATE and not seconds:
                raise InputError(f"{name}: no measured window was read, so no rate", key=name)
            raise InputError(_missing(parsed, whole if parsed.span else changes), key=name)
        chosen[name] = values[name]
    return chosen


def owned(name: str, router: str | None) -> bool:
    """True when `name` is a counter of `router` (None: the one router of a lab)."""
    if not name.startswith("router."):
        return False
    try:
        return parse_name(name, ANY_ROUTER).router == router
    except InputError:
        return router is None  # judged (and refused) by the one router: its message


def _values(changes: Snapshot, span: str, seconds: float | None = None) -> dict[str, float]:
    """Every counter of `changes`, per interface and summed over both, named under `span`.

    With `seconds` (a window was read) each object's rate too: its bytes over the seconds
    between its own two readings (each interface is read at its own moment), else `seconds`.
    """
    values: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        values[f"router.{span}{entry.side}.{entry.object}.{entry.id}.{name}"] = value
        summed = f"router.{span}{entry.object}.{entry.id}.{name}"
        values[summed] = values.get(summed, 0.0) + value

    for entry in changes.values():
        for counter in COUNTERS:
            add(counter, float(entry.counters.value(counter)))
        if seconds:
            add(RATE, entry.counters.bytes * 8.0 / (entry.at or seconds))
    return values


def _missing(name: CounterName, changes: Snapshot | None) -> str:
    changes = changes or {}
    sides = [name.side] if name.side else list(SIDES)
    where = " or ".join(sides)
    existing = []
    for side in SIDES:
        ids = sorted(
            {e.id for e in changes.values() if e.side == side and e.object == name.object},
            key=_id_order,
        )
        existing.append(f"{side}: {', '.join(ids) if ids else 'none'}")
    owner = f"router {name.router}" if name.router else "the router"
    return (
        f"{owner} has no {name.object} {name.id} on {where} "
        f"({name.object}es that exist — {'; '.join(existing)})"
        if name.object == "class"
        else f"{owner} has no qdisc {name.id} on {where} (qdiscs that exist — "
        f"{'; '.join(existing)})"
    )


def _id_order(identifier: str) -> tuple[int, int]:
    major, _, minor = identifier.partition(":")
    return (int(major or "0", 16), int(minor or "0", 16) if minor else -1)


def table(changes: Snapshot) -> str:
    """The delta as an aligned text table (what a failing lab test prints)."""
    headers = ("if", "object", "kind", "parent", *COUNTERS)
    rows: list[tuple[str, ...]] = [headers]
    ordered = sorted(
        changes.values(),
        key=lambda e: (SIDES.index(e.side), OBJECTS.index(e.object), _id_order(e.id)),
    )
    for entry in ordered:
        rows.append(
            (
                entry.side,
                f"{entry.object} {entry.id}",
                entry.kind,
                entry.parent,
                *(str(entry.counters.value(counter)) for counter in COUNTERS),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(headers))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if column < 4 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def rows(changes: Snapshot) -> list[dict[str, Any]]:
    """The delta as JSON-ready rows (the router measurement's details)."""
    return [
        {
            "interface": entry.side,
            "object": entry.object,
            "id": entry.id,
            "kind": entry.kind,
            "parent": entry.parent,
            **{counter: entry.counters.value(counter) for counter in COUNTERS},
        }
        for entry in changes.values()
    ]


# -- reading the router --------------------------------------------------------------------


class Runs(Protocol):
    """What RouterView needs of an endpoint: run a command to completion."""

    def run(self, argv: list[str], timeout: float) -> Completed: ...  # pragma: no cover


class RouterView:
    """Reads the router's counters: `snapshot()` before and after a test, `measurement()`."""

    def __init__(
        self,
        router: Runs,
        interfaces: Mapping[str, str],
        wan: str | None = None,
        *,
        name: str | None = None,
        addresses: Sequence[str] = (),
    ) -> None:
        self.router = router
        self.interfaces = dict(interfaces)  # side (LAN/WAN) -> device name
        self.wan = wan  # how the lab emulates its WAN (backend and settings), if it does
        self.name = name  # in a line of routers, this one's (its metrics are router.NAME.…)
        self.addresses = tuple(addresses)  # where it answers from (to name it on a path)

    def _tc(self, argv: list[str]) -> str:
        completed = self.router.run(argv, TC_TIMEOUT)
        if completed.returncode != 0:
            raise MeasurementError(
                f"reading the router's counters failed: {completed.stderr.strip()}", argv
            )
        return completed.stdout

    def snapshot(self) -> Snapshot:
        """Every qdisc and class on the router's interfaces, with its counters now."""
        taken: Snapshot = {}
        for side, device in self.interfaces.items():
            read, text = self._timed(["tc", "-s", "-j", "qdisc", "show", "dev", device])
            entries = [
                replace(e, at=read) for e in parse_qdisc_json(json.loads(text or "[]"), side)
            ]
            read, text = self._timed(["tc", "-s", "class", "show", "dev", device])
            entries += [replace(e, at=read) for e in parse_classes(text, side)]
            for entry in entries:
                taken[(entry.side, entry.object, entry.id)] = entry
        return taken

    def _timed(self, argv: list[str]) -> tuple[float, str]:
        """(when the counters were read: the command's midpoint, monotonic s; tc's output)."""
        started = time.monotonic()
        text = self._tc(argv)
        return (started + time.monotonic()) / 2, text

    def delta(self, before: Snapshot, after: Snapshot) -> dict[str, float]:
        """Every router metric's change between two snapshots."""
        return metrics(delta(before, after), router=self.name)

    def measurement(
        self,
        before: Snapshot,
        after: Snapshot,
        wanted: Collection[str] = (),
        window: Window | None = None,
    ) -> Measurement:
        """The test's router Measurement: the wanted metrics over the measured window (the
        whole test when no window was read), and both deltas as details."""
        whole = delta(before, after)
        changes = delta(window.opened, window.closed) if window is not None else whole
        seconds = window.seconds if window is not None else None
        named = [name for name in wanted if owned(name, self.name)]
        return Measurement(
            tool="router",
            metrics=metrics(changes, named, seconds=seconds, whole=whole, router=self.name),
            details={
                "router_deltas": rows(changes),
                "router_table": table(changes),
                **({"router_window": round(seconds, 3)} if seconds is not None else {}),
                "router_whole_deltas": rows(whole),
                **({"wan": self.wan} if self.wan else {}),
                **({"router": self.name} if self.name else {}),
                **({"addresses": list(self.addresses)} if self.addresses else {}),
            },
        )

    def filters(self) -> str:
        """`tc filter show` of each interface: what classifies traffic into the classes."""
        shown = []
        for side, device in self.interfaces.items():
            completed = self.router.run(["tc", "filter", "show", "dev", device], TC_TIMEOUT)
            text = completed.stdout.rstrip() or "(no filters)"
            shown.append(f"{side} ({device}):\n{text}")
        return "\n".join(shown)


def failure_context(
    view: RouterView, result: QosResult | None, qdiscs: Callable[[], str], wan: bool = True
) -> str:
    """A failing lab test's router view: the counters' change during it (from its router
    measurement; the qdiscs as they are now without one), the filters, the WAN emulation
    (`wan`: once per lab, after its last router)."""
    table, heading = "", ""
    for measurement in result.measurements if result is not None else []:
        if measurement.tool == "router" and measurement.details.get("router") == view.name:
            table = str(measurement.details.get("router_table", ""))
            heading = table_heading(measurement.details)
    router = f"router {view.name}" if view.name else "router"
    if table:
        parts = [f"{heading.replace('router', router, 1)}:\n{table}"]
    else:
        parts = [f"{router} qdiscs after the test (tc -s qdisc show):\n{qdiscs()}"]
    parts.append(f"{router} filters (tc filter show):\n{view.filters()}")
    if view.wan and wan:
        parts.append(f"WAN hop: {view.wan}")
    return "\n\n".join(parts)


def table_heading(details: Mapping[str, Any]) -> str:
    """What the router table of a measurement counts: the window (its length) or the test."""
    seconds = details.get("router_window")
    if seconds is None:
        return "router counters during this test (change; backlog at the end)"
    return (
        f"router counters over the measured window ({float(seconds):.2f} s, read at its edges; "
        "change; backlog at its end)"
    )
