"""Where a process runs (here, or inside a network namespace), with guaranteed kill and reap."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from .errors import MeasurementTimeout

_PR_SET_PDEATHSIG = 1
_LIVE: weakref.WeakSet[Process] = weakref.WeakSet()


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if pytest itself is killed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Completed:
    """A finished command: its argv, exit code and captured output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Process:
    """A started command in its own process group; `stop()` kills the group and reaps it."""

    def __init__(self, argv: list[str], popen: subprocess.Popen[str]) -> None:
        self.argv = argv
        self.popen = popen
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        """The process id (the tool itself: `ip netns exec` execs into it)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def communicate(self, timeout: float) -> tuple[str, str]:
        """Wait for exit and return (stdout, stderr); on timeout kill it and raise."""
        try:
            out, err = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise MeasurementTimeout(
                f"{os.path.basename(self.argv[0])} did not finish within {timeout:.1f} s "
                "and was killed",
                self.argv,
            ) from None
        finally:
            if not self.alive():
                _LIVE.discard(self)
        return out or "", err or ""

    def stop(self, grace: float = 1.0) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds, and reap it."""
        if self.popen.returncode is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, sig)
                try:
                    self.popen.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
        _LIVE.discard(self)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all() -> None:
    """Stop every process still running; the last line of defence at exit and on SIGTERM."""
    for process in list(_LIVE):
        process.stop(grace=0.5)


atexit.register(stop_all)


class Endpoint(ABC):
    """A place processes run: `spawn` and `run` take argument lists, never shell strings."""

    name: str

    @abstractmethod
    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` at this endpoint."""

    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
    ) -> Process:
        """Start `argv` here in a new process group that dies with this Python process."""
        full = self.command(argv)
        # PR_SET_PDEATHSIG fires when the spawning *thread* ends; only the main thread
        # is sure to outlive the process.
        in_main = threading.current_thread() is threading.main_thread()
        popen = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
            preexec_fn=_die_with_parent if in_main else None,
        )
        return Process(full, popen)

    def run(self, argv: Sequence[str], timeout: float) -> Completed:
        """Run `argv` to completion within `timeout` seconds, capturing its output."""
        process = self.spawn(argv)
        try:
            out, err = process.communicate(timeout=timeout)
        finally:
            process.stop()
        return Completed(process.argv, process.popen.returncode, out, err)

    def listening(self, pid: int, port: int, protocol: str = "tcp") -> bool:
        """True when a socket bound to `port` listens in the network namespace of `pid`."""
        return listening_in(pid, port, protocol)


def listening_in(pid: int, port: int, protocol: str = "tcp") -> bool:
    """Read /proc/PID/net/{tcp,tcp6,udp,udp6}: the sockets of that process's namespace."""
    # TCP LISTEN is state 0A; an unconnected bound UDP socket shows 07 (CLOSE).
    state = "0A" if protocol == "tcp" else "07"
    for table in (protocol, protocol + "6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if (
                        len(fields) > 3
                        and fields[3] == state
                        and int(fields[1].rsplit(":", 1)[1], 16) == port
                    ):
                        return True
        except (FileNotFoundError, ProcessLookupError):
            continue
    return False


def wait_until(condition: Any, timeout: float, interval: float = 0.01) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds pass; bounded both ways."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


class Local(Endpoint):
    """This machine's own network namespace."""

    name = "local"

    def command(self, argv: Sequence[str]) -> list[str]:
        """Run as given."""
        return list(argv)


class Netns(Endpoint):
    """A Linux network namespace made with `ip netns add` (needs root)."""

    def __init__(self, namespace: str) -> None:
        self.name = namespace

    def command(self, argv: Sequence[str]) -> list[str]:
        """`ip netns exec NS argv...`; ip execs into the tool, so the pid is the tool's."""
        return ["ip", "netns", "exec", self.name, *argv]
