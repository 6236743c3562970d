"""The evidence a diagnosis reads, taken from measurements (so from JSON too): per-hop paths,
each router's counters during the test, the udp probe's one-way split, the far end's DSCP."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..results import Measurement, QosResult

ROUTER = "router"  # the name of a one-router lab's router (its metrics carry none)


@dataclass(frozen=True)
class Hop:
    """One hop of a probed path."""

    hop: int
    address: str | None
    name: str | None  # the lab's name for the address (a router, 'server'), if known
    sent: int
    received: int
    rtt_p50: float | None
    rtt_min: float | None
    dscp: int | None

    @property
    def loss(self) -> float | None:
        """Percent of this hop's probes it did not answer."""
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else None

    def label(self) -> str:
        """'hop 3 (far, 198.18.3.2)', 'hop 3 (198.18.3.2)' or 'hop 3 (no answer)'."""
        parts = [part for part in (self.name, self.address) if part]
        return f"hop {self.hop} ({', '.join(parts) if parts else 'no answer'})"


@dataclass(frozen=True)
class Path:
    """A hops probe's path: hop by hop, the destination's hop, how DSCP was read."""

    hops: tuple[Hop, ...]
    destination: int | None
    dscp_sent: int | None
    dscp_unavailable: str | None
    host: str

    @classmethod
    def of(cls, measurement: Measurement) -> Path:
        """From a `probe:hops` measurement's details."""
        details = measurement.details
        hops = tuple(
            Hop(
                int(row["hop"]),
                row.get("address"),
                row.get("name"),
                int(row.get("sent", 0)),
                int(row.get("received", 0)),
                row.get("rtt_p50"),
                row.get("rtt_min"),
                row.get("dscp"),
            )
            for row in details.get("path", [])
        )
        return cls(
            hops,
            details.get("destination_hop"),
            details.get("dscp"),
            details.get("dscp_unavailable"),
            str(details.get("host", "")),
        )

    def at(self, number: int) -> Hop | None:
        """Hop `number`, if the path has it."""
        return next((hop for hop in self.hops if hop.hop == number), None)


@dataclass(frozen=True)
class RouterCounters:
    """One router's qdisc and class counters during the test (the change; backlog at the end)."""

    name: str
    addresses: tuple[str, ...]
    rows: tuple[Mapping[str, Any], ...]

    def queued(self, side: str | None = None) -> list[Mapping[str, Any]]:
        """Its qdiscs and classes that held packets back (overlimits), still held a queue at
        the end (backlog) or dropped during the test: the innermost ones, most dropped first.

        A qdisc whose classes queued, and a class whose child classes queued, are left out:
        they only count what passed through their children.
        """
        found = [
            row
            for row in self.rows
            if (side is None or row["interface"] == side)
            and (
                int(row.get("backlog", 0)) >= QUEUE_FLOOR
                or int(row.get("drops", 0)) > 0
                or int(row.get("overlimits", 0)) > 0
            )
        ]
        inner = [row for row in found if not _outer(row, found)]
        return sorted(
            inner, key=lambda r: (-int(r["drops"]), -int(r["backlog"]), -int(r["overlimits"]))
        )


def _outer(row: Mapping[str, Any], found: list[Mapping[str, Any]]) -> bool:
    """True when a class of `row` (a qdisc) or a child class of `row` (a class) is in `found`."""
    classes = [other for other in found if other["object"] == "class" and other is not row]
    same_side = [other for other in classes if other["interface"] == row["interface"]]
    if row["object"] == "qdisc":
        major = str(row["id"]).split(":")[0]
        return any(str(other["id"]).split(":")[0] == major for other in same_side)
    return any(other["parent"] == row["id"] for other in same_side)


QUEUE_FLOOR = 1514  # bytes: a full frame waiting at the end of the test is a queue


@dataclass
class Evidence:
    """Everything a test's diagnosis may state something about."""

    failed: list[str] = field(default_factory=list)  # the metrics whose bounds missed
    idle: Path | None = None  # probed with nothing else running
    loaded: Path | None = None  # probed under the test's own load
    routers: list[RouterCounters] = field(default_factory=list)
    one_way: dict[str, float] = field(default_factory=dict)  # latency.up.* / down.* metrics
    one_way_unavailable: str = ""
    far_dscp: tuple[int, int] | None = None  # (sent, received at the far end) from udp/stamp
    not_measured: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def path(self) -> Path | None:
        """The path under load when it was probed so, else the idle one."""
        return self.loaded or self.idle

    def router_of(self, hop: Hop | None) -> RouterCounters | None:
        """The router that answered as `hop` (by its name, else by its addresses)."""
        if hop is None:
            return None
        for router in self.routers:
            if hop.name == router.name or (hop.address and hop.address in router.addresses):
                return router
        return None


def router_counters(measurements: Iterable[Measurement]) -> list[RouterCounters]:
    """Each router's counters from the `router` measurements, in line order."""
    return [
        RouterCounters(
            str(m.details.get("router") or ROUTER),
            tuple(m.details.get("addresses", ())),
            tuple(m.details.get("router_deltas", ())),
        )
        for m in measurements
        if m.tool == "router"
    ]


def gather(result: QosResult) -> Evidence:
    """What the test's own measurements say: its router counters, one-way split, far DSCP,
    and its own hops probe's path (as the path under the test's conditions)."""
    evidence = Evidence(failed=[check.metric for check in result.checks if not check.passed])
    evidence.routers = router_counters(result.measurements)
    for measurement in result.measurements:
        if measurement.tool == "probe:hops":
            evidence.loaded = Path.of(measurement)
        elif measurement.tool in ("probe:udp", "probe:stamp"):
            _one_way(evidence, measurement)
    return evidence


def _one_way(evidence: Evidence, measurement: Measurement) -> None:
    metrics, details = measurement.metrics, measurement.details
    for name, value in metrics.items():  # 'latency.up.p99', or a named probe's 'ef.latency…'
        for way in ("latency.up.", "latency.down."):
            if way in name:
                evidence.one_way[name[name.index(way) :]] = value
    if not evidence.one_way:
        evidence.one_way_unavailable = str(details.get("one_way", "not reported"))
    received = _named(metrics, "dscp.received")
    if received is not None and details.get("dscp") is not None:
        evidence.far_dscp = (int(details["dscp"]), int(received))


def _named(metrics: Mapping[str, float], name: str) -> float | None:
    """`name` or a named probe's 'NAME.name'."""
    if name in metrics:
        return metrics[name]
    return next((value for key, value in metrics.items() if key.endswith(f".{name}")), None)
