"""Is this host's clock synchronised, and how well? The kernel's NTP state (adjtimex)."""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

_TIME_ERROR = 5  # adjtimex(): "clock not synchronised"
_STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    """struct timex from <sys/timex.h> (Linux); the trailing ints are reserved padding."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class SyncState:
    """The kernel's view of the clock, as chrony, ntpd or systemd-timesyncd left it."""

    synced: bool
    error: float  # estimated error, seconds (esterror); maxerror when not synchronised
    max_error: float  # the kernel's bound on the error, seconds
    source: str = "adjtimex"

    def to_json(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "synced": self.synced,
            "error": self.error,
            "max_error": self.max_error,
            "source": self.source,
        }


class SyncUnreadable(Exception):
    """The synchronisation state of this host cannot be read."""


@functools.cache
def _libc() -> ctypes.CDLL:
    # The C library this process already has: find_library would run ldconfig each time.
    return ctypes.CDLL(None, use_errno=True)


def read_sync_state() -> SyncState:
    """This host's clock synchronisation (read-only adjtimex; needs no privilege)."""
    try:
        libc = _libc()
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError) as error:
        raise SyncUnreadable(f"adjtimex is not available ({error})") from None
    if state < 0:
        raise SyncUnreadable(f"adjtimex failed (errno {ctypes.get_errno()})")
    synced = state != _TIME_ERROR and not timex.status & _STA_UNSYNC
    max_error = timex.maxerror / 1e6
    estimate = timex.esterror / 1e6 if synced else max_error
    return SyncState(synced=synced, error=estimate, max_error=max_error)


def describe_unsynced(state: SyncState, where: str) -> str:
    """Why one-way figures from `where` cannot be trusted."""
    return (
        f"the clock of {where} is not synchronised (adjtimex: unsynchronised, max error "
        f"{state.max_error:g} s); start chrony/ntpd/systemd-timesyncd there, or measure only "
        "round trips"
    )
