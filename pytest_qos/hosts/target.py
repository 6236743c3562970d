"""A target: the path a measurement crosses — where its client and its servers run."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..results import Measurement
from .endpoints import Endpoint, Local

# Default port of `python -m pytest_qos responder` on a remote target.
RESPONDER_PORT = 7000


class Observer(Protocol):
    """Something read before and after each measurement of a path (e.g. the lab router)."""

    def snapshot(self) -> Any:
        """The state now."""

    def measurement(
        self, before: Any, after: Any, wanted: Collection[str] = (), window: Any = None
    ) -> Measurement:
        """What changed between two snapshots, as a Measurement (`wanted`: metrics to judge);
        `window` (measure.edges.Window): the snapshots at the measured window's edges."""


@dataclass
class Target:
    """The client side and the server side of one network path."""

    name: str  # for reports and per-path locks: "local", "lab-1234", "198.18.1.2"
    host: str  # the address clients send to
    client: Endpoint = field(default_factory=Local)
    # Where the plugin spawns servers and responders; None when they already run at `host`.
    server: Endpoint | None = field(default_factory=Local)
    bind: str | None = None  # address spawned servers bind to (default: host)
    ports: list[int] = field(default_factory=list)  # running iperf3 servers (a pool)
    responder_port: int = RESPONDER_PORT
    # Read around every measurement; their Measurements join the result (router counters).
    observers: list[Observer] = field(default_factory=list)
    requires: str = ""  # what must exist to reproduce a measurement here (a lab), for reports
    # Names of the addresses a path's hops answer from (a lab's routers), for per-hop reports.
    hop_names: dict[str, str] = field(default_factory=dict)
    mtu: int | None = None  # the path's MTU when known (a lab's links); None: ask the client

    @property
    def spawns_servers(self) -> bool:
        """True when servers are started by the plugin, not already running."""
        return self.server is not None


def local_target(host: str = "127.0.0.1") -> Target:
    """The built-in default: client and spawned servers on loopback."""
    return Target(name="local", host=host)


def remote_target(host: str, ports: list[int], responder_port: int = RESPONDER_PORT) -> Target:
    """iperf3 servers (and a responder) already running at `host`."""
    return Target(name=host, host=host, server=None, ports=ports, responder_port=responder_port)
