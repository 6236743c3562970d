"""A far host's processes end when their controller is gone, not when a timer runs out.

A process spawned over ssh runs under a small POSIX sh guard on the far host. The guard starts
the tool with `timeout` (its hard lifetime) and ends it as soon as the controlling connection is
gone: the session's stdin reaches its end (the local ssh closed or died; sshd hung up the pty),
or the heartbeat this module writes to that stdin every HEARTBEAT_S seconds stops for SILENCE_S
seconds (a blackholed host or path, where no close ever arrives). Only `sh`, `timeout` and
`kill` are needed there.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
import time

from .endpoints import Process

HEARTBEAT_S = 2.0  # how often the controller says it is there
SILENCE_S = 10.0  # how long the far side waits for it before ending the tool
KILL_AFTER = 2  # `timeout -k`: SIGKILL this long after the lifetime's SIGTERM

# $1 kill-after, $2 lifetime, $3 silence, then the tool's argv. fd 3 keeps the session's stdin
# for the watcher (an asynchronous list's own stdin is /dev/null). The watcher reads one line
# per round beside a `sleep` of the silence: a line ends the sleep, a sleep that runs out (no
# heartbeat, or the end of input) ends the tool. SIGHUP from a hung-up pty ends the tool
# through the trap. At the end `kill 0` takes the watcher, its sleep and reader with it.
GUARD = (
    "k=$1 l=$2 w=$3; shift 3; exec 3<&0; "
    'timeout -k "$k" "$l" "$@" </dev/null 3<&- & t=$!; '
    "trap 'kill -TERM $t 2>/dev/null' HUP INT TERM; "
    "(trap '' HUP; while :; do sleep \"$w\" & z=$!; "
    "(sh -c 'read -r _' && kill $z) <&3 & wait $z && break; done; "
    "kill -TERM $t) >/dev/null 2>&1 & "
    "wait $t; s=$?; while kill -0 $t 2>/dev/null; do wait $t; s=$?; done; "
    "trap '' TERM; kill -TERM 0 2>/dev/null; exit $s"
)


def guarded_command(argv: list[str], lifetime: float) -> str:
    """The far shell's command: `argv` under the guard, for at most `lifetime` seconds."""
    limit = f"{max(1, round(lifetime))}"
    return f"exec sh -c {shlex.quote(GUARD)} qos-guard {KILL_AFTER} {limit} {SILENCE_S:g} " + (
        shlex.join(argv)
    )


def remote_line(words: list[str], lifetime: float, guarded: bool) -> str:
    """The one string a far shell gets over `ssh -tt`: tty settings, then the tool (its argv
    quoted once) bounded by `lifetime`, under the guard when `guarded`."""
    # -onlcr: '\n' stays '\n' (a pty turns it into '\r\n'); -echo: nothing typed comes back.
    tty = "stty -onlcr -echo 2>/dev/null; "
    if guarded:
        return tty + guarded_command(words, lifetime)
    return tty + f"exec timeout -k {KILL_AFTER} {lifetime:.0f} " + shlex.join(words)


class Heartbeat:
    """One thread writing a newline to each watched process's stdin every HEARTBEAT_S s.

    It holds its own duplicate of each pipe (never a descriptor number the process may have
    closed and the system handed to another file), and ends when nothing is left to watch.
    """

    def __init__(self) -> None:
        self._watched: dict[int, Process] = {}  # our duplicate fd -> the local ssh process
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, process: Process) -> None:
        """Keep telling `process`'s far side that its controller is alive, while it runs."""
        stream = process.stdin
        if stream is None:
            return
        fd = os.dup(stream.fileno())
        os.set_blocking(fd, False)
        with self._lock:
            self._watched[fd] = process
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._beat, name="qos-heartbeat", daemon=True
                )
                self._thread.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._watched)

    def _beat(self) -> None:
        while True:  # ends when nothing is watched (a later watch() starts a new thread)
            with self._lock:
                watched = list(self._watched.items())
                if not watched:
                    self._thread = None
                    return
            for fd, process in watched:
                try:
                    if process.alive():
                        os.write(fd, b"\n")
                        continue
                except BlockingIOError:
                    continue  # the pipe is full (ssh is stuck): nothing reaches the far side
                except OSError:
                    pass  # the reader is gone
                self._drop(fd)
            time.sleep(HEARTBEAT_S)

    def _drop(self, fd: int) -> None:
        with self._lock:
            self._watched.pop(fd, None)
        with contextlib.suppress(OSError):
            os.close(fd)


HEARTBEAT = Heartbeat()
