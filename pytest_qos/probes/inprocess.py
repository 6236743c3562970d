"""Run the udp and tcp probe clients inside this process: no interpreter start per run.

A probe client only needs sockets. On this machine's own namespace they are plain sockets; in
a lab namespace a short-lived thread enters the namespace (setns acts on the calling thread
only) and opens the socket there, and the socket stays in that namespace for its whole life.
Any other endpoint (ssh, ...) runs `python -m pytest_qos probe` there instead.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from typing import Any

from ..errors import MeasurementError
from ..hosts.endpoints import Endpoint, Local, Netns

_CLONE_NEWNET = 0x40000000
_NETNS_DIRS = ("/run/netns", "/var/run/netns")


def socket_factory(endpoint: Endpoint) -> Any:
    """A socket(family, type[, proto]) opener at `endpoint`, or None when it needs a process
    there."""
    if type(endpoint) is Local:
        return socket.socket
    if type(endpoint) is Netns:
        path = _namespace_path(endpoint.name)
        if path is not None and os.geteuid() == 0:

            def opener(family: int, kind: int, proto: int = 0) -> socket.socket:
                return socket_in_namespace(path, family, kind, proto)

            return opener
    return None


def _namespace_path(name: str) -> str | None:
    for directory in _NETNS_DIRS:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def socket_in_namespace(path: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket opened inside the network namespace at `path` (e.g. /run/netns/NAME)."""
    result: list[Any] = []

    def enter_and_open() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(descriptor, _CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns {path}: {os.strerror(error)}")
            finally:
                os.close(descriptor)
            result.append(socket.socket(family, kind, proto))
        except OSError as error:
            result.append(error)

    # A throwaway thread: it ends inside the namespace, and nothing else ever runs on it.
    worker = threading.Thread(target=enter_and_open, name="pytest-qos-setns", daemon=True)
    worker.start()
    worker.join(10.0)
    if not result:
        raise MeasurementError(f"could not open a socket in the namespace {path} within 10 s")
    if isinstance(result[0], OSError):
        raise result[0]
    opened: socket.socket = result[0]
    return opened
