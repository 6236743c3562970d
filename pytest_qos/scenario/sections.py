"""Readers of a scenario file's sections beside its tests: target, lab, path and mesh, defaults."""

from __future__ import annotations

import re
from typing import Any

from ..hosts.names import check_host
from ..hosts.target import RESPONDER_PORT
from ..lab.spec import LAB_KEYS, LabSpec, parse_lab
from ..measure.traffic import TRAFFIC_KEYS, Traffic
from ..units import whole_number
from ..yamldoc import KeyPath, dotted
from .section import Section, describe
from .spec import HostRef, MeshSpec, PathSpec, TargetSpec

TARGET_KEYS = ("host", "port", "ports", "responder_port")
PATH_KEYS = ("from", "to")
MESH_KEYS = ("hosts", "group", "from", "to")
DEFAULT_KEYS = (*TRAFFIC_KEYS, "repeat", "settle")
MAX_PORTS = 64
DEFAULT_PORT = 5201


class TargetReader(Section):
    """`target: local` or `{host, port | ports, responder_port}`."""

    def read(self, value: Any) -> TargetSpec:
        """The target section (absent: local)."""
        path: KeyPath = ("target",)
        if value is None or value == "local":
            return TargetSpec()
        if isinstance(value, str):
            raise self.error(
                path,
                f"target '{value}' is not 'local' nor a mapping; write "
                "'target: local' or 'target: {host: 198.18.1.2, port: 5201}'",
            )
        data = self.mapping(value, path, "'target'")
        self.known_keys(data, TARGET_KEYS, path, "'target'")
        host = data.get("host")
        if not isinstance(host, str) or not host:
            raise self.error(
                path,
                "a target mapping needs 'host:' (the address iperf3 "
                "servers run at), e.g. {host: 198.18.1.2, port: 5201}",
            )
        self.guard((*path, "host"), lambda: check_host(host))
        if "port" in data and "ports" in data:
            raise self.error((*path, "ports"), "give 'port' or 'ports', not both")
        if "port" in data:
            ports: tuple[int, ...] = (self.port(data["port"], (*path, "port")),)
        elif "ports" in data:
            ports = self.port_range(data["ports"], (*path, "ports"))
        else:
            ports = (DEFAULT_PORT,)
        responder = self.port(data.get("responder_port", RESPONDER_PORT), (*path, "responder_port"))
        return TargetSpec(host=host, ports=ports, responder_port=responder)

    def port(self, value: Any, path: KeyPath) -> int:
        """A TCP/UDP port number."""
        return self.guard(path, lambda: whole_number(value, 1, 65535, "a port"))

    def port_range(self, value: Any, path: KeyPath) -> tuple[int, ...]:
        """`5201-5204`, or a list of ports."""
        if isinstance(value, list):
            if not 1 <= len(value) <= MAX_PORTS:
                raise self.error(
                    path, f"ports lists 1 to {MAX_PORTS} ports (one server each), got {len(value)}"
                )
            return tuple(self.port(item, (*path, str(i))) for i, item in enumerate(value))
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(value))
        if not match:
            raise self.error(path, f"ports '{value}' is not a range like '5201-5204' nor a list")
        low, high = (self.port(int(group), path) for group in match.groups())
        if not low <= high or high - low >= MAX_PORTS:
            raise self.error(path, f"ports '{value}' must run low-high, at most {MAX_PORTS} ports")
        return tuple(range(low, high + 1))


class LabReader(Section):
    """`lab: {router: CONFIG | routers: [...], wan: {...}, ip: 4 | 6 | both, mtu: N}` or
    `{sites: N}`: parsed by lab/spec.py, its errors at their line here."""

    def read(self, value: Any) -> LabSpec:
        """The lab section; router configs are relative to the scenario file."""
        if value is None:
            return LabSpec(router=None)
        data = self.mapping(value, ("lab",), "'lab'")
        self.known_keys(data, LAB_KEYS, ("lab",), "'lab'")
        lab: LabSpec = self.guard(("lab",), lambda: parse_lab(data, self.document.path.parent))
        return lab


class PlacesReader(Section):
    """`path: {from, to}` (per file or per test) and `mesh:`: host names of the testbed."""

    def ref(self, value: Any, path: KeyPath) -> HostRef:
        """A host (or group) name."""
        if not isinstance(value, str) or not value:
            raise self.error(path, f"a host name from the testbed, got {describe(value)}")
        return HostRef(value, self.line(path), dotted(path))

    def refs(self, value: Any, path: KeyPath) -> tuple[HostRef, ...]:
        """One name or a list of names."""
        if isinstance(value, list):
            if not value:
                raise self.error(path, "give at least one host")
            return tuple(self.ref(item, (*path, str(i))) for i, item in enumerate(value))
        return (self.ref(value, path),)

    def path(self, value: Any, path: KeyPath) -> PathSpec:
        """`path: {from: A, to: B}`."""
        data = self.mapping(value, path, "'path'")
        self.known_keys(data, PATH_KEYS, path, "'path'")
        if "to" not in data:
            raise self.error(path, "a path needs 'to:' (the host servers run at)")
        from_ = self.ref(data["from"], (*path, "from")) if "from" in data else None
        return PathSpec(to=self.ref(data["to"], (*path, "to")), from_=from_)

    def mesh(self, value: Any) -> MeshSpec:
        """`mesh: {hosts: [...]}`, `{group: G}` or `{from: ..., to: ...}`."""
        path: KeyPath = ("mesh",)
        data = self.mapping(value, path, "'mesh'")
        self.known_keys(data, MESH_KEYS, path, "'mesh'")
        ways = [k for k in ("hosts", "group") if k in data] + (
            ["from/to"] if {"from", "to"} & set(data) else []
        )
        if len(ways) != 1:
            raise self.error(
                path,
                "give one of 'hosts: [A, B, C]', 'group: NAME' or 'from: ... to: ...'",
            )
        if "hosts" in data:
            return MeshSpec(hosts=self.refs(data["hosts"], (*path, "hosts")))
        if "group" in data:
            return MeshSpec(hosts=(self.ref(data["group"], (*path, "group")),))
        if not {"from", "to"} <= set(data):
            raise self.error(path, "a from/to mesh needs both 'from:' and 'to:'")
        return MeshSpec(
            from_=self.refs(data["from"], (*path, "from")),
            to=self.refs(data["to"], (*path, "to")),
        )


class DefaultsReader(Section):
    """`defaults:` — traffic keys (and repeat, settle) applied to every test."""

    def read(self, value: Any) -> dict[str, Any]:
        """The defaults as written (each test reads them as its own keys)."""
        if value is None:
            return {}
        data = self.mapping(value, ("defaults",), "'defaults'")
        self.known_keys(data, DEFAULT_KEYS, ("defaults",), "'defaults'")
        traffic_defaults = {k: v for k, v in data.items() if k in TRAFFIC_KEYS}
        self.guard(("defaults",), lambda: Traffic.from_options(traffic_defaults))
        return data
