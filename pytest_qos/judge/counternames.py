"""The names of the lab router's counters: parsed, since they carry the router's own qdisc
handles and class ids (and, in a line of routers, the router's name).

    router.qdisc.1:.drops            summed over the router's interfaces (LAN and WAN)
    router.WAN.class.1:20.bytes      that interface's only
    router.core.WAN.class.1:20.bytes in a line of routers, router core's (named first)
    router.class.1:20.rate           bytes × 8 / the window's seconds (bit/s of frames)
    router.whole.class.1:20.bytes    over the whole test
    router.core.whole.class.1:20.bytes   a line's router core, over the whole test

Part of the metric catalogue (metrics.py gives each its entry); lab/counters.py reads them.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ..errors import InputError, did_you_mean
from ..units import Kind

SIDES = ("LAN", "WAN")
OBJECTS = ("qdisc", "class")
COUNTERS = ("bytes", "packets", "drops", "overlimits", "requeues", "backlog")
RATE = "rate"  # derived: bytes over the window, bit/s
WHOLE = "whole"  # router.whole.…: the change over the whole test, not the window
_NAME = re.compile(
    r"^router\.(?:(?!whole\.)(?P<first>[A-Za-z][A-Za-z0-9_-]*)\.)?(?:(?P<span>whole)\.)?"
    r"(?:(?P<side>[A-Za-z]+)\.)?(?P<object>[a-z]+)\.(?P<id>[0-9a-fA-F]*:[0-9a-fA-F]*)"
    r"\.(?P<counter>[a-z_]+)$"
)
KINDS = {"bytes": Kind.SIZE, "backlog": Kind.SIZE, RATE: Kind.RATE}
DEFINITIONS = {
    "bytes": "bytes the router sent through it (frames, Ethernet header included)",
    "packets": "packets sent through it (a GSO super-frame counts once)",
    "drops": "packets it dropped",
    "overlimits": "times it held a packet back over its rate",
    "requeues": "packets requeued",
    "backlog": "bytes queued in it at the end",
    RATE: "bit/s of frames it sent (bytes × 8 / seconds; Ethernet header included, so compare "
    "it with a flow's throughput.wire)",
}
SPANS = {
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
