"""Spawned servers (iperf3 -s, probe responders): one lifecycle for every kind.

Spawn at an endpoint, log to a temporary file, wait until the socket listens, pick another
port when the chosen one turned out taken, stop and reap. At a far host (ssh) readiness is
read from the server's own log, never with a round trip: a server that says nothing when it
listens runs under the far-side announcer (ssh.ANNOUNCE), and its port is not looked up
first (a port found taken is retried, as a local one is).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import IO, TypeVar

from ..errors import MeasurementError
from .endpoints import SPAWN_PORTS, Endpoint, Process, wait_until
from .ssh import Ssh, says_listening

START_TIMEOUT = 5.0
_PORT_ATTEMPTS = 5
_PORT_TAKEN = "in use"  # iperf3's and Python's "Address already in use"

ServerT = TypeVar("ServerT", bound="SpawnedServer")


class SpawnedServer(ABC):
    """A long-lived server at an endpoint, ready once its socket is seen listening."""

    what = "server"  # for messages: "iperf3 server", "the responder"
    announces = False  # prints "listening on ... PORT" once its socket is open

    def __init__(
        self,
        endpoint: Endpoint,
        bind: str,
        port: int | None = None,
        *,
        ready_protocol: str = "tcp",
        port_protocols: Sequence[str] = ("tcp",),
    ) -> None:
        self.endpoint = endpoint
        self.bind = bind
        self.port = port or 0
        self._fixed_port = port is not None
        self.ready_protocol = ready_protocol
        self.port_protocols = tuple(port_protocols)
        self.process: Process | None = None
        self._log: IO[str] | None = None
        # How long it may live at a far host (None: the endpoint's default); see lives_until().
        self.lifetime: float | None = None
        self._expires = math.inf
        self._from_log = False  # readiness read from the log (a far host), not the endpoint

    @property
    def far(self) -> bool:
        """True at a host reached over ssh, where every look at its sockets is a round trip."""
        return isinstance(self.endpoint, Ssh)

    def reuse_key(self) -> tuple[str, ...] | None:
        """What another test's server must match to be this one, kept (serverpool.py);
        None: never kept."""
        return None

    def idle(self) -> bool:
        """True when no test is running against it (its log shows each one's end)."""
        return True

    @abstractmethod
    def command(self) -> list[str]:
        """The server's argv for `self.bind` and `self.port`."""

    def reproduce_command(self) -> list[str]:
        """The argv, where it runs, that starts this server again for one reproduction."""
        return self.endpoint.command(self.command())

    def start(self: ServerT) -> ServerT:
        """Start and wait until it listens; pick another free port if a chosen one is taken."""
        log = ""
        for _ in range(1 if self._fixed_port else _PORT_ATTEMPTS):
            if not self._fixed_port:
                self.port = self._pick_port()
            # A file, not a pipe: a long-lived server writing to an unread pipe would block.
            self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as the server
            self.process = self.endpoint.spawn(
                self._argv(), stdout=self._log, stderr=self._log, lifetime=self.lifetime
            )
            if self.lifetime is not None and self.endpoint.enforces_lifetime:
                self._expires = time.monotonic() + self.lifetime
            if self.wait_ready(START_TIMEOUT):
                return self
            log = self.log()
            self.stop()
            if _PORT_TAKEN not in log:
                break
        raise MeasurementError(
            f"{self.what} on {self.bind} port {self.port} did not start: "
            f"{log.strip() or 'no output'}",
            self.endpoint.command(self.command()),
        )

    def _pick_port(self) -> int:
        """A free port: at a far host a random one (a taken one fails the start, retried),
        saving the round trip of reading its socket tables; here the endpoint's check."""
        if self.far:
            return random.randint(*SPAWN_PORTS)
        return self.endpoint.free_port(self.bind, self.port_protocols)

    def _argv(self) -> list[str]:
        """What is spawned: the command, under the announcer at a far host if it is silent."""
        argv = self.command()
        self._from_log = self.far
        if self.far and not self.announces:
            assert isinstance(self.endpoint, Ssh)
            return self.endpoint.announcing(argv, self.port, self.ready_protocol, START_TIMEOUT)
        return argv

    def read_log(self, start: int = 0, size: int = 1 << 20) -> bytes:
        """Up to `size` bytes of the log from `start`, read without moving the offset the
        server writes at (pread)."""
        if self._log is None:
            return b""
        with contextlib.suppress(ValueError, OSError):
            return os.pread(self._log.fileno(), size, start)
        return b""

    def lives_until(self, moment: float) -> bool:
        """True when its lifetime lets it live until `moment` (time.monotonic())."""
        return moment <= self._expires

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """True once the server listens (again: iperf3 re-opens its socket between tests)."""
        process = self.process
        if process is None:
            return False

        def settled() -> bool:
            if not process.alive():
                return True
            if self._from_log:
                return says_listening(self.read_log().decode(errors="replace"), self.port)
            return self.endpoint.is_listening(self.port, self.ready_protocol, process)

        return wait_until(settled, timeout, interval=0.005) and process.alive()

    def log(self) -> str:
        """What the server printed so far."""
        if self._log is None:
            return ""
        with contextlib.suppress(ValueError, OSError):
            self._log.seek(0)
            return self._log.read()
        return ""

    def stop(self) -> None:
        """Kill and reap the server; idempotent."""
        if self.process is not None:
            self.process.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self: ServerT) -> ServerT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
