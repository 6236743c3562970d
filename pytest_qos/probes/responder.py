"""The far end of the udp and tcp probes: echoes UDP probes, accepts TCP connections."""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import time

from .clock import ANCILLARY_SIZE, enable_kernel_timestamps, kernel_timestamp
from .udp import decode, stamp_held

_BATCH = 256  # datagrams handled per wake-up before checking the lifetime again


class Responder:
    """A UDP echo and a TCP listener on one address and port."""

    def __init__(self, bind: str, port: int, *, tcp: bool = True) -> None:
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self.udp = socket.socket(family, socket.SOCK_DGRAM)
        self.tcp: socket.socket | None = None
        try:
            enable_kernel_timestamps(self.udp)
            self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.udp.bind((bind, port))
            self.port = int(self.udp.getsockname()[1])
            if tcp:
                self.tcp = socket.socket(family, socket.SOCK_STREAM)
                self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.tcp.bind((bind, self.port))
                self.tcp.listen(4096)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """Close both sockets."""
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()

    def serve(self, lifetime: float | None = None) -> None:
        """Answer until killed, or until `lifetime` seconds have passed."""
        deadline = None if lifetime is None else time.monotonic() + lifetime
        sockets = [self.udp] + ([self.tcp] if self.tcp is not None else [])
        while deadline is None or time.monotonic() < deadline:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select(sockets, [], [], wait)
            if self.udp in readable:
                self._echo()
            if self.tcp is not None and self.tcp in readable:
                self._accept()

    def _echo(self) -> None:
        for _ in range(_BATCH):
            try:
                datagram, ancillary, _, address = self.udp.recvmsg(
                    65535, ANCILLARY_SIZE, socket.MSG_DONTWAIT
                )
            except (BlockingIOError, ConnectionRefusedError):
                return
            received_ns = kernel_timestamp(ancillary) or time.time_ns()
            if decode(datagram) is None:
                continue  # not a probe: never reflect arbitrary traffic
            with contextlib.suppress(OSError):
                # Stamped just before the send, as TWAMP's reflector does.
                self.udp.sendto(stamp_held(datagram, time.time_ns() - received_ns), address)

    def _accept(self) -> None:
        assert self.tcp is not None
        with contextlib.suppress(OSError):
            connection, _ = self.tcp.accept()
            connection.close()


def serve(bind: str, port: int, *, tcp: bool = True, lifetime: float | None = None) -> int:
    """Run a responder in the foreground (the `responder` command); returns an exit code."""
    try:
        responder = Responder(bind, port, tcp=tcp)
    except OSError as error:
        print(f"responder: cannot listen on {bind} port {port}: {error.strerror}", file=sys.stderr)
        return 2
    print(f"responder: listening on {bind} port {responder.port}", file=sys.stderr, flush=True)
    try:
        responder.serve(lifetime)
    except KeyboardInterrupt:
        pass
    finally:
        responder.close()
    return 0
