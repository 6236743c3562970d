"""Testbed files: the hosts a scenario's `path:` and `mesh:` name, and how to reach them.

Two formats: pytest-qos's own (`hosts:`, `groups:`, `ssh_config:`) and an Ansible YAML
inventory (`all:`, `children:`, `ansible_host`, ...). Errors name file, line and key.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScenarioError, did_you_mean
from ..yamldoc import KeyPath, LocatedYaml
from .endpoints import Endpoint, Local
from .ssh import Exec, Ssh, SshOptions

TOP_KEYS = ("description", "hosts", "groups", "ssh_config")
HOST_KEYS = (
    "ssh",
    "exec",
    "local",
    "address",
    "iperf3",
    "python",
    "port",
    "user",
    "identity_file",
    "ssh_options",
)
SSH_ONLY = ("port", "user", "identity_file", "ssh_options")
ANSIBLE_VARS = {
    "ansible_host": "where ssh connects (default: the host's name)",
    "ansible_user": "ssh user",
    "ansible_port": "ssh port",
    "ansible_ssh_private_key_file": "identity file",
    "ansible_ssh_common_args": "extra ssh arguments ('-o Key=Value' pairs)",
    "ansible_connection": "'local' for this machine",
    "ansible_python_interpreter": "python3 on the host",
    "qos_address": "the data-plane address measured to (default: ansible_host)",
    "qos_iperf3": "iperf3 on the host",
}
_NESTING = "a testbed nests a few levels (hosts: name: key: value)"


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
        options = SshOptions(
            self.destination,
            self.port,
            self.user,
            self.identity_file,
            self.ssh_options,
            self.ssh_config,
        )
        return Ssh(options, name=self.name, programs=self.programs())


@dataclass(frozen=True)
class Testbed:
    """The hosts and groups of one testbed file."""

    path: Path
    hosts: dict[str, HostSpec]
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every host and group name (for did-you-mean)."""
        return [*self.hosts, *self.groups]


def load_testbed(path: Path | str) -> Testbed:
    """Read and validate a testbed file (own format or Ansible YAML inventory)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), None, None, f"cannot read the testbed: {error}") from None
    where = LocatedYaml(path, text, nesting=_NESTING)
    data = where.data
    if not isinstance(data, dict) or not data:
        raise where.error((), "a testbed is a mapping with 'hosts:' (or an Ansible inventory)")
    if "hosts" not in data and _looks_like_ansible(data):
        return _Ansible(where).testbed()
    return _Native(where).testbed()


def _looks_like_ansible(data: dict[str, Any]) -> bool:
    return "all" in data or any(
        isinstance(v, dict) and ({"hosts", "children", "vars"} & set(v)) for v in data.values()
    )


def _address(where: LocatedYaml, value: Any, path: KeyPath) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise where.error(path, "give at least one address")
    for index, item in enumerate(values):
        at = (*path, str(index)) if isinstance(value, list) else path
        try:
            ipaddress.ip_address(str(item))
        except ValueError:
            raise where.error(
                at, f"'{item}' is not an IP address (e.g. 198.18.10.2 or 2001:2:0:10::2)"
            ) from None
    return tuple(str(item) for item in values)


class _Native:
    """pytest-qos's own testbed format."""

    def __init__(self, where: LocatedYaml) -> None:
        self.where = where
        self.data: dict[str, Any] = where.data

    def testbed(self) -> Testbed:
        w = self.where
        for key in self.data:
            if key not in TOP_KEYS:
                raise w.error(
                    (str(key),),
                    f"unknown key '{key}' in the testbed{did_you_mean(str(key), TOP_KEYS)} "
                    f"(known: {', '.join(TOP_KEYS)})",
                )
        hosts_data = self.data.get("hosts")
        if not isinstance(hosts_data, dict) or not hosts_data:
            raise w.error(("hosts",), "'hosts:' must map host names to their settings")
        ssh_config = self.data.get("ssh_config")
        config_path = None
        if ssh_config is not None:
            config = (w.path.parent / str(ssh_config)).resolve()
            if not config.is_file():
                raise w.error(("ssh_config",), f"no such file: {config}")
            config_path = str(config)
        hosts = {
            str(name): self.host(str(name), value, config_path)
            for name, value in hosts_data.items()
        }
        return Testbed(w.path, hosts, self.groups(hosts))

    def host(self, name: str, value: Any, ssh_config: str | None) -> HostSpec:
        w = self.where
        path: KeyPath = ("hosts", name)
        if not isinstance(value, dict):
            raise w.error(
                path, "a host is a mapping, e.g. {ssh: ops@branch1, address: 198.18.10.2}"
            )
        for key in value:
            if key not in HOST_KEYS:
                raise w.error(
                    (*path, str(key)),
                    f"unknown host key '{key}'{did_you_mean(str(key), HOST_KEYS)} "
                    f"(known: {', '.join(HOST_KEYS)})",
                )
        kinds = [k for k in ("ssh", "exec", "local") if k in value]
        if len(kinds) != 1:
            raise w.error(
                path,
                "give exactly one of 'ssh: DESTINATION', 'exec: [ARGV, PREFIX]' or "
                f"'local: true' (got {', '.join(kinds) or 'none'})",
            )
        kind = kinds[0]
        if "address" not in value:
            raise w.error(path, "needs 'address:' (where measurements send to)")
        addresses = _address(w, value["address"], (*path, "address"))
        for key in SSH_ONLY:
            if key in value and kind != "ssh":
                raise w.error((*path, key), f"'{key}' applies to ssh hosts only")
        common: dict[str, Any] = {
            "name": name,
            "line": w.line(path),
            "kind": kind,
            "addresses": addresses,
            "iperf3": self.text(value, path, "iperf3"),
            "python": self.text(value, path, "python"),
        }
        if kind == "local":
            if value["local"] is not True:
                raise w.error((*path, "local"), "write 'local: true' (or leave the key out)")
            return HostSpec(**common)
        if kind == "exec":
            prefix = value["exec"]
            if not (
                isinstance(prefix, list) and prefix and all(isinstance(p, str) for p in prefix)
            ):
                raise w.error(
                    (*path, "exec"), "exec is an argv prefix list, e.g. [docker, exec, dc1]"
                )
            return HostSpec(**common, prefix=tuple(prefix))
        return HostSpec(**common, **self.ssh(value, path), ssh_config=ssh_config)

    def ssh(self, value: dict[str, Any], path: KeyPath) -> dict[str, Any]:
        w = self.where
        destination = value["ssh"]
        if not isinstance(destination, str) or not destination or destination.startswith("-"):
            raise w.error((*path, "ssh"), "ssh is a destination such as ops@branch1 or an alias")
        port = value.get("port")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
        ):
            raise w.error(
                (*path, "port"), f"a port is a whole number from 1 to 65535, got {port!r}"
            )
        options = value.get("ssh_options", [])
        if not isinstance(options, list) or not all(
            isinstance(o, str) and "=" in o and not o.startswith("-") for o in options
        ):
            raise w.error(
                (*path, "ssh_options"),
                "ssh_options is a list of '-o' values, e.g. [StrictHostKeyChecking=accept-new]",
            )
        return {
            "destination": destination,
            "port": port,
            "user": self.text(value, path, "user"),
            "identity_file": self.text(value, path, "identity_file"),
            "ssh_options": tuple(options),
        }

    def text(self, value: dict[str, Any], path: KeyPath, key: str) -> str | None:
        if key not in value:
            return None
        if not isinstance(value[key], str) or not value[key]:
            raise self.where.error((*path, key), f"'{key}' is text (a name or a path)")
        return str(value[key])

    def groups(self, hosts: dict[str, HostSpec]) -> dict[str, tuple[str, ...]]:
        w = self.where
        data = self.data.get("groups") or {}
        if not isinstance(data, dict):
            raise w.error(("groups",), "groups map a name to a list of hosts")
        groups: dict[str, tuple[str, ...]] = {}
        for name, members in data.items():
            path: KeyPath = ("groups", str(name))
            if str(name) in hosts:
                raise w.error(path, f"group '{name}' has the name of a host; rename one")
            if not isinstance(members, list) or not members:
                raise w.error(path, "a group is a list of host names, e.g. [branch-1, branch-2]")
            for index, member in enumerate(members):
                if member not in hosts:
                    raise w.error(
                        (*path, str(index)),
                        f"unknown host '{member}'{did_you_mean(str(member), hosts)} "
                        f"(hosts: {', '.join(hosts)})",
                    )
            groups[str(name)] = tuple(str(m) for m in members)
        return groups


class _Ansible:
    """An Ansible YAML inventory: groups of hosts with connection variables."""

    def __init__(self, where: LocatedYaml) -> None:
        self.where = where
        self.vars: dict[str, dict[str, Any]] = {}
        self.lines: dict[str, int] = {}
        self.groups: dict[str, list[str]] = {}

    def testbed(self) -> Testbed:
        for name, group in self.where.data.items():
            self.group(str(name), group, (str(name),), {})
        hosts = {name: self.host(name, variables) for name, variables in self.vars.items()}
        if not hosts:
            raise self.where.error((), "the inventory lists no hosts")
        groups = {
            name: tuple(dict.fromkeys(members))
            for name, members in self.groups.items()
            if members and name not in hosts
        }
        return Testbed(self.where.path, hosts, groups)

    def group(self, name: str, data: Any, path: KeyPath, inherited: dict[str, Any]) -> list[str]:
        """Hosts of group `name` (children included); host vars override group vars."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise self.where.error(path, "an inventory group is a mapping (hosts, children, vars)")
        for key in data:
            if key not in ("hosts", "children", "vars"):
                raise self.where.error(
                    (*path, str(key)),
                    f"unknown inventory key '{key}'"
                    f"{did_you_mean(str(key), ('hosts', 'children', 'vars'))}",
                )
        variables = {**inherited, **(data.get("vars") or {})}
        members: list[str] = []
        for host, host_vars in (data.get("hosts") or {}).items():
            host = str(host)
            merged = {**variables, **self.vars.get(host, {}), **(host_vars or {})}
            self.vars[host] = merged
            self.lines.setdefault(host, self.where.line((*path, "hosts", host)))
            members.append(host)
        for child, child_data in (data.get("children") or {}).items():
            members += self.group(
                str(child), child_data, (*path, "children", str(child)), variables
            )
        self.groups.setdefault(name, []).extend(members)
        return members

    def host(self, name: str, variables: dict[str, Any]) -> HostSpec:
        line = self.lines.get(name, 1)
        for key in variables:
            if key.startswith("qos_") and key not in ANSIBLE_VARS:
                raise ScenarioError(
                    str(self.where.path),
                    line,
                    f"{name}.{key}",
                    f"unknown variable{did_you_mean(key, ANSIBLE_VARS)} "
                    f"(pytest-qos reads: {', '.join(ANSIBLE_VARS)})",
                )
        target = str(variables.get("ansible_host", name))
        raw_address = variables.get("qos_address", variables.get("ansible_host"))
        if raw_address is None:
            raise ScenarioError(
                str(self.where.path),
                line,
                name,
                "needs 'qos_address' (or an 'ansible_host' IP): the address measured to",
            )
        addresses = _address(self.where, raw_address, (name,))
        python = variables.get("ansible_python_interpreter")
        common: dict[str, Any] = {
            "name": name,
            "line": line,
            "addresses": addresses,
            "iperf3": variables.get("qos_iperf3"),
            "python": str(python) if python else None,
        }
        if variables.get("ansible_connection") == "local":
            return HostSpec(kind="local", **common)
        options = []
        words = shlex.split(str(variables.get("ansible_ssh_common_args", "")))
        for index, word in enumerate(words):
            if word == "-o" and index + 1 < len(words):
                options.append(words[index + 1])
            elif word.startswith("-o") and len(word) > 2:
                options.append(word[2:])
        port = variables.get("ansible_port")
        return HostSpec(
            kind="ssh",
            destination=target,
            port=int(port) if port is not None else None,
            user=variables.get("ansible_user"),
            identity_file=variables.get("ansible_ssh_private_key_file"),
            ssh_options=tuple(options),
            **common,
        )
