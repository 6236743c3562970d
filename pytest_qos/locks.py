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

from .errors import MeasurementError

LOCK_TIMEOUT = 900.0  # the longest another test may hold a path before we give up


def _lock_file(path_name: str) -> Path:
    directory = Path(tempfile.gettempdir()) / f"pytest-qos-locks-{os.getuid()}"
    directory.mkdir(exist_ok=True)
    digest = hashlib.sha256(path_name.encode()).hexdigest()[:16]
    return directory / f"{digest}.lock"


@contextlib.contextmanager
def path_lock(path_name: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the lock of one path (a target's name) while measuring it."""
    with open(_lock_file(path_name), "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MeasurementError(
                        f"another QoS test kept measuring path '{path_name}' for "
                        f"{timeout:.0f} s; this test could not measure it alone"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
