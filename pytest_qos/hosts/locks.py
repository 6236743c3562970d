"""One measurement per network path at a time, across processes (pytest-xdist workers too)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import MeasurementError

LOCK_TIMEOUT = 900.0  # the longest another test may hold a path before we give up


def _lock_file(path_name: str) -> Path:
    directory = Path(tempfile.gettempdir()) / f"pytest-qos-locks-{os.getuid()}"
    directory.mkdir(exist_ok=True)
    digest = hashlib.sha256(path_name.encode()).hexdigest()[:16]
    return directory / f"{digest}.lock"


@contextlib.contextmanager
def path_lock(path_name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of one path (a target's name) while measuring it.

    The lock file is removed when the lock is released (a lab's name is new every session,
    so kept files would pile up); a waiter that then locks the removed file sees it is no
    longer the one at the path and takes the lock again on the new one.
    """
    lock_path = _lock_file(path_name)
    deadline = time.monotonic() + timeout
    while True:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held until the finally below
        try:
            _wait_for(handle, path_name, timeout, deadline)
        except BaseException:
            handle.close()
            raise
        if _is_at(handle, lock_path):
            break
        handle.close()  # the holder before us removed this file: lock the current one
        if time.monotonic() >= deadline:  # bounded even if holders keep replacing it
            raise MeasurementError(f"could not lock path '{path_name}' within {timeout:.0f} s")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()  # while still holding it, so nobody locks a file we remove
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _wait_for(handle: IO[str], path_name: str, timeout: float, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise MeasurementError(
                    f"another QoS test kept measuring path '{path_name}' for "
                    f"{timeout:.0f} s; this test could not measure it alone"
                ) from None
            time.sleep(0.05)


def _is_at(handle: IO[str], path: Path) -> bool:
    """True when `handle` is still the file at `path` (not one removed since it was opened)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (mine.st_dev, mine.st_ino) == (current.st_dev, current.st_ino)


@contextlib.contextmanager
def host_locks(
    hosts: list[str], exclusive: bool, timeout: float = LOCK_TIMEOUT, scope: str = ""
) -> Iterator[None]:
    """Hold every host's lock: exclusive for throughput, shared for probes (sorted: no deadlock).

    `scope` is whose hosts these are: '' for a testbed's real hosts (shared by every run that
    names them), a site lab's identity for its namespaces, which no other lab or run shares.
    """
    # Host lock files are kept: a testbed's host names are few and the same every session.
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    with contextlib.ExitStack() as stack:
        deadline = time.monotonic() + timeout
        for host in sorted(set(hosts)):
            name = f"host:{scope}:{host}" if scope else f"host:{host}"
            handle = stack.enter_context(open(_lock_file(name), "a+"))
            while True:
                try:
                    fcntl.flock(handle, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise MeasurementError(
                            f"host '{host}' stayed busy with other measurements for {timeout:.0f} s"
                        ) from None
                    time.sleep(0.01)
            stack.callback(fcntl.flock, handle, fcntl.LOCK_UN)
        yield
