"""The router lab's address plan: client – r1 – … – rN – server in a line, in 198.18.0.0/15.

Link k (1 … N+1) joins the k-th and (k+1)-th node of the line and is 198.18.k.0/24 and
2001:2:0:k::/64 (benchmarking ranges: nothing the lab sends can reach another machine). On each
link the router at its client end takes .1 (::1), the other end .2 (::2); on the client's link
the router is that end. So one router is 198.18.1.1 | 198.18.2.1 between the client 198.18.1.2
and the server 198.18.2.2, as before chains existed; three routers put the server at 198.18.4.2.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ROUTERS = 16  # links 198.18.1-17.0/24; far below the 64 hops of a default TTL
PREFIX4 = 24
PREFIX6 = 64


def _v4(link: int, host: int) -> str:
    return f"198.18.{link}.{host}"


def _v6(link: int, host: int) -> str:
    return f"2001:2:0:{link:x}::{host}"


@dataclass(frozen=True)
class LabAddresses:
    """The path's ends: the client, the first router's LAN, the last router's WAN, the server."""

    client: str = "198.18.1.2"
    router_lan: str = "198.18.1.1"
    router_wan: str = "198.18.2.1"
    server: str = "198.18.2.2"
    client6: str = "2001:2:0:1::2"
    router_lan6: str = "2001:2:0:1::1"
    router_wan6: str = "2001:2:0:2::1"
    server6: str = "2001:2:0:2::2"
    prefix4: int = PREFIX4
    prefix6: int = PREFIX6


@dataclass(frozen=True)
class LabInterfaces:
    """Interface names inside each namespace; a router config sees lan/wan as $LAN/$WAN."""

    client: str = "eth0"  # client namespace, toward the first router
    lan: str = "lan"  # each router, toward the client
    wan: str = "wan"  # each router, toward the server
    server: str = "eth0"  # server namespace, toward the last router


@dataclass(frozen=True)
class RouterAddresses:
    """One router of the line (index 1 … N): its LAN and WAN addresses, both families."""

    index: int
    lan: str
    wan: str
    lan6: str
    wan6: str

    @property
    def all(self) -> tuple[str, ...]:
        """Every address the router answers from."""
        return (self.lan, self.wan, self.lan6, self.wan6)


@dataclass(frozen=True)
class AddressPlan:
    """The addresses and routes of a line of `routers` routers between client and server."""

    routers: int = 1

    def router(self, index: int) -> RouterAddresses:
        """Router `index` (1-based): LAN on link `index`, WAN on link `index` + 1."""
        lan_host = 1 if index == 1 else 2
        return RouterAddresses(
            index, _v4(index, lan_host), _v4(index + 1, 1), _v6(index, lan_host), _v6(index + 1, 1)
        )

    @property
    def ends(self) -> LabAddresses:
        """Client, server, and the routers facing them."""
        last = self.routers + 1
        return LabAddresses(
            client=_v4(1, 2),
            router_lan=_v4(1, 1),
            router_wan=_v4(last, 1),
            server=_v4(last, 2),
            client6=_v6(1, 2),
            router_lan6=_v6(1, 1),
            router_wan6=_v6(last, 1),
            server6=_v6(last, 2),
        )

    def routes(self, index: int) -> list[str]:
        """`ip -batch` route lines of router `index`: each link not its own, via a neighbour."""
        lines = []
        for link in range(1, self.routers + 2):
            if link < index:  # toward the client: the previous router's WAN
                via, via6 = _v4(index, 1), _v6(index, 1)
            elif link > index + 1:  # toward the server: the next router's LAN
                via, via6 = _v4(index + 1, 2), _v6(index + 1, 2)
            else:
                continue
            lines.append(f"route add {_v4(link, 0)}/{PREFIX4} via {via}")
            lines.append(f"route add 2001:2:0:{link:x}::/{PREFIX6} via {via6}")
        return lines

    def hop_names(self, names: tuple[str, ...]) -> dict[str, str]:
        """Address → name for every router (`names` in order) and the server."""
        named = {}
        for index, name in enumerate(names, 1):
            for address in self.router(index).all:
                named[address] = name
        ends = self.ends
        named[ends.server] = named[ends.server6] = "server"
        return named
