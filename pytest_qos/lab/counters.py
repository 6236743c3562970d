"""The router's view of one test: qdisc and class counters before and after, as deltas.

`tc -s -j qdisc show` is JSON; `tc -s class show` is text in iproute2 6.1 (it ignores -j), so
classes are parsed from text (JSON too, when a newer tc prints it). Metric names:

    router.qdisc.1:.drops            summed over the router's interfaces (LAN and WAN)
    router.WAN.class.1:20.bytes      that interface's only
    router.core.WAN.class.1:20.bytes in a line of routers, router core's (named first)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from ..errors import InputError, MeasurementError, did_you_mean
from ..hosts.endpoints import Completed
from ..judge.metrics import Better, Metric
from ..results import Measurement, QosResult
from ..units import Kind

SIDES = ("LAN", "WAN")
OBJECTS = ("qdisc", "class")
COUNTERS = ("bytes", "packets", "drops", "overlimits", "requeues", "backlog")
TC_TIMEOUT = 5.0
_NAME = re.compile(
    r"^router\.(?:(?P<first>[A-Za-z][A-Za-z0-9_-]*)\.)?(?:(?P<side>[A-Za-z]+)\.)?"
    r"(?P<object>[a-z]+)\.(?P<id>[0-9a-fA-F]*:[0-9a-fA-F]*)\.(?P<counter>[a-z_]+)$"
)
_KINDS = {"bytes": Kind.SIZE, "backlog": Kind.SIZE}
_DEFINITIONS = {
    "bytes": "bytes the router sent through it during the test (frames, Ethernet header included)",
    "packets": "packets sent through it during the test (a GSO super-frame counts once)",
    "drops": "packets it dropped during the test",
    "overlimits": "times it held a packet back over its rate during the test",
    "requeues": "packets requeued during the test",
    "backlog": "bytes queued in it when the test ended",
}
NAME_HELP = (
    "router.[LAN.|WAN.]qdisc.<handle>.<counter> or router.[LAN.|WAN.]class.<classid>.<counter>, "
    f"counter one of {', '.join(COUNTERS)} (e.g. router.class.1:20.bytes, router.qdisc.1:.drops;"
    " in a line of routers the router's name first: router.core.class.1:20.drops)"
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
    if match["counter"] not in COUNTERS:
        raise InputError(
            f"'{name}': unknown counter '{match['counter']}' (counters: {', '.join(COUNTERS)})"
        )
    return CounterName(
        side.upper() if side else None, match["object"], match["id"], match["counter"], router
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
        f"{parsed.object} {parsed.id} {where}: {_DEFINITIONS[parsed.counter]}",
    )


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """Each qdisc's and class's change over the test (objects present at the end)."""
    changed = {}
    for key, entry in after.items():
        old = before.get(key)
        counters = entry.counters.minus(old.counters) if old is not None else entry.counters
        changed[key] = Entry(entry.side, entry.object, entry.id, entry.kind, entry.parent, counters)
    return changed


def metrics(
    changes: Snapshot, wanted: Iterable[str] | None = None, router: str | None = None
) -> dict[str, float]:
    """`router.` metrics of a delta: every one (wanted=None) or the wanted names only.

    `router` names the router in a line of them (router.NAME.…). A wanted name whose qdisc
    or class the router lacks raises InputError listing those that exist.
    """
    base = f"router.{router}." if router else "router."
    values: dict[str, float] = {}
    for entry in changes.values():
        for counter in COUNTERS:
            value = float(entry.counters.value(counter))
            values[f"{base}{entry.side}.{entry.object}.{entry.id}.{counter}"] = value
            summed = f"{base}{entry.object}.{entry.id}.{counter}"
            values[summed] = values.get(summed, 0.0) + value
    if wanted is None:
        return values
    chosen = {}
    for name in wanted:
        if name not in values:
            parsed = parse_name(name, [router] if router else ())
            raise InputError(_missing(parsed, changes), key=name)
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


def _missing(name: CounterName, changes: Snapshot) -> str:
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
            text = self._tc(["tc", "-s", "-j", "qdisc", "show", "dev", device])
            entries = parse_qdisc_json(json.loads(text or "[]"), side)
            entries += parse_classes(self._tc(["tc", "-s", "class", "show", "dev", device]), side)
            for entry in entries:
                taken[(entry.side, entry.object, entry.id)] = entry
        return taken

    def delta(self, before: Snapshot, after: Snapshot) -> dict[str, float]:
        """Every router metric's change between two snapshots."""
        return metrics(delta(before, after), router=self.name)

    def measurement(
        self, before: Snapshot, after: Snapshot, wanted: Collection[str] = ()
    ) -> Measurement:
        """The test's router Measurement: the wanted metrics, and the whole delta as details."""
        changes = delta(before, after)
        return Measurement(
            tool="router",
            metrics=metrics(
                changes, [name for name in wanted if owned(name, self.name)], self.name
            ),
            details={
                "router_deltas": rows(changes),
                "router_table": table(changes),
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
    table = ""
    for measurement in result.measurements if result is not None else []:
        if measurement.tool == "router" and measurement.details.get("router") == view.name:
            table = str(measurement.details.get("router_table", ""))
    router = f"router {view.name}" if view.name else "router"
    if table:
        parts = [f"{router} counters during this test (change; backlog at the end):\n{table}"]
    else:
        parts = [f"{router} qdiscs after the test (tc -s qdisc show):\n{qdiscs()}"]
    parts.append(f"{router} filters (tc filter show):\n{view.filters()}")
    if view.wan and wan:
        parts.append(f"WAN hop: {view.wan}")
    return "\n\n".join(parts)
