"""`lab:` in a scenario file: one router, a line of routers, or a site lab; parsed once.

    lab: {router: branch.sh}                                   # one router
    lab: {routers: [edge.sh, {name: core, config: core.sh}, far.sh], wan: {after: core, ...}}
    lab: {sites: 3, router: shape.sh}                          # the site lab

Errors are InputErrors whose key is the path under `lab` ('routers.1.config', 'wan.after');
the scenario reader turns them into file:line: key: message.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, QosError, check_key, did_you_mean
from .counters import parse_name
from .mtu import parse_mtu
from .plan import MAX_ROUTERS
from .wan import WanSpec, parse_wan

LAB_KEYS = ("router", "routers", "sites", "wan", "ip", "mtu")
ROUTER_KEYS = ("name", "config")
IP_FAMILIES: dict[Any, tuple[int, ...]] = {
    4: (4,),
    6: (6,),
    "4": (4,),
    "6": (6,),
    "both": (4, 6),
}
MAX_PATH = 4096  # PATH_MAX
_ROUTER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
# A router's name is a part of its metrics' names (router.core.WAN.class.1:20.drops).
_RESERVED = ("lan", "wan", "qdisc", "class", "router", "client", "server", "whole")
_HOP = re.compile(r"^(?:[A-Za-z0-9_-]+\.)?hop\.(\d+)\.")


@dataclass(frozen=True)
class RouterSpec:
    """One router of a line: its name (metrics, reports) and the config it runs (or none)."""

    name: str
    config: Path | None = None


@dataclass(frozen=True)
class LabSpec:
    """`lab:` — client/router(s)/server namespaces, or `sites: N` site namespaces with sshd."""

    router: Path | None
    sites: int | None = None
    wan: WanSpec | None = None  # a WAN hop between a router and the next node
    families: tuple[int, ...] = (4,)  # IP versions each test runs over, in order
    routers: tuple[RouterSpec, ...] = ()  # a line of two or more routers (else `router`)
    wan_after: str | None = None  # the router the WAN hop follows (None: the last)
    mtu: int | None = None  # every lab link's MTU (lab/mtu.py); None: 1500

    @property
    def router_names(self) -> tuple[str, ...]:
        """The routers' names in line order ('' for the one unnamed router)."""
        return tuple(spec.name for spec in self.routers)

    @property
    def hops(self) -> int | None:
        """IP hops from the client to the server (each router, then the server); None for
        a site lab, whose paths the lab alone does not fix."""
        if self.sites:
            return None
        return max(1, len(self.routers)) + 1


def parse_lab(data: dict[str, Any], base: Path) -> LabSpec:
    """The keys of `lab:` (a mapping whose keys the caller checked); configs relative to `base`."""
    sites = data.get("sites")
    if sites is not None and (
        isinstance(sites, bool) or not isinstance(sites, int) or not 2 <= sites <= 32
    ):
        raise InputError(f"sites is a whole number from 2 to 32, got {sites!r}", key="sites")
    if "router" in data and "routers" in data:
        raise InputError(
            "give 'router:' (one router) or 'routers:' (a line of them), not both", key="routers"
        )
    if sites is not None and "routers" in data:
        raise InputError("a site lab has one router ('router:'), not 'routers:'", key="routers")
    routers = _routers(data["routers"], base) if "routers" in data else ()
    wan, after = _wan(data["wan"], routers) if "wan" in data else (None, None)
    mtu = parse_mtu(data["mtu"]) if "mtu" in data else None
    if mtu is not None and sites is not None:
        raise InputError("mtu applies to the router lab, not to sites", key="mtu")
    ip = data.get("ip", 4)
    families = IP_FAMILIES.get(ip) if isinstance(ip, (int, str)) else None
    if families is None or isinstance(ip, bool):
        raise InputError(f"ip is 4, 6 or both, got {ip!r}", key="ip")
    router = data.get("router")
    config = None
    if router is not None:
        if not isinstance(router, str):
            raise InputError("router is the path of an executable config", key="router")
        config = config_path(router, base, "router")
    return LabSpec(config, sites, wan, families, routers, after, mtu)


def config_path(value: str, base: Path, key: str) -> Path:
    """A config path relative to `base`, resolved; InputError at `key` when it cannot be."""
    if "\0" in value or len(value) > MAX_PATH:
        raise InputError(
            f"router config {value[:60]!r} is not a usable path (no NUL characters, "
            f"at most {MAX_PATH} characters)",
            key=key,
        )
    try:
        config = (base / value).resolve()
        exists = config.is_file()
    except (OSError, RuntimeError) as error:  # a name over NAME_MAX, a symlink loop
        raise InputError(f"router config '{value[:60]}' cannot be used: {error}", key=key) from None
    if not exists:
        raise InputError(f"router config '{value}' does not exist (looked for {config})", key=key)
    return config


def _routers(value: Any, base: Path) -> tuple[RouterSpec, ...]:
    """`routers:` — two or more configs (named by their stems) or {name, config} mappings."""
    if not isinstance(value, list):
        raise InputError(
            "routers is a list, client side first, e.g. [edge.sh, core.sh, far.sh]", key="routers"
        )
    if len(value) < 2:
        raise InputError(
            f"a line of routers needs 2 or more; with {len(value)} write 'router: CONFIG' "
            "(one router) instead",
            key="routers",
        )
    if len(value) > MAX_ROUTERS:
        raise InputError(f"at most {MAX_ROUTERS} routers, got {len(value)}", key="routers")
    specs: list[RouterSpec] = []
    for index, item in enumerate(value):
        spec = _router(item, base, f"routers.{index}")
        for earlier, other in enumerate(specs):
            if other.name.lower() == spec.name.lower():
                raise InputError(
                    f"router name '{spec.name}' is taken by routers[{earlier}]; give each its "
                    f"own name, e.g. {{name: {spec.name}2, config: ...}}",
                    key=f"routers.{index}",
                )
        specs.append(spec)
    return tuple(specs)


def _router(item: Any, base: Path, key: str) -> RouterSpec:
    if isinstance(item, str):
        config = config_path(item, base, key)
        return RouterSpec(_name(Path(item).stem, key, "its config file's stem"), config)
    if not isinstance(item, dict):
        raise InputError(
            f"a router is a config path or {{name: NAME, config: PATH}}, got {item!r}", key=key
        )
    for field_name in item:
        try:
            check_key(str(field_name), ROUTER_KEYS, "router")
        except InputError as error:
            raise InputError(error.message, key=f"{key}.{field_name}") from None
    if "name" not in item:
        raise InputError("a router mapping needs 'name:' (and 'config:' to shape)", key=key)
    name = _name(item["name"], f"{key}.name", "its name")
    written = item.get("config")
    if written is not None and not isinstance(written, str):
        raise InputError("config is the path of an executable file", key=f"{key}.config")
    return RouterSpec(name, config_path(written, base, f"{key}.config") if written else None)


def _name(name: Any, key: str, what: str) -> str:
    if not isinstance(name, str) or not _ROUTER_NAME.fullmatch(name):
        raise InputError(
            f"{what} {name!r} is no router name: a letter, then letters, digits, '-' or '_' "
            "(at most 32); write {name: NAME, config: PATH}",
            key=key,
        )
    if name.lower() in _RESERVED:
        raise InputError(
            f"{what} '{name}' is a word of the router metrics' names; call the router "
            f"something else, e.g. {{name: {name}-1, config: ...}}",
            key=key,
        )
    return name


def _wan(value: Any, routers: tuple[RouterSpec, ...]) -> tuple[WanSpec, str | None]:
    """`wan:` with `after: ROUTER` taken out (which router the WAN hop follows)."""
    after = value.get("after") if isinstance(value, dict) else None
    if after is not None:
        names = [spec.name for spec in routers]
        if not names:
            raise InputError(
                "after places the WAN hop in a line of routers ('routers:'); with one router "
                "the hop is always between it and the server",
                key="wan.after",
            )
        if after not in names:
            raise InputError(
                f"after '{after}' names no router of this lab{did_you_mean(str(after), names)} "
                f"(routers: {', '.join(names)})",
                key="wan.after",
            )
        value = {key: item for key, item in value.items() if key != "after"}
    try:
        return parse_wan(value), None if after is None else str(after)
    except InputError as error:
        message = error.message
        if message.startswith("unknown key") and "." not in (error.key or "."):
            message = message.replace("(known: ", "(known: after, ")  # after is ours, not wan.py's
        raise InputError(message, key=f"wan.{error.key}" if error.key else "wan") from None


def bound_problem(lab: LabSpec | None, metric: str) -> str | None:
    """Why this lab cannot measure `metric` (a router counter or a hop), or None."""
    if metric.startswith("router."):
        if lab is None:
            return (
                f"'{metric}' is a counter of the lab router; this file has no 'lab:' "
                "(add 'lab: {router: config.sh}' or remove the bound)"
            )
        try:
            parse_name(metric, lab.router_names)
        except InputError as error:
            return error.message
        return None
    hop = _HOP.match(metric)
    hops = lab.hops if lab is not None else None
    if hop and hops is not None and int(hop.group(1)) > hops:
        return f"hop {hop.group(1)} does not exist: {path_words(lab, hops)}"
    return None


def path_words(lab: LabSpec | None, hops: int) -> str:
    """E.g. 'the lab path has 4 hops (1 edge, 2 core, 3 far, 4 the server)'."""
    names: Collection[str] = lab.router_names if lab is not None and lab.routers else ("router",)
    listed = ", ".join(f"{index} {name}" for index, name in enumerate(names, 1))
    return f"the lab path has {hops} hops ({listed}, {hops} the server)"


def router_overrides(values: Sequence[str] | None) -> tuple[Path | None, dict[str, Path]]:
    """`--qos-router-config` values: one PATH (a one-router lab's config), NAME=PATH per router
    of a line. InputError keyed by the value at fault."""
    single: Path | None = None
    named: dict[str, Path] = {}
    for value in values or ():
        if Path(value).is_file():  # a path, even one with '=' in it
            if single is not None:
                raise InputError(
                    "one PATH replaces a one-router lab's config; give NAME=PATH for the "
                    "routers of a line",
                    key=value,
                )
            single = Path(value).resolve()
            continue
        name, equals, path = value.partition("=")
        if not (equals and _ROUTER_NAME.fullmatch(name)):
            raise InputError("no such file", key=value)
        if not Path(path).is_file():
            raise InputError(f"no such file: {path}", key=value)
        named[name] = Path(path).resolve()
    return single, named


def replace_configs(
    lab: LabSpec, single: Path | None, named: Mapping[str, Path]
) -> tuple[RouterSpec, ...]:
    """A line's routers with `--qos-router-config NAME=PATH` configs in place of their own;
    QosError when the options do not fit the lab (one PATH for a line, a name it lacks)."""
    if not lab.routers:
        if named:
            raise QosError(
                f"--qos-router-config {', '.join(named)}=…: this lab has one router; "
                "give the config's PATH alone"
            )
        return ()
    if single is not None:
        raise QosError(
            f"--qos-router-config PATH replaces a one-router lab's config; this lab has a "
            f"line of routers ({', '.join(lab.router_names)}): give NAME=PATH"
        )
    unknown = [name for name in named if name not in lab.router_names]
    if unknown:
        raise QosError(
            f"--qos-router-config {unknown[0]}=…: no router '{unknown[0]}' in this lab"
            f"{did_you_mean(unknown[0], lab.router_names)} (routers: "
            f"{', '.join(lab.router_names)})"
        )
    return tuple(RouterSpec(r.name, named.get(r.name, r.config)) for r in lab.routers)
