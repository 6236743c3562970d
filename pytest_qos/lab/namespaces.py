"""Lab namespaces: their names, the sweep of dead runs' leftovers, deleting, keeping on purpose.

Every namespace a lab makes is named PREFIX-<owner pid>-<serial>-<role>; the pid lets a later
session tell a leftover of a SIGKILLed run (owner dead) from a lab in use. The router lab
names its roles client, router (or r1, r2, ... in a chain of routers), server and wan; the
site lab (sitelab.py) router and site<i>.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..hosts.endpoints import Local, live_processes, wait_until
from .delaylines import forget_kept, sweep_stale_state

PREFIX = "qos"
_NAME = re.compile(
    rf"^{PREFIX}-(?P<pid>\d+)-(?P<serial>\d+)-(?P<role>client|router|r\d+|server|wan|site\d+)$"
)
COMMAND_TIMEOUT = 10.0  # one `ip`/`tc` command; they take milliseconds
NETNS_DIR = "/run/netns"  # where `ip netns add` mounts named namespaces
DELETE_TIMEOUT = 5.0  # `ip netns del` is asynchronous; wait this long for the name to go
# One empty file per lab kept after its run (tmpfs, like the namespaces themselves).
KEPT_DIRECTORY = Path("/run/pytest-qos/kept")

_serials = iter(range(1, 1_000_000))
_serial_lock = threading.Lock()


def next_serial() -> int:
    """A number no other lab of this process has: the namespaces' second part."""
    with _serial_lock:
        return next(_serials)


def owner_alive(pid: int) -> bool:
    """True while the process that made a namespace runs (or may: another user's)."""
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


def mark_kept(lab_id: str, record: Mapping[str, Any]) -> None:
    """Mark a lab as kept, so no later sweep deletes it while its owner is dead; the mark
    records what `python -m pytest_qos lab remove` must stop and delete (lab/kept.py)."""
    with contextlib.suppress(OSError):
        KEPT_DIRECTORY.mkdir(parents=True, exist_ok=True)
        (KEPT_DIRECTORY / lab_id).write_text(json.dumps(record, indent=1))


def sweep_stale_namespaces() -> list[str]:
    """Delete lab namespaces whose owning process is dead (a SIGKILLed run); return them."""
    stale = []
    kept = kept_lab_ids()
    names = lab_namespaces()
    for name in names:
        match = _NAME.match(name)
        owner_dead = match is not None and not owner_alive(int(match.group("pid")))
        if owner_dead and name.rsplit("-", 1)[0] not in kept:
            stale.append(name)
    delete_namespaces(stale)
    # A kept lab removed by hand leaves its mark behind (and its detached delay line, which
    # holds its hop's namespace alive); nothing else would remove them.
    for lab_id in kept - {name.rsplit("-", 1)[0] for name in names}:
        forget_kept(KEPT_DIRECTORY / lab_id)
        with contextlib.suppress(OSError):
            (KEPT_DIRECTORY / lab_id).unlink()
    sweep_stale_state(owner_alive)  # the delay lines' statistics of dead runs' labs
    return stale


def delete_namespaces(names: Sequence[str]) -> None:
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
        lambda: not any(os.path.exists(f"{NETNS_DIR}/{name}") for name in names),
        DELETE_TIMEOUT,
        interval=0.005,
    )


def existing(names: Sequence[str]) -> list[str]:
    """Those of `names` that exist now."""
    return [name for name in names if os.path.exists(f"{NETNS_DIR}/{name}")]


def _pids_in(names: Sequence[str]) -> list[int]:
    """Processes inside any of the named namespaces: one pass over /proc (`ip netns pids`)."""
    wanted = set()
    for name in names:
        with contextlib.suppress(OSError):
            info = os.stat(f"{NETNS_DIR}/{name}")
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
def no_interrupts() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, so building or tearing down is never half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
