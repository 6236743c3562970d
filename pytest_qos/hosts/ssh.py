"""Endpoints on other hosts: `Ssh` (system OpenSSH, one multiplexed connection per host) and
`Exec` (any argv prefix: `ip netns exec NS`, `nsenter`, `docker exec C`, `kubectl exec`)."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import MeasurementError, ToolMissingError
from .endpoints import Completed, Endpoint, Local, Process, Stream, parse_socket_table, wait_until
from .farguard import HEARTBEAT, remote_line
from .ship import python_argv

# A remote process never lives longer than this, even if every other guard failed; servers
# get their test's own bound (SpawnedServer.lifetime) and the guard of farguard.py.
DEFAULT_LIFETIME = 900.0
CONNECT_TIMEOUT = 5  # seconds; ssh's ConnectTimeout for the master connection
MASTER_START_TIMEOUT = 15.0
CHECK_TIMEOUT = 10.0  # one remote utility command (reading /proc/net, command -v)
_CHECKED: set[tuple[str, str]] = set()  # (connection, tool) found on the far host
# Tools a testbed may relocate per host (`iperf3: /opt/bin/iperf3`), by program name.
RELOCATABLE = ("iperf3", "python3", "ping")


class SshError(MeasurementError):
    """A host could not be reached, refused us, or lacks a tool; one line says what to do."""


def _classify(stderr: str, options: SshOptions | None = None) -> tuple[str, str]:
    """(what failed, what to do) from ssh's own error output."""
    text = stderr.strip()
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION" in text:
        return _host_key_problem(text, options)
    if "Permission denied" in text:
        return (
            "login refused",
            "check 'user' and 'identity_file' in the testbed, or load the key into ssh-agent",
        )
    if "Could not resolve hostname" in text:
        return "unknown host name", "check the 'ssh:' destination or ~/.ssh/config"
    return "unreachable", "check the host is up and its sshd listens (try 'ssh HOST true')"


_OFFENDING = re.compile(r"Offending \S+ key in (?P<file>.+?):(?P<line>\d+)\s*$", re.MULTILINE)


def _host_key_problem(text: str, options: SshOptions | None) -> tuple[str, str]:
    """A host key that is not known yet, or one that changed, told apart; the files named."""
    seen = ssh_settings(options) if options is not None else {}
    host = (seen.get("hostname") or ["HOST"])[0]
    port = (seen.get("port") or ["22"])[0]
    pattern = host if port == "22" else f"[{host}]:{port}"
    files = known_hosts_files(seen)
    offending = _OFFENDING.search(text)
    changed = offending is not None or "HAS CHANGED" in text
    if not changed and "host key is known for" not in text:
        # ssh said only "Host key verification failed" (LogLevel QUIET hides the rest):
        # a recorded key for the host means the offered one differs from it.
        changed = any(_has_key(pattern, name) for name in files)
    destination = options.destination if options is not None else "HOST"
    if changed:
        where = (
            f"{offending['file']}:{offending['line']}"
            if offending
            else " or ".join(files) or "known_hosts"
        )
        file = offending["file"] if offending else (files[0] if files else "~/.ssh/known_hosts")
        return (
            f"host key changed (the key {pattern} offered is not the one recorded in {where})",
            f"if the host was reinstalled, remove the old key with "
            f"'ssh-keygen -f {file} -R {shlex.quote(pattern)}' and accept the new one once by "
            f"hand ('ssh {destination} true'); if it was not, find out why it changed first",
        )
    return (
        f"host key not known ({pattern} is in none of the known-hosts files ssh read: "
        f"{', '.join(files) or 'none'})",
        f"accept it once by hand ('ssh {destination} true', after checking its fingerprint), "
        f"or add ssh_options: [StrictHostKeyChecking=accept-new] to the host in the testbed",
    )


def ssh_settings(options: SshOptions) -> dict[str, list[str]]:
    """`ssh -G`: the settings ssh uses for a host (its config and -o applied); connects nowhere."""
    try:
        completed = Local().run(
            ["ssh", "-G", *options.argv(), options.destination], timeout=CHECK_TIMEOUT
        )
    except (OSError, MeasurementError):
        return {}
    settings: dict[str, list[str]] = {}
    for line in completed.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), []).extend(value.split() or [""])
    return settings


def known_hosts_files(settings: Mapping[str, list[str]]) -> list[str]:
    """The known-hosts files ssh reads for a host (user's first), as paths; /dev/null left out."""
    names = [*settings.get("userknownhostsfile", []), *settings.get("globalknownhostsfile", [])]
    return [os.path.expanduser(name) for name in names if name and name != "/dev/null"]


def _has_key(pattern: str, file: str) -> bool:
    """True when `file` records a key for `pattern` (hashed entries too: ssh-keygen -F)."""
    if not os.path.exists(file):
        return False
    try:
        found = Local().run(["ssh-keygen", "-F", pattern, "-f", file], timeout=CHECK_TIMEOUT)
    except (OSError, MeasurementError):
        return False
    return found.returncode == 0 and bool(found.stdout.strip())


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Warning:", "debug"))]
    return (useful or lines or ["no output"])[-1]


def transport_failure(
    label: str, returncode: int, stderr: str, options: SshOptions | None = None
) -> str | None:
    """ssh's own failure (exit 255: the connection, the master, the login), naming the host
    and what to do; None when the tool itself ran and exited. `options` name the known-hosts
    files a host-key problem points at."""
    if returncode != 255:
        return None
    what, todo = _classify(stderr, options)
    if not stderr.strip() or "Control" in stderr or "mux" in stderr or "master" in stderr:
        what, todo = (
            "the ssh connection ended (exit 255): its shared connection (ControlMaster) was lost",
            "it is opened again for the next command; if it keeps failing, try 'ssh HOST true'",
        )
    return f"host {label}: {what}: {_last_line(stderr)} — {todo}"


def far_program(argv0: str, programs: Mapping[str, str]) -> str:
    """A tool the local argv names by its local path (/usr/bin/iperf3), as the far host has it:
    its configured path, else its bare name (found on the far host's PATH)."""
    base = os.path.basename(argv0)
    for tool in RELOCATABLE:
        if base == tool or (tool == "python3" and re.fullmatch(r"python3(\.\d+)?", base)):
            return programs.get(tool, tool)
    return argv0


def _says_listening(log: str, port: int) -> bool:
    """True when the last line saying "listening on ... PORT" follows the last accepted test.

    iperf3 prints "Server listening on PORT" whenever its socket is open again (after each
    test too); the responder prints "listening on ADDR port PORT" once bound. Read with
    pread: the file offset is shared with the writing process and must not move.
    """
    marks = [m.end() for m in re.finditer(rf"listening on .*?\b{port}\b", log)]
    if not marks:
        return False
    accepted = log.rfind("Accepted connection")
    return marks[-1] > accepted


def _with_env(argv: Sequence[str], env: Mapping[str, str] | None) -> list[str]:
    """Variables reach the far side through `env NAME=VALUE argv` (ssh passes none)."""
    if not env:
        return list(argv)
    return ["env", *(f"{name}={value}" for name, value in env.items()), *argv]


def _split_merged(text: str) -> tuple[str, str]:
    """(document, what came before it): warnings a tool printed ahead of its JSON output."""
    if text.lstrip().startswith(("{", "[")) or "\n{" not in text:
        return text, text if not text.lstrip().startswith(("{", "[")) else ""
    head, _, tail = text.partition("\n{")
    return "{" + tail, head


@dataclass
class SshOptions:
    """How to reach one host: anything `ssh` takes as a destination, plus optional settings."""

    destination: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    options: tuple[str, ...] = ()  # `-o` values, e.g. "StrictHostKeyChecking=accept-new"
    config: str | None = None  # `ssh -F FILE`

    def argv(self) -> list[str]:
        """ssh's options for this host (no destination, no command)."""
        argv = ["-F", self.config] if self.config else []
        if self.port is not None:
            argv += ["-p", str(self.port)]
        if self.user:
            argv += ["-l", self.user]
        if self.identity_file:
            argv += ["-i", os.path.expanduser(self.identity_file)]
        for option in self.options:
            argv += ["-o", option]
        # BatchMode: never a password or host-key prompt; a test fails instead of hanging.
        return [*argv, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]


_DIR_PREFIX = "pytest-qos-ssh-"


def _sweep_stale_directories() -> None:
    """Remove socket directories of sessions that died without closing (SIGKILL)."""
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        owner = entry[len(_DIR_PREFIX) :].split("-", 1)[0]
        if not (entry.startswith(_DIR_PREFIX) and owner.isdigit()):
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        except PermissionError:
            continue  # alive, someone else's


class Mux:
    """The session's ControlMaster connections, one per host, sockets in a private directory."""

    def __init__(self) -> None:
        self._directory: str | None = None
        self._masters: dict[str, Process] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    @property
    def directory(self) -> str:
        """0700 directory of the control sockets, made on first use (named with our pid)."""
        if self._directory is None:
            _sweep_stale_directories()
            self._directory = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
        return self._directory

    def socket(self, key: str) -> str:
        """The control socket path of one host (short: sun_path has 108 bytes)."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return os.path.join(self.directory, digest)

    def ensure(self, key: str, options: SshOptions, label: str) -> str:
        """The host's control socket, starting its master first if it is not running."""
        with self._lock:
            host_lock = self._host_locks.setdefault(key, threading.Lock())
        with host_lock:
            path = self.socket(key)
            master = self._masters.get(key)
            if master is not None and master.alive() and os.path.exists(path):
                return path
            if master is not None:
                master.stop(grace=0.2)
            self._masters[key] = self._start(path, options, label)
            return path

    def _start(self, path: str, options: SshOptions, label: str) -> Process:
        """`ssh -M -N`: a foreground master, our child, so it dies with this process."""
        # ControlPersist=no: the master lives exactly as long as we keep it; a detached
        # (persisting) master would outlive a SIGKILLed pytest.
        argv = [
            "ssh",
            *options.argv(),
            "-o",
            "ControlMaster=yes",
            "-o",
            f"ControlPath={path}",
            "-o",
            "ControlPersist=no",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=2",
            "-N",
            "--",  # the destination is never read as an option
            options.destination,
        ]
        log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read below, then closed
        try:
            process = Local().spawn(argv, stdout=subprocess.DEVNULL, stderr=log)
            ready = wait_until(
                lambda: os.path.exists(path) or not process.alive(),
                MASTER_START_TIMEOUT,
                interval=0.005,
            )
            if ready and os.path.exists(path) and process.alive():
                return process
            process.stop(grace=0.2)
            log.seek(0)
            said = log.read()
        finally:
            log.close()
        what, todo = _classify(said, options)
        raise SshError(f"host {label}: {what}: {_last_line(said)} — {todo}", argv)

    def close(self, containing: str | None = None) -> None:
        """Close every master (or those whose connection mentions `containing`); their remote
        sessions end too. Closing all also removes the directory."""
        with self._lock:
            keys = [k for k in self._masters if containing is None or containing in k]
            masters = [self._masters.pop(k) for k in keys]
        for master in masters:
            master.stop(grace=1.0)
        if containing is None and self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


MUX = Mux()
atexit.register(MUX.close)


class Ssh(Endpoint):
    """A host reached with the system `ssh`; argv is quoted once (shlex), never re-interpreted."""

    enforces_lifetime = True

    def __init__(
        self,
        destination: str,
        *,
        name: str | None = None,
        port: int | None = None,
        user: str | None = None,
        identity_file: str | None = None,
        options: Sequence[str] = (),
        config: str | None = None,
        programs: dict[str, str] | None = None,
        lifetime: float = DEFAULT_LIFETIME,
        mux: Mux | None = MUX,
    ) -> None:
        self.name = name or destination
        self.ssh = SshOptions(destination, port, user, identity_file, tuple(options), config)
        self.programs = dict(programs or {})
        self.lifetime = lifetime
        self.mux = mux
        # Logs of servers spawned here: a "listening" line tells readiness without a round
        # trip (pid -> file descriptor).
        self._logs: dict[int, int] = {}
        self._listening_at: dict[int, tuple[int, int]] = {}  # pid -> (port, log size then)

    @property
    def key(self) -> str:
        """What identifies the connection: same options, same master."""
        return shlex.join([*self.ssh.argv(), self.ssh.destination])

    def _connection(self, connect: bool = True) -> list[str]:
        """ssh and its options; with `connect`, the host's master is started first if needed.

        Without a master socket (a reproduce line run later) ssh connects directly.
        """
        argv = ["ssh", *self.ssh.argv()]
        if self.mux is not None:
            if connect:
                path = self.mux.ensure(self.key, self.ssh, self.label)
            else:
                path = self.mux.socket(self.key)
            argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={path}"]
        return argv

    @property
    def label(self) -> str:
        """How errors name this host: `branch-1 (ops@branch1.example.net)`."""
        dest = self.ssh.destination
        return self.name if self.name == dest else f"{self.name} ({dest})"

    def program(self, argv0: str) -> str:
        """The far host's path of a tool the local argv names by its local path."""
        return far_program(argv0, self.programs)

    def remote_line(
        self, argv: Sequence[str], bound: float | None = None, guarded: bool = False
    ) -> str:
        """The remote shell's one string (farguard.remote_line), the tool by its far path."""
        words = [self.program(argv[0]), *argv[1:]]
        return remote_line(words, bound if bound is not None else self.lifetime, guarded)

    def command(
        self, argv: Sequence[str], bound: float | None = None, guarded: bool = False
    ) -> list[str]:
        """ssh -tt through the host's master: the remote process gets SIGHUP if ssh dies."""
        connection = self._connection(connect=False)
        line = self.remote_line(argv, bound, guarded)
        return [*connection, "-tt", "--", self.ssh.destination, line]

    def utility(self, argv: Sequence[str], timeout: float = CHECK_TIMEOUT) -> Completed:
        """A short command without a pty (stdout and stderr apart), e.g. reading /proc/net."""
        full = [*self._connection(), "-T", "--", self.ssh.destination, shlex.join(argv)]
        completed = Local().run(full, timeout=timeout)
        failure = self.transport_failure(completed.returncode, completed.stderr)
        if failure is not None:
            raise SshError(failure, full)
        return completed

    def _bound_ports(self, protocol: str, listening: bool) -> set[int]:
        """The far host's socket tables, read without a pty (one command)."""
        tables = [f"/proc/net/{protocol}", f"/proc/net/{protocol}6"]
        # grep -s: a missing tcp6 (no IPv6 there) is no error.
        completed = self.utility(["grep", "-sh", "", *tables])
        return parse_socket_table(completed.stdout, protocol, listening)

    def require(self, argv0: str) -> None:
        """Check once per session that the far host has the tool; ToolMissingError if not."""
        if self.mux is not None:
            self.mux.ensure(self.key, self.ssh, self.label)  # a dropped master is redone
        tool = self.program(argv0)
        if tool == argv0 and os.path.basename(argv0) not in RELOCATABLE:
            return
        if (self.key, tool) in _CHECKED:
            return
        found = self.utility(["sh", "-c", 'command -v "$1"', "sh", tool])
        if found.returncode != 0:
            name = next(t for t in RELOCATABLE if self.program(t) == tool)
            key = {"python3": "python"}.get(name, name)
            raise ToolMissingError(
                f"host {self.label}: '{tool}' not found there — install {name} on it, "
                f"or give its path as '{key}: PATH' for the host in the testbed"
            )
        _CHECKED.add((self.key, tool))

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
        """Start argv on the host (its stdout and stderr merged, on `stdout`), for at most
        `lifetime` s and, unless the caller feeds its stdin, under farguard's guard."""
        self.require(argv[0])  # also brings the host's master up
        guarded = stdin == subprocess.DEVNULL
        full = self.command(_with_env(argv, env), lifetime, guarded)
        stdin = subprocess.PIPE if guarded else stdin
        process = Local().spawn(full, stdout=stdout, stderr=stderr, stdin=stdin)
        process.what = f"{os.path.basename(argv[0])} on host {self.label} (over ssh)"
        if guarded:
            HEARTBEAT.watch(process)
        self._listening_at.pop(process.pid, None)  # a reused pid is a new server
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self._logs[process.pid] = stdout.fileno()  # type: ignore[union-attr]
        return process

    def is_listening(
        self, port: int, protocol: str = "tcp", process: Process | None = None
    ) -> bool:
        """True when a server we spawned says so in its log (the responder, iperf3 without
        -J: no round trip), else when the host's socket tables show it (one ssh command)."""
        fd = self._logs.get(process.pid) if process is not None else None
        if fd is None or process is None or not process.alive():
            return super().is_listening(port, protocol, process)
        log = b""
        with contextlib.suppress(OSError):
            log = os.pread(fd, 1 << 20, 0)
        if _says_listening(log.decode(errors="replace"), port):
            return True
        # Seen listening, and silent since: no test has run against it (iperf3 -J prints a
        # document after each), so it still listens.
        if self._listening_at.get(process.pid) == (port, len(log)):
            return True
        listening = super().is_listening(port, protocol, process)
        if listening:
            self._listening_at[process.pid] = (port, len(log))
        return listening

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> Completed:
        """Run argv on the host; the remote side is bounded by `timeout` too."""
        self.require(argv[0])  # also brings the host's master up
        stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
        full = self.command(_with_env(argv, env), bound=timeout + 1)
        process = Local().spawn(full, stdin=stdin)
        process.what = f"{os.path.basename(argv[0])} on host {self.label} (over ssh)"
        try:
            out, err = process.communicate(timeout=timeout, input=input)
        finally:
            process.stop()
        returncode = process.returncode or 0
        failure = self.transport_failure(returncode, err) if not out.strip() else None
        if failure is not None:
            raise SshError(failure, argv)
        # -tt merged the tool's stderr into stdout; ssh's own messages stay on stderr.
        err = "\n".join(
            line for line in err.splitlines() if not line.startswith("Shared connection to")
        )
        out, merged = _split_merged(out.replace("\r\n", "\n"))
        return Completed(list(argv), returncode, out, "\n".join(x for x in (merged, err) if x))

    def python_argv(self) -> list[str]:
        """`python3 -c SCRIPT`: the responder and probe client, nothing installed there."""
        return python_argv(self.programs.get("python3", "python3"))

    def transport_failure(self, returncode: int, stderr: str) -> str | None:
        """ssh's own failure (exit 255), naming the host; None when the tool ran and exited."""
        return transport_failure(self.label, returncode, stderr, self.ssh)

    def close(self) -> None:
        """Connections are the session's (closed by MUX.close); nothing per endpoint."""

    def __repr__(self) -> str:
        return f"Ssh({self.label!r})"


@dataclass
class Exec(Endpoint):
    """Any argv prefix: `[ip, netns, exec, NS]`, `[nsenter, -t, PID, -n]`, `[docker, exec, C]`."""

    prefix: list[str]
    name: str = ""
    programs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.prefix:
            raise ValueError("an Exec endpoint needs a non-empty argv prefix")
        self.name = self.name or shlex.join(self.prefix)

    def command(self, argv: Sequence[str]) -> list[str]:
        """prefix + argv; iperf3, python3 and ping by the container's own path (or `programs`)."""
        return [*self.prefix, far_program(argv[0], self.programs), *argv[1:]]

    def python_argv(self) -> list[str]:
        """`python3 -c SCRIPT` inside the container or namespace."""
        return python_argv(self.programs.get("python3", "python3"))


__all__ = ["MUX", "Exec", "Mux", "Ssh", "SshError", "SshOptions"]
