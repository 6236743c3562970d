"""Testbed files: the hosts a scenario's `path:` and `mesh:` name, and how to reach them.

Two formats: pytest-qos's own (`hosts:`, `groups:`, `ssh_config:`) and an Ansible YAML
inventory (`all:`, `children:`, `ansible_host`, ...). Errors name file, line and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError, ScenarioError, did_you_mean
from ..yamldoc import KeyPath, LocatedYaml
from .hostspec import HostSpec, Testbed, addresses
from .inventory import ANSIBLE_VARS, AnsibleInventory
from .names import check_destination

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
_NESTING = "a testbed nests a few levels (hosts: name: key: value)"


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
        return AnsibleInventory(where).testbed()
    return _Native(where).testbed()


def _looks_like_ansible(data: dict[str, Any]) -> bool:
    return "all" in data or any(
        isinstance(v, dict) and ({"hosts", "children", "vars"} & set(v)) for v in data.values()
    )


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
        host_addresses = addresses(w, value["address"], (*path, "address"))
        for key in SSH_ONLY:
            if key in value and kind != "ssh":
                raise w.error((*path, key), f"'{key}' applies to ssh hosts only")
        common: dict[str, Any] = {
            "name": name,
            "line": w.line(path),
            "kind": kind,
            "addresses": host_addresses,
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
        try:
            check_destination(destination, "ssh destination")
        except InputError as error:
            raise w.error((*path, "ssh"), error.message) from None
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


__all__ = ["ANSIBLE_VARS", "HostSpec", "Testbed", "load_testbed"]
