"""The icmp probe: the system `ping` (iputils), parsed reply by reply."""

from __future__ import annotations

import re
import shutil
from typing import Any

from ..errors import MeasurementError, ToolMissingError
from .lateness import estimated

INSTALL_HINT = (
    "ping (iputils) is not installed: install it with 'sudo apt-get install iputils-ping' "
    "(Debian/Ubuntu) or 'sudo dnf install iputils' (Fedora)"
)
# "[1732435000.123456] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms"
_REPLY = re.compile(r"icmp_seq=(\d+)\b.*?\btime=([\d.]+) ms(.*)$")
_PRINTED = re.compile(r"^\[(\d+(?:\.\d+)?)\]")  # -D: when ping printed the reply (s)
_TRANSMITTED = re.compile(r"^(\d+) packets transmitted")
_SEQ_SPACE = 1 << 16  # icmp_seq wraps at 65536


def find_ping() -> str:
    """The ping executable, or ToolMissingError with one line on how to get it."""
    found = shutil.which("ping")
    if not found:
        raise ToolMissingError(INSTALL_HINT)
    return found


def ping_command(
    ping: str,
    host: str,
    *,
    interval: float,
    count: int,
    size: int,
    timeout: float,
    dscp: int | None = None,
) -> list[str]:
    """The ping argv: -c alone (never with -w, which counts in-flight replies as lost)."""
    argv = [ping, "-n", "-D", "-i", f"{interval:.6f}", "-c", str(count), "-s", str(size)]
    # -W: how long ping waits for the last replies after the last send.
    argv += ["-W", f"{timeout:.3f}"]
    if dscp is not None:
        argv += ["-Q", str(dscp << 2)]
    return [*argv, "--", host]  # after '--': a host is never read as an option


def parse_ping(output: str, interval: float, timeout: float) -> dict[str, Any]:
    """ping's text → the probe record: replies as [seq from 0, rtt s] in arrival order, and
    the send lateness estimated from when each reply was printed minus its RTT."""
    replies: list[list[float]] = []
    sends: list[tuple[int, float]] = []
    seen: set[int] = set()
    sent: int | None = None
    highest = -1
    for line in output.splitlines():
        transmitted = _TRANSMITTED.match(line.strip())
        if transmitted:
            sent = int(transmitted.group(1))
            continue
        match = _REPLY.search(line)
        if not match or "DUP!" in match.group(3):
            continue
        seq = _unwrap(int(match.group(1)) - 1, highest)
        highest = max(highest, seq)
        rtt = float(match.group(2)) / 1000
        if seq in seen or rtt > timeout:
            continue
        seen.add(seq)
        replies.append([seq, rtt])
        printed = _PRINTED.match(line)
        if printed:
            sends.append((seq, float(printed.group(1)) - rtt))
    if sent is None:
        raise MeasurementError("ping printed no summary line ('N packets transmitted')")
    record = {"kind": "icmp", "sent": sent, "interval": interval, "replies": replies}
    return {**record, **estimated(sends, interval)}


def _unwrap(wrapped: int, highest: int) -> int:
    """The full sequence number nearest to the highest seen so far."""
    if highest < 0:
        return wrapped % _SEQ_SPACE
    base = highest - highest % _SEQ_SPACE
    candidates = (base - _SEQ_SPACE + wrapped, base + wrapped, base + _SEQ_SPACE + wrapped)
    return min((c for c in candidates if c >= 0), key=lambda c: abs(c - highest))
