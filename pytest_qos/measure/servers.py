"""Spawned servers (iperf3 -s, probe responders): one lifecycle for every kind.

Spawn at an endpoint, log to a temporary file, wait until the socket listens, pick another
port when the chosen one turned out taken, stop and reap.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import IO, TypeVar

from ..errors import MeasurementError
from ..hosts.endpoints import Endpoint, Process, wait_until

START_TIMEOUT = 5.0
_PORT_ATTEMPTS = 5
_PORT_TAKEN = "in use"  # iperf3's and Python's "Address already in use"

ServerT = TypeVar("ServerT", bound="SpawnedServer")


class SpawnedServer(ABC):
    """A long-lived server at an endpoint, ready once its socket is seen listening."""

    what = "server"  # for messages: "iperf3 server", "the responder"

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
                self.port = self.endpoint.free_port(self.bind, self.port_protocols)
            # A file, not a pipe: a long-lived server writing to an unread pipe would block.
            self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as the server
            self.process = self.endpoint.spawn(
                self.command(), stdout=self._log, stderr=self._log, lifetime=self.lifetime
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

    def lives_until(self, moment: float) -> bool:
        """True when its lifetime lets it live until `moment` (time.monotonic())."""
        return moment <= self._expires

    def wait_ready(self, timeout: float = START_TIMEOUT) -> bool:
        """True once the server listens (again: iperf3 re-opens its socket between tests)."""
        process = self.process
        if process is None:
            return False

        def settled() -> bool:
            return not process.alive() or self.endpoint.is_listening(
                self.port, self.ready_protocol, process
            )

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
