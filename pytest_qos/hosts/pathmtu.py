"""The MTU a measurement's frames leave with: the target's when known (a lab's links), else
the client's first hop toward the host (`ip route get`, then the device's MTU)."""

from __future__ import annotations

import re

from ..errors import QosError
from .target import Target

TIMEOUT = 5.0
_ROUTE = re.compile(r"\bdev (?P<dev>\S+)(?:.*?\bmtu (?P<mtu>\d+))?")


def path_mtu(target: Target) -> int | None:
    """The path's MTU, or None when it cannot be read there (not Linux, no `ip`)."""
    if target.mtu is not None:
        return target.mtu
    try:
        route = target.client.run(["ip", "-o", "route", "get", target.host], timeout=TIMEOUT)
        found = _ROUTE.search(route.stdout) if route.returncode == 0 else None
        if found is None:
            return None
        if found["mtu"]:  # a route's own MTU wins over its device's
            return int(found["mtu"])
        device = target.client.run(["cat", f"/sys/class/net/{found['dev']}/mtu"], timeout=TIMEOUT)
        text = device.stdout.strip()
        return int(text) if device.returncode == 0 and text.isdigit() else None
    except (OSError, QosError):
        return None
