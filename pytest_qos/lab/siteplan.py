"""The plan of a site lab: which sites, their names and addresses, and the testbed they make.

One plan serves the scenario reader (a `lab: {sites: N}` file's host names, checked before
any lab exists), the site lab that builds the namespaces, and the testbed file it writes for
other runs: site<i> at 198.19.<i>.2/24, the router's side of its link 198.19.<i>.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..hosts.testbed import HostSpec, Testbed

GROUP = "sites"  # the testbed group of every site


@dataclass(frozen=True)
class Site:
    """One site: its testbed name, namespace, address, and router-side interface."""

    name: str  # "site1"
    namespace: str
    address: str  # 198.19.<i>.2
    gateway: str  # 198.19.<i>.1, the router's side
    interface: str  # the router's interface toward this site


@dataclass(frozen=True)
class SitePlan:
    """The sites of one site lab, in order."""

    sites: tuple[Site, ...]

    @classmethod
    def of(cls, count: int, lab_id: str = "") -> SitePlan:
        """`count` sites; `lab_id` prefixes their namespaces (none before a lab exists)."""
        return cls(
            tuple(
                Site(
                    name=f"site{i}",
                    namespace=f"{lab_id}-site{i}" if lab_id else f"site{i}",
                    address=f"198.19.{i}.2",
                    gateway=f"198.19.{i}.1",
                    interface=f"site{i}",
                )
                for i in range(1, count + 1)
            )
        )

    def testbed(self, path: Path, ssh_config: Path | None = None) -> Testbed:
        """The sites as a testbed: one ssh host per site (its alias), group `sites`.

        `ssh_config` (the lab's generated one) says how to reach each alias; `path` is where
        the testbed is written, or the scenario naming the hosts.
        """
        hosts = {
            site.name: HostSpec(
                site.name,
                1,
                "ssh",
                (site.address,),
                destination=site.name,
                ssh_config=str(ssh_config) if ssh_config is not None else None,
            )
            for site in self.sites
        }
        return Testbed(path, hosts, {GROUP: tuple(hosts)})


def testbed_text(testbed: Testbed, header: str) -> str:
    """A site lab's testbed as a testbed file (for `--qos-testbed` in other runs)."""
    configs = {host.ssh_config for host in testbed.hosts.values()} - {None}
    lines = [f"# {header}"]
    if configs:
        (config,) = configs
        lines.append(f"ssh_config: {Path(str(config)).name}")  # beside the testbed file
    lines.append("hosts:")
    lines += [
        f"  {host.name}: {{ssh: {host.destination}, address: {host.address}}}"
        for host in testbed.hosts.values()
    ]
    lines.append("groups:")
    lines += [f"  {name}: [{', '.join(members)}]" for name, members in testbed.groups.items()]
    return "\n".join(lines) + "\n"
