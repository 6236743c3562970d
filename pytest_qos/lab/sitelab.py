"""The site lab: N site namespaces behind one router namespace, each running a real sshd.

Every site is reached the way a real branch is: `ssh` with a generated key, through the
testbed file the lab writes. Only the ssh *control* connection enters the lab through a relay
in the router namespace (a jump host, in effect); measured traffic flows site to site.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..hosts.endpoints import Local, Netns, Process, listening_in, wait_until
from ..hosts.ssh import MUX, Ssh
from .configs import CONFIG_TIMEOUT, LabError, checked_config, lab_unavailable_reason
from .namespaces import (
    COMMAND_TIMEOUT,
    PREFIX,
    delete_namespaces,
    next_serial,
    no_interrupts,
    owner_alive,
    sweep_stale_namespaces,
)

SSHD = "/usr/sbin/sshd"
SSHD_START_TIMEOUT = 10.0
MAX_SITES = 32
DEFAULT_SITES = 3
_LIVE: weakref.WeakSet[SiteLab] = weakref.WeakSet()

# Copies bytes between ssh (stdin/stdout) and a TCP connection made inside the router's
# namespace; exits when either side closes. ssh runs it as its ProxyCommand.
RELAY = """\
import os, select, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.settimeout(None)
open_fds = [0, s.fileno()]
while s.fileno() in open_fds:
    readable, _, _ = select.select(open_fds, [], [])
    if 0 in readable:
        data = os.read(0, 65536)
        if data:
            s.sendall(data)
        else:
            s.shutdown(socket.SHUT_WR)
            open_fds.remove(0)
    if s.fileno() in readable:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
"""


def sites_unavailable_reason() -> str | None:
    """None when a site lab can be built here, else what is missing."""
    reason = lab_unavailable_reason()
    if reason:
        return reason
    if not os.access(SSHD, os.X_OK):
        return f"needs OpenSSH's sshd at {SSHD} (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs '{tool}' (apt-get install openssh-client)"
    return None


@dataclass(frozen=True)
class Site:
    """One site: its testbed name, namespace, address, and router-side interface."""

    name: str  # "site1"
    namespace: str
    address: str  # 198.19.<i>.2
    gateway: str  # 198.19.<i>.1, the router's side
    interface: str  # the router's interface toward this site


class SiteLab:
    """N sites behind a router; `testbed` is the generated file; `destroy()` removes it all."""

    def __init__(self, count: int, serial: int) -> None:
        owner = os.getpid()
        self.id = f"{PREFIX}-{owner}-{serial}"
        self.router = f"{self.id}-router"
        self.sites = [
            Site(f"site{i}", f"{self.id}-site{i}", f"198.19.{i}.2", f"198.19.{i}.1", f"site{i}")
            for i in range(1, count + 1)
        ]
        self.directory = Path(tempfile.mkdtemp(prefix=f"pytest-qos-sites-{owner}-{serial}-"))
        self.testbed = self.directory / "testbed.yaml"
        self.ssh_config = self.directory / "ssh_config"
        self.sshd: dict[str, Process] = {}
        self.router_config: Path | None = None
        self.destroyed = False

    @property
    def namespaces(self) -> list[str]:
        """The router's and every site's namespace."""
        return [self.router, *(site.namespace for site in self.sites)]

    @classmethod
    def create(cls, sites: int = DEFAULT_SITES, router_config: Path | str | None = None) -> SiteLab:
        """Sweep leftovers, build namespaces, start each site's sshd, write the testbed."""
        if not 2 <= sites <= MAX_SITES:
            raise InputError(f"a site lab has 2 to {MAX_SITES} sites, not {sites}", key="sites")
        config = checked_config(router_config) if router_config is not None else None
        reason = sites_unavailable_reason()
        if reason:
            raise LabError(f"the site lab {reason}")
        sweep_stale_namespaces()
        _sweep_stale_directories()
        lab = cls(sites, next_serial())
        _LIVE.add(lab)
        try:
            with no_interrupts():
                lab._build()
                lab._keys_and_files()
            lab._start_sshds()
            if config is not None:
                lab.apply(config)
        except BaseException:
            lab.destroy()
            raise
        return lab

    def _ip_batch(self, namespace: str | None, lines: list[str]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".ip") as batch:
            batch.write("\n".join(lines) + "\n")
            batch.flush()
            argv = ["ip", *(["-n", namespace] if namespace else []), "-batch", batch.name]
            done = Local().run(argv, timeout=COMMAND_TIMEOUT)
            if done.returncode != 0:
                raise LabError(f"building the site lab failed: {done.stderr.strip()}", done.stderr)

    def _build(self) -> None:
        """Namespaces, one veth per site to the router, addresses, routes, forwarding."""
        self._ip_batch(None, [f"netns add {name}" for name in self.namespaces])
        Netns(self.router).run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], COMMAND_TIMEOUT)
        router_lines = ["link set lo up"]
        for site in self.sites:
            router_lines += [
                f"link add {site.interface} type veth peer name eth0 netns {site.namespace}",
                f"addr add {site.gateway}/24 dev {site.interface}",
                f"link set {site.interface} up",
            ]
        self._ip_batch(self.router, router_lines)
        for site in self.sites:
            self._ip_batch(
                site.namespace,
                [
                    f"addr add {site.address}/24 dev eth0",
                    "link set lo up",
                    "link set eth0 up",
                    f"route add default via {site.gateway}",
                ],
            )

    def _keygen(self, path: Path) -> None:
        done = Local().run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
            timeout=COMMAND_TIMEOUT,
        )
        if done.returncode != 0:
            raise LabError(f"ssh-keygen failed: {done.stderr.strip()}", done.stderr)

    def _keys_and_files(self) -> None:
        """Host keys, the user key, sshd configs, known_hosts, ssh_config and the testbed."""
        d = self.directory
        self._keygen(d / "user")
        (d / "authorized_keys").write_text((d / "user.pub").read_text())
        (d / "relay.py").write_text(RELAY)
        known = []
        for site in self.sites:
            key = d / f"{site.name}_host"
            self._keygen(key)
            known.append(
                f"{site.address} {' '.join(key.with_suffix('.pub').read_text().split()[:2])}"
            )
            # Many sessions per connection: servers, clients and checks share one master.
            (d / f"{site.name}_sshd_config").write_text(
                f"ListenAddress {site.address}\nHostKey {key}\n"
                f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile none\nUsePAM no\n"
                "StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "MaxSessions 200\nMaxStartups 100\nLogLevel ERROR\nUseDNS no\n"
                # A client gone silent (a blackholed path) ends its session within ~6 s, as
                # the far guard ends the session's processes (hosts/farguard.py).
                "ClientAliveInterval 2\nClientAliveCountMax 3\n"
            )
        (d / "known_hosts").write_text("\n".join(known) + "\n")
        relay = f"ip netns exec {self.router} {sys.executable} {d / 'relay.py'} %h %p"
        self.ssh_config.write_text(_ssh_config(self.sites, d, relay))
        self.testbed.write_text(_testbed(self.sites, self.id))

    def _start_sshds(self) -> None:
        """One `sshd -D` per site, our child; ready once it listens on port 22."""
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        for site in self.sites:
            config = self.directory / f"{site.name}_sshd_config"
            log = self.directory / f"{site.name}_sshd.log"
            with open(log, "w") as output:
                process = Netns(site.namespace).spawn(
                    [SSHD, "-D", "-e", "-f", str(config)], stdout=output, stderr=output
                )
            self.sshd[site.name] = process
        for site in self.sites:
            process = self.sshd[site.name]

            def settled(process: Process = process) -> bool:
                return not process.alive() or listening_in(process.pid, 22)

            if not (wait_until(settled, SSHD_START_TIMEOUT) and process.alive()):
                said = (self.directory / f"{site.name}_sshd.log").read_text().strip()
                raise LabError(f"sshd in {site.namespace} did not start: {said or 'no output'}")

    @property
    def lock_scope(self) -> str:
        """Whose sites these are, for host locks: this lab's own (each xdist worker and each
        run builds its own lab; sites of the same name elsewhere are other namespaces)."""
        return self.id

    def endpoint(self, site: str) -> Ssh:
        """An Ssh endpoint to one site, as the testbed describes it."""
        return Ssh(site, name=site, config=str(self.ssh_config))

    def site(self, name: str) -> Site:
        """A site by its testbed name."""
        for site in self.sites:
            if site.name == name:
                return site
        raise InputError(f"no site '{name}' in this lab (it has {len(self.sites)})", key="site")

    def environment(self) -> dict[str, str]:
        """What a router config sees: SITES=N, SITE<i>_IF and SITE<i>_ADDR."""
        env = {"SITES": str(len(self.sites)), "LAB_ROUTER_NETNS": self.router}
        for i, site in enumerate(self.sites, 1):
            env[f"SITE{i}_IF"] = site.interface
            env[f"SITE{i}_ADDR"] = site.address
        return env

    def apply(self, router_config: Path | str) -> None:
        """Run an executable router config inside the router namespace."""
        config = checked_config(router_config)
        assignments = [f"{k}={v}" for k, v in self.environment().items()]
        done = Netns(self.router).run(["env", *assignments, str(config)], CONFIG_TIMEOUT)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip() or "no output"
            raise LabError(f"router config {config} failed (exit {done.returncode}): {said}")
        self.router_config = config

    def kill_sshd(self, site: str) -> None:
        """Kill every sshd of a site, connections included (for failure tests)."""
        pids = Local().run(["ip", "netns", "pids", self.site(site).namespace], COMMAND_TIMEOUT)
        for pid in pids.stdout.split():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() == "sshd":
                    os.kill(int(pid), 9)

    def destroy(self) -> None:
        """Close ssh connections, stop sshd, delete namespaces and files; idempotent."""
        if self.destroyed:
            return
        with no_interrupts():
            # Clients first: after sshd dies its per-connection children wait for them.
            MUX.close(containing=str(self.ssh_config))
            for process in self.sshd.values():
                process.stop(grace=0.5)
            existing = [n for n in self.namespaces if os.path.exists(f"/run/netns/{n}")]
            delete_namespaces(existing)
            shutil.rmtree(self.directory, ignore_errors=True)
            self.destroyed = True
        _LIVE.discard(self)

    def __enter__(self) -> SiteLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def _sweep_stale_directories() -> None:
    """Remove the key and config directories of site labs whose owner died (SIGKILL)."""
    root = Path(tempfile.gettempdir())
    for entry in root.glob("pytest-qos-sites-*"):
        owner = entry.name.split("-")[3]
        if owner.isdigit() and not owner_alive(int(owner)):
            shutil.rmtree(entry, ignore_errors=True)


def _ssh_config(sites: list[Site], directory: Path, relay: str) -> str:
    """Aliases site<i> -> address; the lab's key, known_hosts, and the relay as ProxyCommand."""
    hosts = "".join(f"Host {s.name}\n  HostName {s.address}\n" for s in sites)
    return (
        f"{hosts}Host *\n  User root\n  IdentityFile {directory / 'user'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {directory / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        f"  StrictHostKeyChecking yes\n  LogLevel ERROR\n  ProxyCommand {relay}\n"
    )


def _testbed(sites: list[Site], lab_id: str) -> str:
    """The testbed file: one ssh host per site (its alias), group `sites`."""
    lines = [
        f"# generated by pytest-qos for site lab {lab_id}",
        "ssh_config: ssh_config",
        "hosts:",
        *(f"  {s.name}: {{ssh: {s.name}, address: {s.address}}}" for s in sites),
        "groups:",
        f"  sites: [{', '.join(s.name for s in sites)}]",
    ]
    return "\n".join(lines) + "\n"


def site_processes(
    lab: SiteLab, names: tuple[str, ...] = ("iperf3", "python3", "timeout")
) -> list[str]:
    """`pid comm` of processes named `names` still running in any site (for cleanup tests)."""
    found = []
    for site in lab.sites:
        pids = Local().run(["ip", "netns", "pids", site.namespace], COMMAND_TIMEOUT).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
                base = os.path.basename(argv[0].decode(errors="replace"))
                if base in names or (base.startswith("python") and "python3" in names):
                    found.append(
                        f"{pid} {site.name} {b' '.join(argv).decode(errors='replace')[:80]}"
                    )
    return found


@atexit.register
def _destroy_all() -> None:
    """A site lab still alive when Python exits is torn down."""
    for lab in list(_LIVE):
        with contextlib.suppress(Exception):
            lab.destroy()
