"""Servers kept across the tests of a session at far hosts, lent to one test at a time.

Starting an iperf3 server or a responder over ssh costs round trips; a pytest session runs
many tests against the same few hosts. While `POOL.lending()` is on (the plugin turns it on for
each scenario test), a server a test started at a far host is given back when the test ends
cleanly and lent to the next test that wants the same kind at the same host, bind address and
settings. A kept server is lent only when it is alive (its ssh session still runs: the far
side ends the session as soon as the server exits) and idle (its log shows the end of every
test it served; iperf3 -s serves one test at a time). A test that failed gives nothing back: its
servers are stopped. Kept servers run under the far guard like any other (hosts/farguard.py)
and are stopped by `close()`: at the session's end, when a site lab is removed, at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Iterator
from typing import TypeVar

from .endpoints import wait_until
from .servers import SpawnedServer
from .ssh import DEFAULT_LIFETIME, Ssh

# How long a kept server lives at its host (the far guard's bound); one expiring before a
# test needs it is replaced.
KEPT_LIFETIME = DEFAULT_LIFETIME
IDLE_WAIT = 2.0  # s a kept server may take to print the end of its last test

ServerT = TypeVar("ServerT", bound=SpawnedServer)
Key = tuple[str, ...]


class ServerPool:
    """Idle kept servers by (connection, kind and settings); thread-safe."""

    def __init__(self) -> None:
        self._idle: dict[Key, list[SpawnedServer]] = {}
        self._keys: dict[int, Key] = {}  # id(server) -> its key, for servers lent out
        self._lock = threading.Lock()
        self._lending = 0

    @contextlib.contextmanager
    def lending(self) -> Iterator[None]:
        """While the block runs, servers are kept and lent (nested blocks allowed)."""
        with self._lock:
            self._lending += 1
        try:
            yield
        finally:
            with self._lock:
                self._lending -= 1

    def _key(self, server: SpawnedServer) -> Key | None:
        kind = server.reuse_key()
        if not self._lending or kind is None or not isinstance(server.endpoint, Ssh):
            return None
        return (server.endpoint.key, *kind)

    def lend(self, server: ServerT, until: float | None = None) -> ServerT:
        """An idle kept server like `server` that lives until `until` (time.monotonic()),
        else `server` started (and kept afterwards when lending is on)."""
        key = self._key(server)
        if key is None:
            return server.start()
        kept = self._take(key, until)
        if isinstance(kept, type(server)):
            self._keys[id(kept)] = key
            return kept
        server.lifetime = max(server.lifetime or 0.0, KEPT_LIFETIME)
        server.start()
        self._keys[id(server)] = key
        return server

    def _take(self, key: Key, until: float | None) -> SpawnedServer | None:
        """An idle, alive kept server of `key`; the unusable ones met on the way are stopped."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                server = idle.pop()
            process = server.process
            usable = process is not None and process.alive()
            usable = usable and (until is None or server.lives_until(until))
            if usable and wait_until(server.idle, IDLE_WAIT, interval=0.005):
                return server
            server.stop()

    def give_back(self, server: SpawnedServer, clean: bool) -> None:
        """Keep `server` for the next test when it served this one cleanly, else stop it."""
        key = self._keys.pop(id(server), None)
        process = server.process
        alive = process is not None and process.alive()
        with self._lock:
            if key is not None and clean and alive and self._lending:
                self._idle.setdefault(key, []).append(server)
                return
        server.stop()

    def kept(self) -> list[SpawnedServer]:
        """The idle kept servers."""
        with self._lock:
            return [server for servers in self._idle.values() for server in servers]

    def close(self, containing: str | None = None) -> None:
        """Stop every kept server (or those whose connection mentions `containing`)."""
        with self._lock:
            keys = [k for k in self._idle if containing is None or containing in k[0]]
            servers = [server for key in keys for server in self._idle.pop(key)]
        for server in servers:
            server.stop()


POOL = ServerPool()
atexit.register(POOL.close)

__all__ = ["IDLE_WAIT", "KEPT_LIFETIME", "POOL", "ServerPool"]
