"""A network namespace of a test's own, its loopback up and nftables rules loaded (root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def nft_namespace(suffix: str, rules: str) -> Iterator[str]:
    """`qos-<pid>-<suffix>` with `rules` (nft syntax); skips without root, ip or nft."""
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, ip (iproute2) and nft (nftables)")
    name = f"qos-{os.getpid()}-{suffix}"
    try:
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
        for step in (["ip", "link", "set", "lo", "up"], ["nft", "-f", "-"]):
            subprocess.run(
                ["ip", "netns", "exec", name, *step],
                input=rules if step[0] == "nft" else None,
                check=True,
                capture_output=True,
                text=True,
                timeout=10,
            )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
