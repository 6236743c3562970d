"""The router lab: client, router and server network namespaces joined by veth pairs.

With `wan=`, a fourth namespace (the WAN hop) sits between router and server and adds delay,
jitter, loss and a rate limit there, outside the router under test (see wan.py).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, MeasurementTimeout, QosError
from ..hosts.endpoints import Completed, Local, Netns, live_processes, wait_until
from ..hosts.target import Target
from ..results import QosResult
from .counters import RouterView, failure_context
from .delaylines import DelayLineError, DelayLines, forget_kept, sweep_stale_state
from .wan import (
    TOWARD_ROUTER,
    WanSpec,
    backend_name,
    bridge_lines,
    choose_backend,
    hop_links,
    server_link,
    tc_lines,
)
from .wanview import DelayLineView

# Every namespace the lab makes is named PREFIX-<owner pid>-<serial>-<role>; the pid lets a
# later session tell a leftover of a SIGKILLed run (owner dead) from a lab in use. The site
# lab (sitelab.py) names its namespaces the same way, with roles router and site<i>.
PREFIX = "qos"
_NAME = re.compile(
    rf"^{PREFIX}-(?P<pid>\d+)-(?P<serial>\d+)-(?P<role>client|router|server|wan|site\d+)$"
)
ROLES = ("client", "router", "server")
WAN_ROLE = "wan"  # the WAN hop between router and server, when the lab has one
COMMAND_TIMEOUT = 10.0  # one `ip`/`tc` command; they take milliseconds
CONFIG_TIMEOUT = 30.0  # the router config as a whole
NETNS_DIR = "/run/netns"  # where `ip netns add` mounts named namespaces
DELETE_TIMEOUT = 5.0  # `ip netns del` is asynchronous; wait this long for the name to go
# One empty file per lab kept after its run (tmpfs, like the namespaces themselves).
KEPT_DIRECTORY = Path("/run/pytest-qos/kept")

# Qdiscs a config may name; kernel_qdiscs() reports which of them this kernel has.
KNOWN_QDISCS = (
    "bfifo",
    "cake",
    "cbs",
    "choke",
    "clsact",
    "codel",
    "drr",
    "etf",
    "ets",
    "fq",
    "fq_codel",
    "fq_pie",
    "gred",
    "hfsc",
    "hhf",
    "htb",
    "ingress",
    "mqprio",
    "multiq",
    "netem",
    "pfifo",
    "pfifo_fast",
    "pie",
    "plug",
    "prio",
    "qfq",
    "red",
    "sfb",
    "sfq",
    "skbprio",
    "taprio",
    "tbf",
)

_serials = iter(range(1, 1_000_000))
_serial_lock = threading.Lock()
_LIVE: weakref.WeakSet[Lab] = weakref.WeakSet()


class LabError(QosError):
    """Building the lab or applying its router config failed; `stderr` is the tool's own."""

    def __init__(self, message: str, stderr: str = "", command: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.command = list(command)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class LabAddresses:
    """The lab's addresses: IPv4 from 198.18.0.0/15, IPv6 from 2001:2::/48 (benchmarking)."""

    client: str = "198.18.1.2"
    router_lan: str = "198.18.1.1"
    router_wan: str = "198.18.2.1"
    server: str = "198.18.2.2"
    client6: str = "2001:2:0:1::2"
    router_lan6: str = "2001:2:0:1::1"
    router_wan6: str = "2001:2:0:2::1"
    server6: str = "2001:2:0:2::2"
    prefix4: int = 24
    prefix6: int = 64


@dataclass(frozen=True)
class LabInterfaces:
    """Interface names inside each namespace; the router config sees lan/wan as $LAN/$WAN."""

    client: str = "eth0"  # client namespace, toward the router
    lan: str = "lan"  # router namespace, toward the client
    wan: str = "wan"  # router namespace, toward the server
    server: str = "eth0"  # server namespace, toward the router


def lab_unavailable_reason() -> str | None:
    """None when this process can build a lab, else what is missing, e.g. 'needs root ...'."""
    if not hasattr(os, "geteuid"):
        return "needs Linux network namespaces (this is not Linux)"
    uid = os.geteuid()
    if uid != 0:
        return f"needs root (running as uid {uid})"
    if shutil.which("ip") is None:
        return "needs the 'ip' command (iproute2)"
    if not os.path.exists("/proc/self/ns/net"):
        return "needs a kernel with network namespaces (no /proc/self/ns/net)"
    return None


@functools.cache
def kernel_qdiscs() -> frozenset[str]:
    """The KNOWN_QDISCS this kernel accepts, probed with tc in a throwaway namespace."""
    tc = shutil.which("tc")
    unshare = shutil.which("unshare")
    if tc is None or unshare is None or lab_unavailable_reason():
        return frozenset()
    # One tc process in a fresh, unnamed namespace (gone when tc exits): -force keeps going
    # after a failed line, and each failure names its line.
    with tempfile.NamedTemporaryFile("w", suffix=".tc") as batch:
        for kind in KNOWN_QDISCS:
            batch.write(f"qdisc add dev lo root {kind}\nqdisc del dev lo root\n")
        batch.flush()
        completed = Local().run(
            [unshare, "--net", tc, "-force", "-batch", batch.name], timeout=COMMAND_TIMEOUT
        )
    unknown: set[str] = set()
    last_error = ""
    for line in completed.stderr.splitlines():
        failed = re.match(r"Command failed \S+:(\d+)", line)
        if not failed:
            last_error = line
            continue
        number = int(failed.group(1))
        # Odd lines add a qdisc; "kind is unknown" is the kernel refusing the kind itself.
        if number % 2 == 1 and "kind is unknown" in last_error:
            unknown.add(KNOWN_QDISCS[(number - 1) // 2])
    return frozenset(kind for kind in KNOWN_QDISCS if kind not in unknown)


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lab_namespaces() -> list[str]:
    """Every namespace on this machine named like a lab's (any owner)."""
    # What `ip netns list` lists, without starting it (10-30 ms on a loaded machine).
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if _NAME.match(name))


def kept_lab_ids() -> set[str]:
    """Ids of labs kept on purpose (--qos-keep-lab): the stale sweep leaves them alone."""
    try:
        return {entry.name for entry in KEPT_DIRECTORY.iterdir()}
    except OSError:
        return set()


def sweep_stale_namespaces() -> list[str]:
    """Delete lab namespaces whose owning process is dead (a SIGKILLed run); return them."""
    stale = []
    kept = kept_lab_ids()
    names = lab_namespaces()
    for name in names:
        match = _NAME.match(name)
        owner_dead = match is not None and not _owner_alive(int(match.group("pid")))
        if owner_dead and name.rsplit("-", 1)[0] not in kept:
            stale.append(name)
    _delete_namespaces(stale)
    # A kept lab removed by hand leaves its mark behind (and its detached delay line, which
    # holds its hop's namespace alive); nothing else would remove them.
    for lab_id in kept - {name.rsplit("-", 1)[0] for name in names}:
        forget_kept(KEPT_DIRECTORY / lab_id)
        with contextlib.suppress(OSError):
            (KEPT_DIRECTORY / lab_id).unlink()
    sweep_stale_state(_owner_alive)  # the delay lines' statistics of dead runs' labs
    return stale


def _delete_namespaces(names: Sequence[str]) -> None:
    """Kill what runs in each namespace, delete it, and wait until its name is gone."""
    if not names:
        return
    # Ours first, by what we started: an `ip netns exec NS ...` spawned a moment ago may not be
    # inside NS yet (it opens the namespace, then joins it), so no /proc scan would find it.
    for process in live_processes():
        argv = process.argv
        if argv[:3] == ["ip", "netns", "exec"] and len(argv) > 3 and argv[3] in names:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    for pid in _pids_in(names):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # One `ip` process for all: `ip netns pids` + `del` per namespace took ~25 ms each.
    lines = "".join(f"netns del {name}\n" for name in names)
    Local().run(["ip", "-force", "-batch", "-"], timeout=COMMAND_TIMEOUT, input=lines)
    wait_until(
        lambda: not any(os.path.exists(f"/run/netns/{name}") for name in names),
        DELETE_TIMEOUT,
        interval=0.005,
    )


def _pids_in(names: Sequence[str]) -> list[int]:
    """Processes inside any of the named namespaces: one pass over /proc (`ip netns pids`)."""
    wanted = set()
    for name in names:
        with contextlib.suppress(OSError):
            info = os.stat(f"/run/netns/{name}")
            wanted.add((info.st_dev, info.st_ino))
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                info = os.stat(f"/proc/{entry}/ns/net")
                if (info.st_dev, info.st_ino) in wanted:
                    found.append(int(entry))
    return found


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, so building or tearing down is never half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _next_serial() -> int:
    with _serial_lock:
        return next(_serials)


class Lab:  # long: the lab's one lifecycle (build, WAN hop, config, counters, teardown)
    """A routed path client → router → server in three namespaces; `destroy()` removes it all."""

    def __init__(self, serial: int, owner: int | None = None) -> None:
        owner = os.getpid() if owner is None else owner
        self.id = f"{PREFIX}-{owner}-{serial}"  # the namespaces' common prefix
        self.name = f"lab-{owner}-{serial}"  # the target's name in reports and path locks
        self.client, self.router, self.server = (f"{self.id}-{role}" for role in ROLES)
        self.addresses = LabAddresses()
        self.interfaces = LabInterfaces()
        self.router_config: Path | None = None
        self.config_result: Completed | None = None  # the config's exit code and output
        self.destroyed = False
        self.wan: WanSpec | None = None  # set by create(wan=...) before building
        self.hop = f"{self.id}-{WAN_ROLE}"  # the WAN hop's namespace (exists only with wan)
        self.wan_backend: str | None = None  # 'netem', 'userspace' or 'bridge'
        self._delay_lines = DelayLines()  # the userspace delay line's processes, if it runs

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The client, router and server namespace names (and the WAN hop's, with a WAN)."""
        core = (self.client, self.router, self.server)
        return (*core, self.hop) if self.wan is not None else core

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles endpoint() accepts: client, router, server (and wan, with a WAN)."""
        return (*ROLES, WAN_ROLE) if self.wan is not None else ROLES

    def endpoint(self, role: str) -> Netns:
        """Where to run a process: 'client', 'router', 'server' (or 'wan', the WAN hop)."""
        if role not in self.roles:
            raise InputError(f"lab role '{role}' is not one of {', '.join(self.roles)}", key="role")
        return Netns(f"{self.id}-{role}")

    @property
    def wan_description(self) -> str | None:
        """E.g. 'userspace delay line (C engine, AF_PACKET): 20 ms each way'; None without WAN."""
        if self.wan is None or self.wan_backend is None:
            return None
        return f"{backend_name(self.wan_backend, self._delay_lines.engine)}: {self.wan.describe()}"

    def target(self, ipv6: bool = False) -> Target:
        """The path across the router: clients in the client namespace, servers in the server's."""
        host = self.addresses.server6 if ipv6 else self.addresses.server
        return Target(
            name=self.name,
            host=host,
            client=self.endpoint("client"),
            server=self.endpoint("server"),
            bind=host,
            observers=[self.router_view(), *self._delay_line_view()],
            requires=f"as root, while the namespaces {self.id}-{{client,router,server}} of this "
            "run exist (pytest --qos-keep-lab keeps them)",
        )

    def _delay_line_view(self) -> list[DelayLineView]:
        """The delay line's own counts, if one runs: a test it could not carry is an error."""
        if self.wan_backend != "userspace":
            return []
        return [DelayLineView(self._delay_lines, self.wan_description)]

    def router_view(self) -> RouterView:
        """Reads the router's qdisc and class counters on LAN and WAN (see router_counters)."""
        return RouterView(
            self.endpoint("router"),
            {"LAN": self.interfaces.lan, "WAN": self.interfaces.wan},
            self.wan_description,
        )

    @classmethod
    def create(
        cls,
        router_config: Path | str | None = None,
        *,
        config_timeout: float = CONFIG_TIMEOUT,
        wan: WanSpec | None = None,
    ) -> Lab:
        """Sweep leftovers of dead sessions, build the topology, apply `router_config` if any.

        With `wan`, a WAN hop between router and server emulates it (netem when the kernel
        has it, else the userspace delay line); `lab.wan_backend` says which.
        """
        config = _checked_config(router_config) if router_config is not None else None
        reason = lab_unavailable_reason()
        if reason:
            raise LabError(f"the router lab {reason}")
        backend = choose_backend(wan, "netem" in kernel_qdiscs()) if wan is not None else None
        sweep_stale_namespaces()
        lab = cls(_next_serial())
        lab.wan, lab.wan_backend = wan, backend
        _LIVE.add(lab)
        try:
            with _no_interrupts():
                lab._build()
            if config is not None:
                lab.apply(config, timeout=config_timeout)
        except BaseException:
            lab.destroy()
            raise
        return lab

    def _build(self) -> None:
        """Namespaces, veth pairs, addresses, routes and forwarding; 50-80 ms."""
        a, i = self.addresses, self.interfaces
        p4, p6 = a.prefix4, a.prefix6
        self._ip_batch(None, [f"netns add {name}" for name in self.namespaces])
        _set_sysctls(self)
        # With a WAN, the router's wan interface leads to the hop, and the hop to the server.
        wan_peer = (
            f"{TOWARD_ROUTER} netns {self.hop}"
            if self.wan is not None
            else f"{i.server} netns {self.server}"
        )
        self._ip_batch(
            self.router,
            [
                f"link add {i.lan} type veth peer name {i.client} netns {self.client}",
                f"link add {i.wan} type veth peer name {wan_peer}",
                *([server_link(self.hop, self.server, i.server)] if self.wan is not None else []),
                f"addr add {a.router_lan}/{p4} dev {i.lan}",
                f"addr add {a.router_wan}/{p4} dev {i.wan}",
                # nodad: the addresses are usable at once instead of after ~1 s of DAD.
                f"addr add {a.router_lan6}/{p6} dev {i.lan} nodad",
                f"addr add {a.router_wan6}/{p6} dev {i.wan} nodad",
                "link set lo up",
                f"link set {i.lan} up",
                f"link set {i.wan} up",
            ],
        )
        if self.wan is not None:
            _build_hop(self)
        for namespace, device, address, address6, gateway, gateway6 in (
            (self.client, i.client, a.client, a.client6, a.router_lan, a.router_lan6),
            (self.server, i.server, a.server, a.server6, a.router_wan, a.router_wan6),
        ):
            self._ip_batch(
                namespace,
                [
                    f"addr add {address}/{p4} dev {device}",
                    f"addr add {address6}/{p6} dev {device} nodad",
                    "link set lo up",
                    f"link set {device} up",
                    f"route add default via {gateway}",
                    f"route add default via {gateway6}",
                ],
            )
        try:
            self._delay_lines.wait_ready()
        except DelayLineError as error:
            raise LabError(str(error), error.output, error.command) from None

    def delay_line_report(self) -> str:
        """What the delay line printed (its counters, once stopped); '' without one."""
        return self._delay_lines.report()

    def explain(self, cause: QosError | None = None) -> QosError | None:
        """The error naming the lab's own processes (a WAN delay line) that died, if any did,
        with `cause` (the test's own error) in it; else `cause`."""
        return self._delay_lines.explain(cause)

    def stop_delay_line(self) -> str:
        """Stop the delay line (it prints its counters and lateness) and return its output."""
        self._delay_lines.stop(grace=2.0)
        return self.delay_line_report()

    def _ip_batch(self, namespace: str | None, lines: list[str]) -> None:
        """Run `ip` commands in one process (in `namespace`, or here); fail on the first error."""
        endpoint = Netns(namespace) if namespace else Local()
        completed = endpoint.run(
            ["ip", "-batch", "-"], timeout=COMMAND_TIMEOUT, input="\n".join(lines) + "\n"
        )
        self._check(completed, "building the lab", lines)

    @staticmethod
    def _check(completed: Completed, doing: str, lines: Sequence[str] = ()) -> None:
        if completed.returncode != 0:
            failed = re.search(r"Command failed \S+:(\d+)", completed.stderr)
            line = lines[int(failed.group(1)) - 1] if failed and lines else " ".join(completed.argv)
            raise LabError(
                f"{doing} failed at '{line}': {completed.stderr.strip() or 'no output'}",
                completed.stderr,
                completed.argv,
            )

    def environment(self) -> dict[str, str]:
        """The variables a router config sees: interface names and the lab's addresses."""
        a, i = self.addresses, self.interfaces
        return {
            "LAN": i.lan,
            "WAN": i.wan,
            "LAN_ADDR": a.router_lan,
            "WAN_ADDR": a.router_wan,
            "CLIENT_ADDR": a.client,
            "SERVER_ADDR": a.server,
            "CLIENT_ADDR6": a.client6,
            "SERVER_ADDR6": a.server6,
            "LAB_ROUTER_NETNS": self.router,
        }

    def apply(self, router_config: Path | str, timeout: float = CONFIG_TIMEOUT) -> Completed:
        """Reset the router's qdiscs and firewall, then run `router_config` inside the router."""
        config = _checked_config(router_config)
        if self.router_config is not None:
            self.reset_router()
        try:
            # The environment as env=, never as an `env` argv: that would read a config path
            # containing '=' as one more assignment and never run it.
            completed = self.endpoint("router").run([str(config)], timeout, env=self.environment())
        except MeasurementTimeout as error:
            self.router_config = config  # whatever it did before it was killed is reset next
            raise LabError(
                f"router config {config} did not finish within {timeout:.0f} s and was killed",
                command=error.command,
            ) from None
        self.router_config = config
        self.config_result = completed
        if completed.returncode != 0:
            raise LabError(_config_failure(config, completed), completed.stderr, completed.argv)
        return completed

    def reset_router(self) -> None:
        """Remove what a config set up: root and ingress qdiscs on both sides, nft rules."""
        router = self.endpoint("router")
        for device in (self.interfaces.lan, self.interfaces.wan):
            for parent in ("root", "ingress"):
                # Deleting an absent qdisc fails harmlessly ("Cannot delete qdisc ...").
                router.run(["tc", "qdisc", "del", "dev", device, parent], timeout=COMMAND_TIMEOUT)
        if shutil.which("nft"):
            router.run(["nft", "flush", "ruleset"], timeout=COMMAND_TIMEOUT)
        self.router_config = None

    def qdiscs(self) -> str:
        """`tc -s qdisc show` of the router's interfaces (for failure reports)."""
        router = self.endpoint("router")
        shown = []
        for device in (self.interfaces.lan, self.interfaces.wan):
            completed = router.run(["tc", "-s", "qdisc", "show", "dev", device], COMMAND_TIMEOUT)
            shown.append(f"{device}:\n{completed.stdout.rstrip()}")
        return "\n".join(shown)

    def failure_context(self, result: QosResult | None = None) -> str:
        """What a failing lab test shows: the router's counters during it, and its filters."""
        return failure_context(self.router_view(), result, self.qdiscs)

    def destroy(self) -> None:
        """Kill what runs in the namespaces, delete them (their qdiscs go too); idempotent."""
        if self.destroyed:
            return
        with _no_interrupts():
            existing = [name for name in self.namespaces if os.path.exists(f"/run/netns/{name}")]
            _delete_namespaces(existing)
            # Killed with its namespace above; this only reaps it.
            self._delay_lines.close()
            self.destroyed = True
        _LIVE.discard(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def __repr__(self) -> str:
        return f"Lab({self.id!r}, router_config={self.router_config})"


def keep_lab(lab: Lab) -> str:
    """Leave `lab` in place after this process ends, marked so no stale sweep takes it.

    Its processes are the caller's to stop first; what runs in it afterwards is the user's,
    but for its WAN delay line, restarted detached so it outlives this process. The mark
    records the lab's namespaces and processes. Returns the command that removes it all.
    """
    _LIVE.discard(lab)
    lab.destroyed = True  # destroy() is now a no-op: the namespaces are the user's
    processes = lab._delay_lines.keep(lab.endpoint(WAN_ROLE)) if lab.wan else []
    with contextlib.suppress(OSError):
        KEPT_DIRECTORY.mkdir(parents=True, exist_ok=True)
        record = {"namespaces": list(lab.namespaces), "processes": processes}
        (KEPT_DIRECTORY / lab.id).write_text(json.dumps(record, indent=1))
    return f"{shlex.quote(sys.executable)} -m pytest_qos lab remove {lab.id}"


def _checked_config(router_config: Path | str) -> Path:
    """The config as an absolute path, or InputError saying why it cannot run."""
    path = Path(router_config).expanduser()
    if not path.is_file():
        raise InputError(
            f"router config {path} does not exist (give a path to an executable file, "
            "relative to the scenario file or absolute)",
            key="lab.router",
        )
    if not os.access(path, os.X_OK):
        raise InputError(
            f"router config {path} is not executable: run 'chmod +x {path}' and give it "
            "a '#!' line such as '#!/bin/sh'",
            key="lab.router",
        )
    return path.resolve()


def _config_failure(config: Path, completed: Completed) -> str:
    """The config's own stderr, plus which qdisc the kernel lacks when that is why it failed."""
    stderr = completed.stderr.strip()
    said = stderr or completed.stdout.strip() or "no output"
    message = f"router config {config} failed (exit {completed.returncode}): {said}"
    if "kind is unknown" not in stderr and "Unknown qdisc" not in stderr:
        return message
    available = kernel_qdiscs()
    try:
        text = config.read_text(errors="replace")
    except OSError:
        text = ""
    missing = [
        kind
        for kind in KNOWN_QDISCS
        if kind not in available and re.search(rf"(?<![\w-]){kind}(?![\w-])", text)
    ]
    has = ", ".join(sorted(available)) or "unknown"
    if missing:
        names = ", ".join(f"'{kind}'" for kind in missing)
        noun = "qdisc" if len(missing) == 1 else "qdiscs"
        return (
            f"router config {config} needs the {names} {noun}, which this kernel lacks "
            f"(it has: {has}); load the module (e.g. 'modprobe sch_{missing[0]}') or use a "
            f"config without it. The config printed: {said}"
        )
    return (
        f"router config {config} asked for a qdisc kind this kernel lacks (it has: {has}). "
        f"The config printed: {said}"
    )


def _set_sysctls(lab: Lab) -> None:
    """Forwarding in the router; no DAD in client, router and server; no IPv6 in the hop."""
    # Without DAD the link-local addresses neighbour discovery needs are usable at once,
    # not ~2 s later; set before the veths exist so they inherit it.
    no_dad = ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
    forwarding = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]
    # The WAN hop is no host: no IPv6 of its own (no router solicitations, no ND).
    no_ipv6 = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]
    # The delay line disables IPv6 and sets its interfaces up itself: one process less.
    roles = ROLES if lab.wan_backend == "userspace" else lab.roles
    # One sysctl per namespace, all at once: on a loaded machine each start costs 10-30 ms.
    running = []
    try:
        for role in roles:
            settings = {"router": no_dad + forwarding, WAN_ROLE: no_ipv6}.get(role, no_dad)
            argv = ["sysctl", "-q", "-w", *settings]
            running.append((role, settings, lab.endpoint(role).spawn(argv)))
        for role, settings, process in running:
            out, err = process.communicate(COMMAND_TIMEOUT)
            lab._check(
                Completed(process.argv, process.returncode or 0, out, err),
                f"setting {', '.join(settings)} in the {role} namespace",
            )
    finally:
        for _role, _settings, process in running:
            process.stop()


def _build_hop(lab: Lab) -> None:
    """The WAN hop: its server-side veth, then netem, a bridge or the delay line."""
    assert lab.wan is not None
    backend = lab.wan_backend
    if backend != "userspace":
        lab._ip_batch(lab.hop, hop_links() + bridge_lines())
    tc = tc_lines(lab.wan, backend or "")
    if tc:
        completed = lab.endpoint(WAN_ROLE).run(
            ["tc", "-batch", "-"], timeout=COMMAND_TIMEOUT, input="\n".join(tc) + "\n"
        )
        lab._check(completed, "setting up the WAN hop", tc)
    if backend == "userspace":
        # Started now, waited for at the end of _build: their start overlaps the rest.
        lab._delay_lines.start(lab.endpoint(WAN_ROLE), lab.wan)


@atexit.register
def _destroy_all() -> None:
    """Last line of defence: a lab still alive when Python exits is torn down."""
    for lab in list(_LIVE):
        with contextlib.suppress(Exception):
            lab.destroy()
