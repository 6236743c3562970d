"""Building the lab: namespaces, veth pairs along the line, addresses, routes, forwarding.

One `ip -batch` per namespace (each `ip` start costs 10-30 ms on a loaded machine), in line
order: a router's batch creates its WAN veth, whose far end is the next node's interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hosts.endpoints import Completed, Local, Netns
from .configs import LabError, check_completed
from .delaylines import DelayLineError, DelayLines
from .namespaces import COMMAND_TIMEOUT
from .plan import AddressPlan, LabInterfaces
from .routers import LabRouter
from .wan import (
    TOWARD_ROUTER,
    WanSpec,
    bridge_lines,
    hop_links,
    server_link,
    tc_lines,
)

WAN_ROLE = "wan"  # the WAN hop's namespace role


def ip_batch(namespace: str | None, lines: list[str]) -> None:
    """Run `ip` commands in one process (in `namespace`, or here); fail on the first error."""
    endpoint = Netns(namespace) if namespace else Local()
    completed = endpoint.run(
        ["ip", "-batch", "-"], timeout=COMMAND_TIMEOUT, input="\n".join(lines) + "\n"
    )
    check_completed(completed, "building the lab", lines)


@dataclass
class Topology:
    """A lab's namespaces in line order and how they are joined; `build()` makes them."""

    lab_id: str
    routers: list[LabRouter]
    plan: AddressPlan
    wan: WanSpec | None = None
    backend: str | None = None  # how the WAN hop emulates: netem, userspace or bridge
    wan_after: int = 0  # the router (1-based) the WAN hop follows; 0: the last
    delay_lines: DelayLines = field(default_factory=DelayLines)

    @property
    def client(self) -> str:
        """The client namespace."""
        return f"{self.lab_id}-client"

    @property
    def server(self) -> str:
        """The server namespace."""
        return f"{self.lab_id}-server"

    @property
    def hop(self) -> str:
        """The WAN hop's namespace (it exists only with a WAN)."""
        return f"{self.lab_id}-{WAN_ROLE}"

    @property
    def hop_index(self) -> int:
        """The router the WAN hop follows (1-based)."""
        return self.wan_after or len(self.routers)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Client, routers, server (and the WAN hop with a WAN), in line order."""
        line = (self.client, *(router.namespace for router in self.routers), self.server)
        return (*line, self.hop) if self.wan is not None else line

    def build(self) -> None:
        """Namespaces, veth pairs, addresses, routes and forwarding; ~50-80 ms for one router."""
        ip_batch(None, [f"netns add {name}" for name in self.namespaces])
        self._sysctls()
        for router in self.routers:
            ip_batch(router.namespace, self._router_lines(router))
            if self.wan is not None and router.addresses.index == self.hop_index:
                self._build_hop()
        i, ends = LabInterfaces(), self.plan.ends
        for namespace, device, address, address6, gateway, gateway6 in (
            (self.client, i.client, ends.client, ends.client6, ends.router_lan, ends.router_lan6),
            (self.server, i.server, ends.server, ends.server6, ends.router_wan, ends.router_wan6),
        ):
            ip_batch(
                namespace,
                [
                    f"addr add {address}/{ends.prefix4} dev {device}",
                    f"addr add {address6}/{ends.prefix6} dev {device} nodad",
                    "link set lo up",
                    f"link set {device} up",
                    f"route add default via {gateway}",
                    f"route add default via {gateway6}",
                ],
            )
        try:
            self.delay_lines.wait_ready()
        except DelayLineError as error:
            raise LabError(str(error), error.output, error.command) from None

    def _next(self, router: LabRouter) -> tuple[str, str]:
        """(namespace, device) of the node after `router`: the next router's LAN or the server."""
        index = router.addresses.index
        if index < len(self.routers):
            return self.routers[index].namespace, router.interfaces.lan
        return self.server, router.interfaces.server

    def _router_lines(self, router: LabRouter) -> list[str]:
        """A router's batch: its veths (the client's too, for the first), addresses, routes."""
        i, a, ends = router.interfaces, router.addresses, self.plan.ends
        lines = []
        if a.index == 1:
            lines.append(f"link add {i.lan} type veth peer name {i.client} netns {self.client}")
        next_namespace, next_device = self._next(router)
        if self.wan is not None and a.index == self.hop_index:
            # The WAN hop sits on this router's WAN link: router → hop → next node.
            lines.append(f"link add {i.wan} type veth peer name {TOWARD_ROUTER} netns {self.hop}")
            lines.append(server_link(self.hop, next_namespace, next_device))
        else:
            lines.append(
                f"link add {i.wan} type veth peer name {next_device} netns {next_namespace}"
            )
        return [
            *lines,
            f"addr add {a.lan}/{ends.prefix4} dev {i.lan}",
            f"addr add {a.wan}/{ends.prefix4} dev {i.wan}",
            # nodad: the addresses are usable at once instead of after ~1 s of DAD.
            f"addr add {a.lan6}/{ends.prefix6} dev {i.lan} nodad",
            f"addr add {a.wan6}/{ends.prefix6} dev {i.wan} nodad",
            "link set lo up",
            f"link set {i.lan} up",
            f"link set {i.wan} up",
            *self.plan.routes(a.index),
        ]

    def _build_hop(self) -> None:
        """The WAN hop: netem, a bridge, or the delay line between its two interfaces."""
        assert self.wan is not None
        if self.backend != "userspace":
            ip_batch(self.hop, hop_links() + bridge_lines())
        tc = tc_lines(self.wan, self.backend or "")
        if tc:
            completed = Netns(self.hop).run(
                ["tc", "-batch", "-"], timeout=COMMAND_TIMEOUT, input="\n".join(tc) + "\n"
            )
            check_completed(completed, "setting up the WAN hop", tc)
        if self.backend == "userspace":
            # Started now, waited for at the end of build(): their start overlaps the rest.
            self.delay_lines.start(Netns(self.hop), self.wan)

    def _sysctls(self) -> None:
        """Forwarding in the routers; no DAD in client, routers and server; no IPv6 in the hop."""
        # Without DAD the link-local addresses neighbour discovery needs are usable at once,
        # not ~2 s later; set before the veths exist so they inherit it.
        no_dad = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
        forwarding = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
        # The WAN hop is no host: no IPv6 of its own (no router solicitations, no ND).
        no_ipv6 = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
        settings = {self.client: no_dad, self.server: no_dad}
        settings.update({router.namespace: no_dad + forwarding for router in self.routers})
        # The delay line disables IPv6 and sets its interfaces up itself: one process less.
        if self.wan is not None and self.backend != "userspace":
            settings[self.hop] = no_ipv6
        # One sysctl per namespace, all at once: on a loaded machine each start costs 10-30 ms.
        running = []
        try:
            for namespace, wanted in settings.items():
                process = Netns(namespace).spawn(["sysctl", "-q", "-w", *wanted])
                running.append((namespace, wanted, process))
            for namespace, wanted, process in running:
                out, err = process.communicate(COMMAND_TIMEOUT)
                check_completed(
                    Completed(process.argv, process.returncode or 0, out, err),
                    f"setting {', '.join(wanted)} in {namespace}",
                )
        finally:
            for _namespace, _wanted, process in running:
                process.stop()
