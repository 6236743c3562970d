"""`lab: {mtu: 9000}`: every link of the lab at one MTU (jumbo frames end to end).

Parsed like the WAN's keys (wan.py's parse_wan): the scenario reader calls `parse_mtu`, the lab
applies `set_mtu` to every interface of its namespaces once they exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError, MeasurementError
from ..hosts.endpoints import Netns

MIN_MTU = 1280  # IPv6's minimum: every lab runs IPv6 too
MAX_MTU = 65535  # a veth's largest
DEFAULT_MTU = 1500
COMMAND_TIMEOUT = 10.0


def parse_mtu(value: Any) -> int:
    """`mtu:` as a whole number of bytes from 1280 to 65535 (9000 for jumbo frames)."""
    text = str(value).strip().removesuffix("B").strip() if not isinstance(value, bool) else ""
    if isinstance(value, bool) or not text.isdigit() or not MIN_MTU <= int(text) <= MAX_MTU:
        raise InputError(
            f"mtu is a whole number of bytes from {MIN_MTU} to {MAX_MTU} (e.g. 9000 for "
            f"jumbo frames; {DEFAULT_MTU} is Ethernet's default), got {value!r}",
            key="mtu",
        )
    return int(text)


def interfaces(namespace: str) -> list[str]:
    """The interfaces of `namespace` other than loopback (`ip -o link show`)."""
    completed = Netns(namespace).run(["ip", "-o", "link", "show"], timeout=COMMAND_TIMEOUT)
    names = []
    for line in completed.stdout.splitlines():
        # "2: eth0@if3: <BROADCAST,...> mtu 1500 ..." — the name ends at '@' or ':'.
        fields = line.split(":", 2)
        if len(fields) == 3:
            name = fields[1].strip().split("@", 1)[0]
            if name and name != "lo":
                names.append(name)
    return names


def set_mtu(namespaces: Sequence[str], mtu: int) -> None:
    """Every non-loopback interface of `namespaces` at `mtu` (both ends of each veth)."""
    for namespace in namespaces:
        lines = [f"link set dev {name} mtu {mtu}" for name in interfaces(namespace)]
        if not lines:
            continue
        completed = Netns(namespace).run(
            ["ip", "-batch", "-"], timeout=COMMAND_TIMEOUT, input="\n".join(lines) + "\n"
        )
        if completed.returncode != 0:
            raise MeasurementError(
                f"setting MTU {mtu} in {namespace} failed: {completed.stderr.strip()}",
                completed.argv,
            )
