"""One router of the lab: its namespace, addresses, the config it runs, and its counters."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import MeasurementTimeout
from ..hosts.endpoints import Completed, Netns
from .configs import CONFIG_TIMEOUT, LabError, checked_config, config_failure
from .counters import RouterView
from .namespaces import COMMAND_TIMEOUT
from .plan import LabAddresses, LabInterfaces, RouterAddresses

SINGLE = "router"  # the name (and namespace role) of a one-router lab's router


class LabRouter:
    """A router namespace with $LAN toward the client and $WAN toward the server."""

    def __init__(
        self, name: str, namespace: str, addresses: RouterAddresses, ends: LabAddresses
    ) -> None:
        self.name = name  # 'router' in a one-router lab, else the name given (core, edge, ...)
        self.namespace = namespace
        self.addresses = addresses
        self.ends = ends
        self.interfaces = LabInterfaces()
        self.config: Path | None = None
        self.config_result: Completed | None = None  # the config's exit code and output

    @property
    def endpoint(self) -> Netns:
        """Where the router's commands run."""
        return Netns(self.namespace)

    def environment(self) -> dict[str, str]:
        """The variables its config sees: interface names and the lab's addresses."""
        a, i = self.addresses, self.interfaces
        return {
            "LAN": i.lan,
            "WAN": i.wan,
            "LAN_ADDR": a.lan,
            "WAN_ADDR": a.wan,
            "LAN_ADDR6": a.lan6,
            "WAN_ADDR6": a.wan6,
            "CLIENT_ADDR": self.ends.client,
            "SERVER_ADDR": self.ends.server,
            "CLIENT_ADDR6": self.ends.client6,
            "SERVER_ADDR6": self.ends.server6,
            "LAB_ROUTER_NETNS": self.namespace,
            "ROUTER_NAME": self.name,
            "ROUTER_INDEX": str(a.index),
        }

    def apply(self, router_config: Path | str, timeout: float = CONFIG_TIMEOUT) -> Completed:
        """Reset its qdiscs and firewall, then run `router_config` inside it."""
        config = checked_config(router_config)
        if self.config is not None:
            self.reset()
        try:
            # The environment as env=, never as an `env` argv: that would read a config path
            # containing '=' as one more assignment and never run it.
            completed = self.endpoint.run([str(config)], timeout, env=self.environment())
        except MeasurementTimeout as error:
            self.config = config  # whatever it did before it was killed is reset next
            raise LabError(
                f"router config {config} did not finish within {timeout:.0f} s and was killed",
                command=error.command,
            ) from None
        self.config = config
        self.config_result = completed
        if completed.returncode != 0:
            raise LabError(config_failure(config, completed), completed.stderr, completed.argv)
        return completed

    def reset(self) -> None:
        """Remove what a config set up: root and ingress qdiscs on both sides, nft rules."""
        router = self.endpoint
        for device in (self.interfaces.lan, self.interfaces.wan):
            for parent in ("root", "ingress"):
                # Deleting an absent qdisc fails harmlessly ("Cannot delete qdisc ...").
                router.run(["tc", "qdisc", "del", "dev", device, parent], timeout=COMMAND_TIMEOUT)
        if shutil.which("nft"):
            router.run(["nft", "flush", "ruleset"], timeout=COMMAND_TIMEOUT)
        self.config = None

    def qdiscs(self) -> str:
        """`tc -s qdisc show` of its interfaces (for failure reports)."""
        shown = []
        for device in (self.interfaces.lan, self.interfaces.wan):
            completed = self.endpoint.run(
                ["tc", "-s", "qdisc", "show", "dev", device], COMMAND_TIMEOUT
            )
            shown.append(f"{device}:\n{completed.stdout.rstrip()}")
        return "\n".join(shown)

    def view(self, wan: str | None, named: bool) -> RouterView:
        """Its qdisc and class counters on LAN and WAN; `named` in a chain (router.NAME.…)."""
        return RouterView(
            self.endpoint,
            {"LAN": self.interfaces.lan, "WAN": self.interfaces.wan},
            wan,
            name=self.name if named else None,
            addresses=self.addresses.all,
        )
