"""The router's view of one test: qdisc and class counters before and after, as deltas.

`tc -s -j qdisc show` is JSON; `tc -s class show` is text in iproute2 6.1 (it ignores -j), so
classes are parsed from text (JSON too, when a newer tc prints it). The metric names
(`router.qdisc.1:.drops`, `router.WAN.class.1:20.bytes`) belong to the catalogue (judge.metrics).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from ..errors import InputError, MeasurementError
from ..hosts.endpoints import Completed
from ..judge.metrics import COUNTERS, OBJECTS, SIDES, CounterName, parse_name
from ..results import Measurement, QosResult

TC_TIMEOUT = 5.0


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


# -- metrics ------------------------------------------------------------------------------


def delta(before: Snapshot, after: Snapshot) -> Snapshot:
    """Each qdisc's and class's change over the test (objects present at the end)."""
    changed = {}
    for key, entry in after.items():
        old = before.get(key)
        counters = entry.counters.minus(old.counters) if old is not None else entry.counters
        changed[key] = Entry(entry.side, entry.object, entry.id, entry.kind, entry.parent, counters)
    return changed


def metrics(changes: Snapshot, wanted: Iterable[str] | None = None) -> dict[str, float]:
    """`router.` metrics of a delta: every one (wanted=None) or the wanted names only.

    A wanted name whose qdisc or class the router lacks raises InputError listing those
    that exist.
    """
    values: dict[str, float] = {}
    for entry in changes.values():
        for counter in COUNTERS:
            value = float(entry.counters.value(counter))
            values[f"router.{entry.side}.{entry.object}.{entry.id}.{counter}"] = value
            summed = f"router.{entry.object}.{entry.id}.{counter}"
            values[summed] = values.get(summed, 0.0) + value
    if wanted is None:
        return values
    chosen = {}
    for name in wanted:
        if name not in values:
            raise InputError(_missing(parse_name(name), changes), key=name)
        chosen[name] = values[name]
    return chosen


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
    return (
        f"the router has no {name.object} {name.id} on {where} "
        f"({name.object}es that exist — {'; '.join(existing)})"
        if name.object == "class"
        else f"the router has no qdisc {name.id} on {where} (qdiscs that exist — "
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

    def __init__(self, router: Runs, interfaces: Mapping[str, str], wan: str | None = None) -> None:
        self.router = router
        self.interfaces = dict(interfaces)  # side (LAN/WAN) -> device name
        self.wan = wan  # how the lab emulates its WAN (backend and settings), if it does

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
        return metrics(delta(before, after))

    def measurement(
        self, before: Snapshot, after: Snapshot, wanted: Collection[str] = ()
    ) -> Measurement:
        """The test's router Measurement: the wanted metrics, and the whole delta as details."""
        changes = delta(before, after)
        return Measurement(
            tool="router",
            metrics=metrics(changes, [name for name in wanted if name.startswith("router.")]),
            details={
                "router_deltas": rows(changes),
                "router_table": table(changes),
                **({"wan": self.wan} if self.wan else {}),
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


def failure_context(view: RouterView, result: QosResult | None, qdiscs: Callable[[], str]) -> str:
    """A failing lab test's router view: the counters' change during it (from its router
    measurement; the qdiscs as they are now without one), the filters, the WAN emulation."""
    table = ""
    for measurement in result.measurements if result is not None else []:
        if measurement.tool == "router":
            table = str(measurement.details.get("router_table", ""))
    if table:
        parts = [f"router counters during this test (change; backlog at the end):\n{table}"]
    else:
        parts = [f"router qdiscs after the test (tc -s qdisc show):\n{qdiscs()}"]
    parts.append(f"router filters (tc filter show):\n{view.filters()}")
    if view.wan:
        parts.append(f"WAN hop: {view.wan}")
    return "\n\n".join(parts)
