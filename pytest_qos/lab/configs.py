"""Router configs: the executable a router runs, checked before the lab is built, and why it
failed when it fails (the qdisc kinds this kernel lacks, named)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError, QosError
from ..hosts.endpoints import Completed, Local
from .namespaces import COMMAND_TIMEOUT
from .tcfeatures import missing_feature

CONFIG_TIMEOUT = 30.0  # the router config as a whole

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


class LabError(QosError):
    """Building the lab or applying its router config failed; `stderr` is the tool's own."""

    def __init__(self, message: str, stderr: str = "", command: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.stderr = stderr
        self.command = list(command)

    def __str__(self) -> str:
        return self.message


def check_completed(completed: Completed, doing: str, lines: Sequence[str] = ()) -> None:
    """LabError naming the batch line that failed (or the command) and what the tool said."""
    if completed.returncode != 0:
        failed = re.search(r"Command failed \S+:(\d+)", completed.stderr)
        line = lines[int(failed.group(1)) - 1] if failed and lines else " ".join(completed.argv)
        raise LabError(
            f"{doing} failed at '{line}': {completed.stderr.strip() or 'no output'}",
            completed.stderr,
            completed.argv,
        )


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


def checked_config(router_config: Path | str, key: str = "lab.router") -> Path:
    """The config as an absolute path, or InputError (at `key`) saying why it cannot run."""
    path = Path(router_config).expanduser()
    if not path.is_file():
        raise InputError(
            f"router config {path} does not exist (give a path to an executable file, "
            "relative to the scenario file or absolute)",
            key=key,
        )
    if not os.access(path, os.X_OK):
        raise InputError(
            f"router config {path} is not executable: run 'chmod +x {path}' and give it "
            "a '#!' line such as '#!/bin/sh'",
            key=key,
        )
    return path.resolve()


def config_failure(config: Path, completed: Completed) -> str:
    """The config's own stderr, plus which qdisc the kernel lacks when that is why it failed."""
    stderr = completed.stderr.strip()
    said = stderr or completed.stdout.strip() or "no output"
    message = f"router config {config} failed (exit {completed.returncode}): {said}"
    try:
        text = config.read_text(errors="replace")
    except OSError:
        text = ""
    lacking = missing_feature(stderr, text)  # a tc classifier or action
    if lacking is not None:
        return f"router config {config} {lacking}. The config printed: {said}"
    if "kind is unknown" not in stderr and "Unknown qdisc" not in stderr:
        return message
    available = kernel_qdiscs()
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
