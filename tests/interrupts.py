"""Ctrl-C for a pytest a test started: sent when the run reaches a point it printed, not after
a fixed sleep (which waits too long on a quiet machine and lands too early on a busy one)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

REACH_TIMEOUT = 60.0  # bounded: a run that never prints the line fails the test


def verbose_pytest(directory: Path, *options: str) -> subprocess.Popen[str]:
    """`python -m pytest -v OPTIONS` in `directory`, its output unbuffered, one line a test."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-v", *options],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class RunOutput:
    """Every line a run prints, read as it comes; `reached` waits for one containing a text."""

    def __init__(self, run: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._wanted = ""
        self._ended = False
        self._seen = threading.Event()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, args=(run,), daemon=True)
        self._reader.start()

    def _read(self, run: subprocess.Popen[str]) -> None:
        assert run.stdout is not None
        for line in run.stdout:
            with self._lock:
                self.lines.append(line)
                if self._wanted and self._wanted in line:
                    self._seen.set()
        with self._lock:
            self._ended = True
            self._seen.set()  # the end of the output: nothing more will come

    def reached(self, text: str, timeout: float = REACH_TIMEOUT) -> bool:
        """Wait until a line containing `text` was printed; False if the run ended first."""
        with self._lock:
            self._wanted = text
            if any(text in line for line in self.lines):
                return True
            if not self._ended:
                self._seen.clear()
        self._seen.wait(timeout)
        with self._lock:
            return any(text in line for line in self.lines)

    def text(self) -> str:
        """The whole output, once the run has closed it (bounded)."""
        self._reader.join(timeout=30)
        with self._lock:
            return "".join(self.lines)
