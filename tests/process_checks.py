"""What the tests ask of /proc about processes they started."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie awaiting its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def end_parent_and_child(parent: subprocess.Popen[bytes], child: int | None) -> None:
    """A test's cleanup after a parent that spawned `child`: neither outlives the test."""
    parent.kill()
    parent.wait(5)
    if child is not None and not process_gone(child):
        os.kill(child, signal.SIGKILL)
