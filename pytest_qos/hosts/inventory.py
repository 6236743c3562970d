"""Ansible YAML inventories as testbeds: groups, children, group and host variables.

Every value is checked where it was written: an error names the file, the line and the key
path of the variable at fault (`all.children.web.hosts.branch1.ansible_port`), whether it was
given for the host or inherited from a group.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, ScenarioError, did_you_mean
from ..yamldoc import KeyPath, LocatedYaml
from .hostspec import HostSpec, Testbed, addresses
from .names import check_destination

ANSIBLE_VARS = {
    "ansible_host": "where ssh connects (default: the host's name)",
    "ansible_user": "ssh user",
    "ansible_port": "ssh port",
    "ansible_ssh_private_key_file": "identity file",
    "ansible_ssh_common_args": "extra ssh arguments (-o Key=Value, -J JUMP, -p PORT, ...)",
    "ansible_connection": "'local' for this machine (ssh otherwise)",
    "ansible_python_interpreter": "python3 on the host",
    "qos_address": "the data-plane address measured to (default: ansible_host)",
    "qos_iperf3": "iperf3 on the host",
}
GROUP_KEYS = ("hosts", "children", "vars")
SSH_CONNECTIONS = ("ssh", "smart", "paramiko")
# ssh options ansible_ssh_common_args may hold, as the `-o` settings they stand for.
_WITH_VALUE = {"-o": "", "-J": "ProxyJump", "-p": "Port", "-i": "IdentityFile", "-l": "User"}
_FLAGS = {
    "-4": "AddressFamily=inet",
    "-6": "AddressFamily=inet6",
    "-C": "Compression=yes",
    "-q": "LogLevel=QUIET",
}


@dataclass(frozen=True)
class Var:
    """One variable's value and the key path it was written at."""

    value: Any
    path: KeyPath


@dataclass(frozen=True)
class SshArgs:
    """What ansible_ssh_common_args says: `-o` settings, and a port if it gives one."""

    options: tuple[str, ...]
    port: int | None


class AnsibleInventory:
    """An Ansible YAML inventory: groups of hosts with connection variables."""

    def __init__(self, where: LocatedYaml) -> None:
        self.where = where
        self.vars: dict[str, dict[str, Var]] = {}
        self.lines: dict[str, int] = {}
        self.paths: dict[str, KeyPath] = {}
        self.groups: dict[str, list[str]] = {}

    def testbed(self) -> Testbed:
        """The testbed this inventory describes."""
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

    def mapping(self, value: Any, path: KeyPath, what: str) -> dict[str, Any]:
        """`value` as a mapping with text keys ({} for an empty key), or an error at `path`."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.where.error(path, f"{what}, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.where.error((*path, str(key)), f"{what}; the key {key!r} is not text")
        return value

    def group(self, name: str, data: Any, path: KeyPath, inherited: dict[str, Var]) -> list[str]:
        """Hosts of group `name` (children included); host vars override group vars."""
        data = self.mapping(data, path, "an inventory group is a mapping (hosts, children, vars)")
        for key in data:
            if key not in GROUP_KEYS:
                raise self.where.error(
                    (*path, key),
                    f"unknown inventory key '{key}'{did_you_mean(key, GROUP_KEYS)} "
                    f"(known: {', '.join(GROUP_KEYS)})",
                )
        own = self.mapping(
            data.get("vars"), (*path, "vars"), "'vars:' maps variable names to values"
        )
        variables = {**inherited, **{k: Var(v, (*path, "vars", k)) for k, v in own.items()}}
        hosts = self.mapping(
            data.get("hosts"),
            (*path, "hosts"),
            "'hosts:' maps host names to their variables, e.g. {branch1: {ansible_host: "
            "198.18.10.2}} (a list is not an inventory's form)",
        )
        members: list[str] = []
        for host, host_data in hosts.items():
            at = (*path, "hosts", host)
            values = self.mapping(host_data, at, "a host's variables are a mapping (or nothing)")
            written = {key: Var(value, (*at, key)) for key, value in values.items()}
            self.vars[host] = {**variables, **self.vars.get(host, {}), **written}
            self.lines.setdefault(host, self.where.line(at))
            self.paths.setdefault(host, at)
            members.append(host)
        children = self.mapping(
            data.get("children"), (*path, "children"), "'children:' maps group names to groups"
        )
        for child, child_data in children.items():
            members += self.group(child, child_data, (*path, "children", child), variables)
        self.groups.setdefault(name, []).extend(members)
        return members

    def error(self, var: Var, message: str) -> ScenarioError:
        """An error at the line and key path where `var` was written."""
        return self.where.error(var.path, message)

    def text(self, variables: dict[str, Var], key: str) -> str | None:
        """A variable that must be non-empty text (a user, a path), or None when not set."""
        var = variables.get(key)
        if var is None or var.value is None:
            return None
        if not isinstance(var.value, str) or not var.value or not var.value.isprintable():
            raise self.error(
                var, f"{key} is one line of text ({ANSIBLE_VARS[key]}), got {_kind(var.value)}"
            )
        return var.value

    def port(self, variables: dict[str, Var]) -> int | None:
        """ansible_port: a whole number (or its digits as text) from 1 to 65535."""
        var = variables.get("ansible_port")
        if var is None or var.value is None:
            return None
        value = var.value
        if isinstance(value, str) and value.strip().isdigit() and len(value) < 8:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.error(var, f"a port is a whole number from 1 to 65535, got {value!r}"[:160])
        return value

    def destination(self, name: str, variables: dict[str, Var]) -> str:
        """Where ssh connects: ansible_host, else the host's own name."""
        var = variables.get("ansible_host") or Var(name, self.paths[name])
        what = "ansible_host" if "ansible_host" in variables else "the host name (no ansible_host)"
        if isinstance(var.value, list):
            raise self.error(
                var,
                "ansible_host is one address or name (where ssh connects), "
                "not a list; list data-plane addresses in qos_address",
            )
        try:
            return check_destination(var.value, what)
        except InputError as error:
            raise self.error(var, error.message) from None

    def ssh_args(self, variables: dict[str, Var]) -> SshArgs:
        """ansible_ssh_common_args as ssh `-o` settings (and -p as the port)."""
        var = variables.get("ansible_ssh_common_args")
        if var is None or var.value is None:
            return SshArgs((), None)
        if not isinstance(var.value, str):
            raise self.error(var, f"ansible_ssh_common_args is text, got {_kind(var.value)}")
        try:
            return parse_ssh_args(var.value)
        except InputError as error:
            raise self.error(var, error.message) from None

    def host(self, name: str, variables: dict[str, Var]) -> HostSpec:
        """One host's spec from its merged variables."""
        for key, var in variables.items():
            if key.startswith("qos_") and key not in ANSIBLE_VARS:
                raise self.error(
                    var,
                    f"unknown variable{did_you_mean(key, ANSIBLE_VARS)} "
                    f"(pytest-qos reads: {', '.join(ANSIBLE_VARS)})",
                )
        common = self.common(name, variables)
        connection = self.text(variables, "ansible_connection") or "ssh"
        if connection == "local":
            return HostSpec(kind="local", **common)
        if connection not in SSH_CONNECTIONS:
            raise self.error(
                variables["ansible_connection"],
                f"ansible_connection '{connection}' is not one pytest-qos can use; it reaches "
                "hosts with ssh or runs them here ('local')",
            )
        args = self.ssh_args(variables)
        port = self.port(variables)
        if port is not None and args.port is not None and port != args.port:
            raise self.error(
                variables["ansible_ssh_common_args"],
                f"-p {args.port} disagrees with ansible_port {port}; give the port once",
            )
        return HostSpec(
            kind="ssh",
            destination=self.destination(name, variables),
            port=port if port is not None else args.port,
            user=self.text(variables, "ansible_user"),
            identity_file=self.text(variables, "ansible_ssh_private_key_file"),
            ssh_options=args.options,
            **common,
        )

    def common(self, name: str, variables: dict[str, Var]) -> dict[str, Any]:
        """HostSpec fields every kind of host has: name, line, addresses, tools."""
        raw = variables.get("qos_address") or variables.get("ansible_host")
        if raw is None:
            raise self.where.error(
                self.paths[name],
                "needs 'qos_address' (or an 'ansible_host' IP): the address measured to",
            )
        return {
            "name": name,
            "line": self.lines[name],
            "addresses": addresses(self.where, raw.value, raw.path),
            "iperf3": self.text(variables, "qos_iperf3"),
            "python": self.text(variables, "ansible_python_interpreter"),
        }


def parse_ssh_args(text: str) -> SshArgs:
    """`-o K=V -J jump -p 2222 ...` as `-o` settings; what cannot be kept is an InputError."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise InputError(f"cannot be split into words as a shell would ({error})") from None
    options: list[str] = []
    port: int | None = None
    index = 0
    while index < len(words):  # bounded: every pass consumes at least one word
        word = words[index]
        flag, attached = word[:2], word[2:]
        if word in _FLAGS:
            options.append(_FLAGS[word])
            index += 1
            continue
        if flag not in _WITH_VALUE or not word.startswith("-"):
            raise InputError(
                f"'{word[:40]}' is not an ssh option pytest-qos can pass on; it keeps "
                f"-o KEY=VALUE, -J JUMP, -p PORT, -i FILE, -l USER, {', '.join(_FLAGS)}"
            )
        if attached:
            value, index = attached, index + 1
        elif index + 1 < len(words):
            value, index = words[index + 1], index + 2
        else:
            raise InputError(f"'{word}' needs a value after it")
        if flag == "-p":
            if not (value.isdigit() and 1 <= int(value[:6]) <= 65535):
                raise InputError(f"-p takes a port from 1 to 65535, got {value[:20]!r}")
            port = int(value)
            continue
        options.append(_option(flag, value))
    return SshArgs(tuple(options), port)


def _option(flag: str, value: str) -> str:
    """`-o VALUE` as given, or a flag's value as its `-o` setting; checked for option syntax."""
    if flag == "-J":
        for jump in value.split(","):
            check_destination(jump.rsplit(":", 1)[0] if jump.count(":") == 1 else jump, "-J")
    if value.startswith("-") or not value.isprintable() or not value.strip():
        raise InputError(f"{flag} takes a value, got {value[:40]!r}")
    if flag == "-o":
        if "=" not in value and " " not in value.strip():
            raise InputError(f"-o takes KEY=VALUE, got {value[:40]!r}")
        return value
    return f"{_WITH_VALUE[flag]}={value}"


def _kind(value: Any) -> str:
    """How an error names a wrong value: 'a list', "the text 'x'", ..."""
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return f"the number {str(value)[:40]}"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


__all__ = ["ANSIBLE_VARS", "AnsibleInventory", "parse_ssh_args"]
