"""What a testbed holds: its hosts (how to reach each, the addresses measured to) and groups.

Read from a testbed file (`testbed.py`) or an Ansible inventory (`inventory.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..yamldoc import KeyPath, LocatedYaml
from .endpoints import Endpoint, Local
from .names import is_address
from .ssh import Exec, Ssh


@dataclass(frozen=True)
class HostSpec:
    """One host: how processes get there, and the address measurements send to."""

    name: str
    line: int
    kind: str  # "ssh", "exec" or "local"
    addresses: tuple[str, ...]
    destination: str = ""  # ssh
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    ssh_options: tuple[str, ...] = ()
    ssh_config: str | None = None
    prefix: tuple[str, ...] = ()  # exec
    iperf3: str | None = None
    python: str | None = None

    @property
    def address(self) -> str:
        """The first (preferred) data-plane address."""
        return self.addresses[0]

    def programs(self) -> dict[str, str]:
        """Tools relocated on this host."""
        found = {"iperf3": self.iperf3, "python3": self.python}
        return {tool: path for tool, path in found.items() if path}

    def endpoint(self) -> Endpoint:
        """Where this host's processes run."""
        if self.kind == "local":
            return Local()
        if self.kind == "exec":
            return Exec(list(self.prefix), name=self.name, programs=self.programs())
        return Ssh(
            self.destination,
            name=self.name,
            port=self.port,
            user=self.user,
            identity_file=self.identity_file,
            options=self.ssh_options,
            config=self.ssh_config,
            programs=self.programs(),
        )


@dataclass(frozen=True)
class Testbed:
    """The hosts and groups of one testbed file."""

    path: Path
    hosts: dict[str, HostSpec]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every host and group name (for did-you-mean)."""
        return [*self.hosts, *self.groups]


def addresses(where: LocatedYaml, value: Any, path: KeyPath) -> tuple[str, ...]:
    """The data-plane addresses of a host (one, or a list): IP addresses only."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise where.error(path, "give at least one address")
    for index, item in enumerate(values):
        at = (*path, str(index)) if isinstance(value, list) else path
        if not (isinstance(item, str) and is_address(item)):
            shown = item if isinstance(item, str) else repr(item)
            raise where.error(
                at, f"{str(shown)[:80]!r} is not an IP address (e.g. 198.18.10.2 or 2001:2:0:10::2)"
            )
    return tuple(values)
