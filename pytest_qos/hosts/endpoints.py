"""Where a process runs (here, or inside a network namespace), with guaranteed kill and reap."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import itertools
import os
import queue
import random
import select
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from ..errors import MeasurementError, MeasurementTimeout

_PR_SET_PDEATHSIG = 1
_LIVE: weakref.WeakSet[Process] = weakref.WeakSet()
_PORT_ATTEMPTS = 20
SPAWN_PORTS = (20000, 32767)  # below Linux's ephemeral range: outgoing connections never take it
_TABLE_TIMEOUT = 5.0
OUTPUT_LIMIT = 64 * 1024 * 1024  # bytes of output one command may print before it is stopped
_AFTER_EXIT = 0.2  # s to drain pipes once the process exited (descendants may hold them)
_EXEC_WAIT = 5.0  # s a spawn waits at most for setpriv to exec the command
_EXEC_POLL = 0.0001
TREE_VARIABLE = "PYTEST_QOS_SPAWN"  # inherited by every descendant: how stop() finds them all
_serial = itertools.count(1)


def _die_with_parent() -> None:
    """Runs in the child before exec (the fork path only): the kernel kills it with pytest."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


Stream = int | IO[Any] | None

# How a child is started. "setpriv": vfork + exec of util-linux's setpriv, which sets the death
# signal and execs the command (no Python runs in the child, nothing of pytest is copied).
# "fork": fork pytest and set the death signal in a preexec_fn, which copies the page tables
# of the whole pytest process (3-60 ms a spawn; kept for systems without setpriv, and for the
# benchmarks). "auto": setpriv where it can set the death signal, else fork.
SPAWN_METHODS = ("auto", "setpriv", "fork")
SPAWN_METHOD = "auto"
_setpriv: list[str] | None = None  # the prefix that sets the death signal, once known to work
_setpriv_checked = False


def _death_signal_prefix() -> list[str] | None:
    """`setpriv --pdeathsig KILL --` when this system's setpriv has it (util-linux 2.33+)."""
    global _setpriv, _setpriv_checked
    if not _setpriv_checked:
        _setpriv_checked = True
        found = shutil.which("setpriv")
        if found is not None:
            prefix = [found, "--pdeathsig", "KILL", "--"]
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                check = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
                _setpriv = prefix if check.returncode == 0 else None
    return _setpriv


def spawn_method() -> str:
    """The method spawns use now: 'setpriv' or 'fork' (SPAWN_METHOD, 'auto' resolved)."""
    if SPAWN_METHOD not in SPAWN_METHODS:
        raise ValueError(f"SPAWN_METHOD must be one of {', '.join(SPAWN_METHODS)}")
    if SPAWN_METHOD == "fork":
        return "fork"
    if _death_signal_prefix() is None:
        if SPAWN_METHOD == "setpriv":
            raise MeasurementError("setpriv with --pdeathsig (util-linux 2.33+) is not installed")
        return "fork"
    return "setpriv"


def _executable(program: str, environment: Mapping[str, str]) -> str:
    """`program` resolved on the child's PATH, or the error Popen would raise for it."""
    found = shutil.which(program, path=environment.get("PATH", os.defpath))
    if found is None:
        code = errno.EACCES if os.path.exists(program) else errno.ENOENT
        raise OSError(code, os.strerror(code), program)
    return found


def _await_exec(pid: int, setpriv: str) -> None:
    """Return once `pid` runs the command, no longer setpriv: its death signal is then set.

    Popen returns when setpriv has started; pytest killed before setpriv's prctl would leave
    the command running. The fork path had the same guarantee: Popen returned after the
    preexec_fn. Bounded; an exited child (its exe unreadable) needs no wait.
    """
    deadline = time.monotonic() + _EXEC_WAIT
    while time.monotonic() < deadline:
        try:
            # The exe changes early in an exec, the environment (what tagged() reads) last.
            if os.readlink(f"/proc/{pid}/exe") != setpriv and _has_environment(pid):
                return
        except OSError:
            return
        time.sleep(_EXEC_POLL)


def _exited_within(pid: int, timeout: float) -> bool | None:
    """Whether child `pid` exits within `timeout` s, woken by its exit; None without pidfds.

    Popen.wait(timeout) polls with doubling sleeps (up to 50 ms): a process that exits after
    30 ms is seen after ~64. A pidfd is readable the moment it exits (Linux >= 5.3).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
    try:
        readable, _, _ = select.select([pidfd], [], [], max(0.0, timeout))
    finally:
        os.close(pidfd)
    return bool(readable)


def _has_environment(pid: int) -> bool:
    with open(f"/proc/{pid}/environ", "rb") as environ:
        return bool(environ.read(1))


@dataclass
class Starter:
    """What one Popen call needs: the command, its streams and environment."""

    argv: list[str]
    stdin: Stream
    stdout: Stream
    stderr: Stream
    env: dict[str, str]

    def __call__(self) -> subprocess.Popen[str]:
        """Start it in a new session, set to die with this process (see SPAWN_METHOD)."""
        if spawn_method() == "fork":
            return self._popen(self.argv, _die_with_parent)
        prefix = _death_signal_prefix()
        assert prefix is not None
        program = _executable(self.argv[0], self.env)
        # The exec of the command itself is setpriv's: a program that cannot run is caught here.
        popen = self._popen([*prefix, program, *self.argv[1:]], None)
        _await_exec(popen.pid, prefix[0])
        return popen

    def _popen(self, argv: list[str], preexec: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            stdin=self.stdin,
            stdout=self.stdout,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
            preexec_fn=preexec,
            env=self.env,
        )


@dataclass
class Completed:
    """A finished command: its argv, exit code and captured output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


class Process:
    """A started command in its own process group; `stop()` kills the group and reaps it.

    The Popen inside is private to this module: callers use these methods only, so an
    endpoint that runs elsewhere (ssh, a container) fits without touching them.
    """

    def __init__(self, argv: list[str], popen: subprocess.Popen[str], tag: str = "") -> None:
        self.argv = argv
        self._popen = popen
        self.tag = tag  # the TREE_VARIABLE value this process and its descendants carry
        # How errors name it: the tool, or e.g. "iperf3 on host site2 (over ssh)".
        self.what = os.path.basename(argv[0]) if argv else "process"
        _LIVE.add(self)

    @property
    def pid(self) -> int:
        """The local process id (the tool itself: `ip netns exec` execs into it)."""
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: killed by that signal), else None."""
        return self._popen.poll()

    @property
    def stdin(self) -> IO[str] | None:
        """The input pipe (spawned with stdin=PIPE), e.g. for a far side's heartbeat."""
        return self._popen.stdin

    @property
    def stdout(self) -> IO[str] | None:
        """The output pipe, for reading as it comes (spawned with stdout=PIPE)."""
        return self._popen.stdout

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self._popen.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for it to exit by itself; True when it has."""
        if self._popen.poll() is not None:
            return True
        if _exited_within(self._popen.pid, timeout) is False:
            return False
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def communicate(
        self, timeout: float, input: str | None = None, limit: int | None = None
    ) -> tuple[str, str]:
        """Wait for exit and return (stdout, stderr); on timeout kill it and raise.

        Output is read as bytes and decoded leniently (invalid UTF-8 becomes U+FFFD), at
        most `limit` bytes of it (default OUTPUT_LIMIT). Reading stops once the process
        itself has exited and its pipes are drained: a descendant holding them open cannot
        turn a finished run into a timeout.
        """
        deadline = time.monotonic() + timeout
        try:
            out, err = self._collect(deadline, timeout, input, limit or OUTPUT_LIMIT)
            if not self.wait(max(0.0, deadline - time.monotonic())):
                raise self._timeout(timeout)
        finally:
            if not self.alive():
                _LIVE.discard(self)
        return out.decode(errors="replace"), err.decode(errors="replace")

    def _timeout(self, timeout: float) -> MeasurementTimeout:
        self.stop()
        return MeasurementTimeout(
            f"{self.what} did not finish within {timeout:.1f} s and was killed", self.argv
        )

    def _collect(
        self, deadline: float, timeout: float, input: str | None, limit: int
    ) -> tuple[bytes, bytes]:
        """Read stdout and stderr (and feed stdin) until EOF, exit + drain, or `deadline`."""
        output = {"out": bytearray(), "err": bytearray()}
        pending = (input or "").encode()
        exited_at: float | None = None
        with selectors.DefaultSelector() as selector:
            for name, stream in (("out", self._popen.stdout), ("err", self._popen.stderr)):
                if stream is not None and not stream.closed:
                    selector.register(stream.fileno(), selectors.EVENT_READ, name)
            stdin = self._popen.stdin
            if stdin is not None and not stdin.closed:
                os.set_blocking(stdin.fileno(), False)
                selector.register(stdin.fileno(), selectors.EVENT_WRITE, "in")
            while selector.get_map():
                now = time.monotonic()
                if now >= deadline:
                    raise self._timeout(timeout)
                if exited_at is None and self._popen.poll() is not None:
                    exited_at = now
                wait = deadline - now
                if exited_at is not None:
                    wait = min(wait, exited_at + _AFTER_EXIT - now)
                    if wait <= 0:
                        break  # exited; whatever still holds the pipes is not its output
                for key, _ in selector.select(timeout=min(wait, 0.1)):
                    if key.data == "in":
                        pending = self._feed(selector, key.fd, pending)
                        continue
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                    output[key.data] += chunk
                    if len(output["out"]) + len(output["err"]) > limit:
                        self.stop()
                        raise MeasurementError(
                            f"{os.path.basename(self.argv[0])} printed more than "
                            f"{limit // 2**20} MiB and was stopped (the limit is "
                            "pytest_qos.hosts.endpoints.OUTPUT_LIMIT)",
                            self.argv,
                        )
        return bytes(output["out"]), bytes(output["err"])

    def _feed(self, selector: selectors.BaseSelector, fd: int, pending: bytes) -> bytes:
        """Write what stdin can take now; close it when all is written or the reader left."""
        try:
            pending = pending[os.write(fd, pending[:65536]) :] if pending else b""
        except BrokenPipeError:
            pending = b""
        if not pending:
            selector.unregister(fd)
            assert self._popen.stdin is not None
            with contextlib.suppress(OSError):
                self._popen.stdin.close()
        return pending

    def stop(self, grace: float = 1.0) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` seconds, and reap it."""
        if self._popen.returncode is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._popen.pid, sig)
                if self.wait(wait):
                    break
        if self.tag:
            # Descendants that left the process group (setsid) still carry the tag.
            kill_tagged(self.tag)
        for stream in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
        _LIVE.discard(self)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tagged(tag: str) -> list[int]:
    """Pids of processes whose environment holds TREE_VARIABLE=`tag` (this user's only)."""
    needle = f"\0{TREE_VARIABLE}={tag}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as environ:
            if needle in b"\0" + environ.read():
                found.append(int(entry))
    return found


def kill_tagged(tag: str) -> None:
    """SIGKILL every process still carrying `tag` (bounded: a few rounds for late forks)."""
    for _ in range(3):
        pids = tagged(tag)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def live_processes() -> list[Process]:
    """Every Process started here and not yet stopped (a lab kills those in its namespaces)."""
    return list(_LIVE)


def stop_all() -> None:
    """Stop every process still running; the last line of defence at exit and on SIGTERM."""
    for process in list(_LIVE):
        process.stop(grace=0.5)


atexit.register(stop_all)


class _Spawner:
    """One long-lived thread that forks for every other thread (see Endpoint.spawn)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Any, queue.SimpleQueue[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, job: Any) -> Any:
        """Run `job()` on the spawner thread and return its result (or raise its error)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="qos-spawner", daemon=True)
                self._thread.start()
        answer: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs.put((job, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value

    def _serve(self) -> None:
        while True:  # lives until the interpreter exits; its end is what PDEATHSIG watches
            job, answer = self._jobs.get()
            try:
                answer.put((True, job()))
            except BaseException as error:  # handed back to the caller
                answer.put((False, error))


_SPAWNER = _Spawner()


class Endpoint(ABC):
    """A place processes run: `spawn` and `run` take argument lists, never shell strings.

    Readiness and free-port checks are methods too, so callers never read this machine's
    /proc for a process that may run elsewhere.
    """

    name: str
    # True where a spawn's `lifetime` is enforced (a far host); here processes die with us.
    enforces_lifetime = False

    @abstractmethod
    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` at this endpoint (also what a reproduce line shows)."""

    def spawn(
        self,
        argv: Sequence[str],
        *,
        stdout: Stream = subprocess.PIPE,
        stderr: Stream = subprocess.PIPE,
        stdin: Stream = subprocess.DEVNULL,
        env: Mapping[str, str] | None = None,
        lifetime: float | None = None,
    ) -> Process:
        """Start `argv` here in a new process group that dies with this Python process.

        `env` adds variables to the inherited environment (never through an `env` argv:
        a program path containing '=' would be read as an assignment). `lifetime` bounds how
        long it may run where nothing else ends it (a far host); here it dies with us.
        """
        full = self.command(argv)
        tag = f"{os.getpid()}-{next(_serial)}"
        environment = {**os.environ, **(env or {}), TREE_VARIABLE: tag}
        start = Starter(full, stdin, stdout, stderr, environment)
        # PR_SET_PDEATHSIG fires when the spawning *thread* ends: a probe thread's processes
        # would lose it. Other threads hand the spawn to one thread that lives as long as we do.
        if threading.current_thread() is threading.main_thread():
            popen = start()
        else:
            popen = _SPAWNER.call(start)
        return Process(full, popen, tag)

    def start_detached(self, argv: Sequence[str], output: IO[str], timeout: float) -> None:
        """Start `argv` here detached from this Python process, its output to `output`.

        Not ours to end: it outlives pytest (a kept lab's delay line runs until
        `python -m pytest_qos lab remove`). `setsid --fork` makes init its parent at once, and
        it carries no tag of ours, so the sweep of our spawned processes leaves it alone.
        """
        environment = {k: v for k, v in os.environ.items() if k != TREE_VARIABLE}
        subprocess.run(
            ["setsid", "--fork", *self.command(argv)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            timeout=timeout,
            check=False,
        )

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> Completed:
        """Run `argv` to completion within `timeout` seconds, capturing its output."""
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
        process = self.spawn(argv, stdin=stdin, env=env)
        try:
            out, err = process.communicate(timeout=timeout, input=input)
        finally:
            process.stop()
        return Completed(process.argv, process.returncode or 0, out, err)

    def is_listening(
        self, port: int, protocol: str = "tcp", process: Process | None = None
    ) -> bool:
        """True when a socket bound to `port` listens here (TCP) or is bound (UDP)."""
        return port in self._bound_ports(protocol, listening=True)

    def free_port(self, bind: str, protocols: Sequence[str] = ("tcp",)) -> int:
        """A port no socket of `protocols` uses here, for a server about to start.

        Read from this endpoint's own socket tables; a port taken in the meantime is
        caught by the spawned server's retry.
        """
        used: set[int] = set()
        for protocol in protocols:
            used |= self._bound_ports(protocol, listening=False)
        rng = random.Random()
        for _ in range(_PORT_ATTEMPTS):
            port = rng.randint(*SPAWN_PORTS)
            if port not in used:
                return port
        raise MeasurementError(f"no free port found at {self.name} for {'/'.join(protocols)}")

    def _bound_ports(self, protocol: str, listening: bool) -> set[int]:
        """Ports in this endpoint's /proc/net tables (read where the endpoint is)."""
        tables = [f"/proc/net/{protocol}", f"/proc/net/{protocol}6"]
        completed = self.run(["cat", *tables], timeout=_TABLE_TIMEOUT)
        return parse_socket_table(completed.stdout, protocol, listening)

    def close(self) -> None:  # noqa: B027 - optional hook; local endpoints hold nothing
        """Release what the endpoint holds open (an ssh connection); local ones hold nothing."""

    def transport_failure(self, returncode: int, stderr: str) -> str | None:
        """What failed on the way to this endpoint (not the tool), or None; local: nothing."""
        return None


def parse_socket_table(text: str, protocol: str, listening: bool) -> set[int]:
    """Local ports in /proc/net/{tcp,udp}[6] text; only listening (TCP) or bound (UDP) if asked."""
    # TCP LISTEN is state 0A; an unconnected bound UDP socket shows 07 (CLOSE).
    state = "0A" if protocol == "tcp" else "07"
    ports = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[0] == "sl":
            continue
        if listening and fields[3] != state:
            continue
        with contextlib.suppress(ValueError):
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_in(pid: int, port: int, protocol: str = "tcp") -> bool:
    """Read /proc/PID/net/{tcp,tcp6,udp,udp6}: the sockets of that process's namespace."""
    text = ""
    for table in (protocol, protocol + "6"):
        with (
            contextlib.suppress(FileNotFoundError, ProcessLookupError),
            open(f"/proc/{pid}/net/{table}") as lines,
        ):
            text += lines.read()
    return port in parse_socket_table(text, protocol, listening=True)


def read_lines(
    process: Process,
    deadline: float,
    on_line: Callable[[bytes], None],
    until: Callable[[], bool] = lambda: False,
) -> tuple[bytes, str]:
    """Hand each line of `process`'s stdout to `on_line` as it arrives.

    Raw reads, not readline(): a half-written line never blocks past `deadline`
    (time.monotonic()). Reading stops when the output ends, when `until()` is true after a
    chunk's lines, at the deadline, or past OUTPUT_LIMIT bytes (that chunk not handed over).
    Returns the unterminated rest and why it stopped: 'end', 'done', 'deadline' or 'limit'.
    """
    stdout = process.stdout
    assert stdout is not None
    pending, read = b"", 0
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while not until():
            if time.monotonic() >= deadline:
                return pending, "deadline"
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return pending, "end"
            read += len(chunk)
            if read > OUTPUT_LIMIT:
                return pending, "limit"
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                on_line(line)
    return pending, "done"


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

    def is_listening(
        self, port: int, protocol: str = "tcp", process: Process | None = None
    ) -> bool:
        """Read this namespace's socket tables directly (no process spawned)."""
        return listening_in(process.pid if process else os.getpid(), port, protocol)

    def free_port(self, bind: str, protocols: Sequence[str] = ("tcp",)) -> int:
        """A port the kernel hands out on `bind`, free for every one of `protocols`."""
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        kinds = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
        for _ in range(_PORT_ATTEMPTS):
            with socket.socket(family, kinds[protocols[0]]) as first:
                first.bind((bind, 0))
                port = int(first.getsockname()[1])
                if all(_bindable(family, kinds[other], bind, port) for other in protocols[1:]):
                    return port
        raise MeasurementError(f"no port free for {'/'.join(protocols)} on {bind}")


class Netns(Endpoint):
    """A Linux network namespace made with `ip netns add` (needs root)."""

    def __init__(self, namespace: str) -> None:
        self.name = namespace

    def command(self, argv: Sequence[str]) -> list[str]:
        """`ip netns exec NS argv...`; ip execs into the tool, so the pid is the tool's."""
        return ["ip", "netns", "exec", self.name, *argv]

    def is_listening(
        self, port: int, protocol: str = "tcp", process: Process | None = None
    ) -> bool:
        """A process of ours in the namespace shows its tables in /proc; else ask inside."""
        if process is not None and process.alive():
            return listening_in(process.pid, port, protocol)
        return super().is_listening(port, protocol, process)


def _bindable(family: int, kind: int, bind: str, port: int) -> bool:
    with socket.socket(family, kind) as other:
        try:
            other.bind((bind, port))
        except OSError:
            return False
        return True
