"""The router lab: client, router(s) and server network namespaces joined by veth pairs.

One router (`Lab.create(router_config=...)`) or a line of them (`routers=[RouterSpec, ...]`),
each with its own config. With `wan=`, a WAN hop namespace sits after a router (the last, or
`wan_after`) and adds delay, jitter, loss and a rate limit there, outside the routers under
test (see wan.py). The address plan is plan.py's; building, build.py's; configs, configs.py
and routers.py's; namespace names and their sweep, namespaces.py's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import sys
import weakref
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, MeasurementError, QosError
from ..hosts.endpoints import Completed, Netns
from ..hosts.target import Target
from ..results import QosResult
from .build import WAN_ROLE, Topology
from .configs import (
    CONFIG_TIMEOUT,
    KNOWN_QDISCS,
    LabError,
    checked_config,
    kernel_qdiscs,
    lab_unavailable_reason,
)
from .counters import RouterView, failure_context
from .mtu import DEFAULT_MTU, set_mtu
from .namespaces import (
    COMMAND_TIMEOUT,
    KEPT_DIRECTORY,
    PREFIX,
    _pids_in,
    delete_namespaces,
    existing,
    kept_lab_ids,
    lab_namespaces,
    mark_kept,
    next_serial,
    no_interrupts,
    owner_alive,
    sweep_stale_namespaces,
)
from .plan import AddressPlan, LabAddresses, LabInterfaces
from .routers import SINGLE, LabRouter
from .spec import RouterSpec
from .wan import WanSpec, backend_name, choose_backend
from .wanview import DelayLineView

# The names other modules and tests have imported from here since before the split.
__all__ = [
    "COMMAND_TIMEOUT",
    "CONFIG_TIMEOUT",
    "KEPT_DIRECTORY",
    "KNOWN_QDISCS",
    "PREFIX",
    "Lab",
    "LabAddresses",
    "LabError",
    "LabInterfaces",
    "_owner_alive",
    "_pids_in",
    "keep_lab",
    "kept_lab_ids",
    "kernel_qdiscs",
    "lab_namespaces",
    "lab_unavailable_reason",
    "sweep_stale_namespaces",
]
_owner_alive = owner_alive
ROLES = ("client", SINGLE, "server")
_LIVE: weakref.WeakSet[Lab] = weakref.WeakSet()


class Lab:
    """A routed path client → router(s) → server in namespaces; `destroy()` removes it all."""

    def __init__(self, serial: int, owner: int | None = None, routers: Sequence[str] = ()) -> None:
        owner = os.getpid() if owner is None else owner
        self.id = f"{PREFIX}-{owner}-{serial}"  # the namespaces' common prefix
        self.name = f"lab-{owner}-{serial}"  # the target's name in reports and path locks
        names = tuple(routers) or (SINGLE,)
        plan = AddressPlan(len(names))
        # One router's namespace is '-router'; a chain's are '-r1', '-r2', ... in line order.
        roles = [f"r{index}" for index in range(1, len(names) + 1)] if routers else [SINGLE]
        self.routers = [
            LabRouter(name, f"{self.id}-{role}", plan.router(index), plan.ends)
            for index, (name, role) in enumerate(zip(names, roles, strict=True), 1)
        ]
        self._roles = dict(zip(roles, self.routers, strict=True))
        self.topology = Topology(self.id, self.routers, plan)
        self.addresses: LabAddresses = plan.ends
        self.interfaces = LabInterfaces()
        self.client, self.server = self.topology.client, self.topology.server
        self.router = self.routers[0].namespace  # the (first) router's namespace
        self.hop = self.topology.hop  # the WAN hop's namespace (exists only with a WAN)
        self.destroyed = False
        self.mtu: int | None = None  # every link's MTU (lab: {mtu: 9000}); None: 1500

    @property
    def chained(self) -> bool:
        """True for a line of two or more routers (their metrics carry their names)."""
        return len(self.routers) > 1

    @property
    def wan(self) -> WanSpec | None:
        """The WAN the hop emulates, if the lab has one."""
        return self.topology.wan

    @property
    def wan_backend(self) -> str | None:
        """'netem', 'userspace' or 'bridge' with a WAN, else None."""
        return self.topology.backend

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Client, router(s), server (and the WAN hop's, with a WAN)."""
        return self.topology.namespaces

    @property
    def roles(self) -> tuple[str, ...]:
        """What endpoint() accepts: client, the routers' roles and names, server (and wan)."""
        names = [router.name for router in self.routers if router.name not in self._roles]
        core = ("client", *self._roles, *names, "server")
        return (*core, WAN_ROLE) if self.wan is not None else core

    def find(self, name: str) -> LabRouter:
        """A router by its name or role; InputError listing the routers otherwise."""
        for router in self.routers:
            if name in (router.name, router.namespace.rsplit("-", 1)[1]):
                return router
        names = ", ".join(router.name for router in self.routers)
        raise InputError(f"this lab has no router '{name}' (routers: {names})", key="router")

    def endpoint(self, role: str) -> Netns:
        """Where to run a process: 'client', 'server', a router ('router', its name) or 'wan'."""
        if role not in self.roles:
            raise InputError(f"lab role '{role}' is not one of {', '.join(self.roles)}", key="role")
        if role in ("client", "server", WAN_ROLE):
            return Netns(f"{self.id}-{role}")
        return self.find(role).endpoint

    @property
    def wan_description(self) -> str | None:
        """E.g. 'userspace delay line (C engine, AF_PACKET): 20 ms each way'; None without WAN."""
        if self.wan is None or self.wan_backend is None:
            return None
        where = f" after {self.routers[self.topology.hop_index - 1].name}" if self.chained else ""
        backend = backend_name(self.wan_backend, self.topology.delay_lines.engine)
        return f"{backend}: {self.wan.describe()}{where}"

    def target(self, ipv6: bool = False) -> Target:
        """The path across the router(s): clients in the client namespace, servers in the
        server's; every router's counters are read around each measurement."""
        host = self.addresses.server6 if ipv6 else self.addresses.server
        roles = ",".join(["client", *self._roles, "server"])
        return Target(
            name=self.name,
            host=host,
            client=self.endpoint("client"),
            server=self.endpoint("server"),
            bind=host,
            observers=[*self.router_views(), *self._delay_line_view()],
            mtu=self.mtu or DEFAULT_MTU,
            requires=f"as root, while the namespaces {self.id}-{{{roles}}} of this run exist "
            "(pytest --qos-keep-lab keeps them)",
            hop_names=self.topology.plan.hop_names(tuple(r.name for r in self.routers)),
        )

    def _delay_line_view(self) -> list[DelayLineView]:
        """The delay line's own counts, if one runs: a test it could not carry is an error."""
        if self.wan_backend != "userspace":
            return []
        return [DelayLineView(self.topology.delay_lines, self.wan_description)]

    def router_views(self) -> list[RouterView]:
        """Each router's qdisc and class counters on LAN and WAN, in line order."""
        return [router.view(self.wan_description, self.chained) for router in self.routers]

    def router_view(self) -> RouterView:
        """The (first) router's counters (see router_views for a chain)."""
        return self.router_views()[0]

    @classmethod
    def create(
        cls,
        router_config: Path | str | None = None,
        *,
        config_timeout: float = CONFIG_TIMEOUT,
        wan: WanSpec | None = None,
        routers: Sequence[RouterSpec] = (),
        wan_after: str | None = None,
        mtu: int | None = None,
    ) -> Lab:
        """Sweep leftovers of dead sessions, build the topology, apply the configs.

        `router_config` is a one-router lab's; `routers` (two or more) a line of routers, each
        with its own config. With `wan`, a WAN hop after the last router (or `wan_after`)
        emulates it (netem when the kernel has it, else the userspace delay line). With `mtu`,
        every link of the lab carries frames of that size (jumbo frames end to end).
        """
        checked = _checked_configs(router_config, routers)
        reason = lab_unavailable_reason()
        if reason:
            raise LabError(f"the router lab {reason}")
        backend = choose_backend(wan, "netem" in kernel_qdiscs()) if wan is not None else None
        sweep_stale_namespaces()
        lab = cls(next_serial(), routers=[spec.name for spec in routers])
        lab.topology.wan, lab.topology.backend = wan, backend
        if wan_after is not None:
            lab.topology.wan_after = lab.find(wan_after).addresses.index
        _LIVE.add(lab)
        try:
            with no_interrupts():
                lab.topology.build()
                if mtu is not None:
                    lab.set_mtu(mtu)
            for router, config in zip(lab.routers, checked, strict=True):
                if config is not None:
                    router.apply(config, timeout=config_timeout)
        except BaseException:
            lab.destroy()
            raise
        return lab

    def set_mtu(self, mtu: int) -> None:
        """Every link of the lab, end to end, at `mtu` (lab: {mtu: 9000})."""
        try:
            set_mtu(self.namespaces, mtu)
        except MeasurementError as error:
            raise LabError(str(error), command=error.command) from None
        self.mtu = mtu

    def explain(self, cause: QosError | None = None) -> QosError | None:
        """The error naming the lab's own processes (a WAN delay line) that died, if any did,
        with `cause` (the test's own error) in it; else `cause`."""
        return self.topology.delay_lines.explain(cause)

    def stop_delay_line(self) -> str:
        """Stop the delay line (it prints its counters and lateness) and return its output."""
        self.topology.delay_lines.stop(grace=2.0)
        return self.topology.delay_lines.report()

    @property
    def router_config(self) -> Path | None:
        """The (first) router's config."""
        return self.routers[0].config

    @property
    def config_result(self) -> Completed | None:
        """The (first) router's config run: exit code and output."""
        return self.routers[0].config_result

    def apply(
        self, router_config: Path | str, timeout: float = CONFIG_TIMEOUT, router: str | None = None
    ) -> Completed:
        """Reset a router's qdiscs and firewall, then run `router_config` inside it."""
        return (self.find(router) if router else self.routers[0]).apply(router_config, timeout)

    def qdiscs(self) -> str:
        """`tc -s qdisc show` of the routers' interfaces (for failure reports)."""
        if not self.chained:
            return self.routers[0].qdiscs()
        return "\n".join(f"{router.name}:\n{router.qdiscs()}" for router in self.routers)

    def failure_context(self, result: QosResult | None = None) -> str:
        """What a failing lab test shows: each router's counters during it, and its filters."""
        last = self.routers[-1]
        return "\n\n".join(
            failure_context(view, result, router.qdiscs, wan=router is last)
            for view, router in zip(self.router_views(), self.routers, strict=True)
        )

    def destroy(self) -> None:
        """Kill what runs in the namespaces, delete them (their qdiscs go too); idempotent."""
        if self.destroyed:
            return
        with no_interrupts():
            delete_namespaces(existing(self.namespaces))
            # Killed with its namespace above; this only reaps it.
            self.topology.delay_lines.close()
            self.destroyed = True
        _LIVE.discard(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        if not self.chained:
            return f"Lab({self.id!r}, router_config={self.router_config})"
        return f"Lab({self.id!r}, {', '.join(f'{r.name}={r.config}' for r in self.routers)})"


def _checked_configs(
    router_config: Path | str | None, routers: Sequence[RouterSpec]
) -> list[Path | None]:
    """Each router's config (None: plain forwarding), checked before anything is built."""
    if routers and router_config is not None:
        raise InputError("give router_config (one router) or routers (a line), not both")
    configs = [router_config] if not routers else [spec.config for spec in routers]
    return [
        checked_config(config, f"lab.routers.{index}" if routers else "lab.router")
        if config is not None
        else None
        for index, config in enumerate(configs)
    ]


def keep_lab(lab: Lab) -> str:
    """Leave `lab` in place after this process ends, marked so no stale sweep takes it.

    Its processes are the caller's to stop first; what runs in it afterwards is the user's,
    but for its WAN delay line, restarted detached so it outlives this process. The mark
    records the lab's namespaces and processes. Returns the command that removes it all.
    """
    _LIVE.discard(lab)
    lab.destroyed = True  # destroy() is now a no-op: the namespaces are the user's
    processes = lab.topology.delay_lines.keep(Netns(lab.hop)) if lab.wan else []
    mark_kept(lab.id, {"namespaces": list(lab.namespaces), "processes": processes})
    return f"{shlex.quote(sys.executable)} -m pytest_qos lab remove {lab.id}"


@atexit.register
def _destroy_all() -> None:
    """Last line of defence: a lab still alive when Python exits is torn down."""
    for lab in list(_LIVE):
        with contextlib.suppress(Exception):
            lab.destroy()
