"""A traffic flow's options (protocol, rate, DSCP, ...), validated once from YAML or kwargs."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError, MeasurementError, check_key, did_you_mean
from ..hosts.endpoints import Endpoint, Local
from ..units import Kind, parse, parse_dscp, whole_number

PROTOCOLS = ("tcp", "udp")
MIN_BITRATE = 1.0
MAX_BITRATE = 10e12
DIRECTIONS = ("upload", "download", "bidir")
CONGESTION_FILE = "/proc/sys/net/ipv4/tcp_available_congestion_control"
CONGESTION_TIMEOUT = 10.0
_CONGESTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,15}")  # a kernel module's name, 16 bytes at most
_AVAILABLE: dict[str, list[str]] = {}  # far hosts' lists, read once per session
_AVAILABLE_LOCK = threading.Lock()


def available_congestion_controls(endpoint: Endpoint | None = None) -> list[str]:
    """TCP congestion controls the kernel where `endpoint` runs offers (this host's by
    default; empty where unknown). A far host's list is read once per session."""
    if endpoint is None or isinstance(endpoint, Local):
        try:
            with open(CONGESTION_FILE) as file:
                return file.read().split()
        except OSError:
            return []
    key = f"{type(endpoint).__name__}:{endpoint.name}"
    with _AVAILABLE_LOCK:
        if key not in _AVAILABLE:
            completed = endpoint.run(["cat", CONGESTION_FILE], timeout=CONGESTION_TIMEOUT)
            _AVAILABLE[key] = completed.stdout.split() if completed.returncode == 0 else []
        return _AVAILABLE[key]


def check_congestion(traffic: Traffic, endpoint: Endpoint) -> None:
    """The flow's congestion control, if it names one, is available where `endpoint` runs:
    a MeasurementError naming that host and what it offers, before anything starts."""
    name = traffic.congestion
    available = available_congestion_controls(endpoint) if name else []
    if name and available and name not in available:
        where = "this host" if isinstance(endpoint, Local) else f"host {endpoint.name}"
        raise MeasurementError(
            f"TCP congestion control '{name}' is not available on {where}"
            f"{did_you_mean(name, available)} (available there: {', '.join(available)})"
        )


@dataclass(frozen=True)
class Traffic:
    """One iperf3 flow, in base units: rates in bit/s, times in s, sizes in bytes."""

    protocol: str = "tcp"
    streams: int = 1
    bitrate: float | None = None  # None: iperf3's default (unlimited TCP, 1 Mbit/s UDP)
    length: int | None = None  # bytes per write / per UDP datagram
    duration: float = 1.0
    omit: float = 0.0
    direction: str = "upload"
    dscp: int | None = None
    congestion: str | None = None

    @property
    def timeout(self) -> float:
        """Hard limit on one client run: duration, warm-up, connect, and grace."""
        return self.duration + self.omit + 10.0

    def with_options(self, options: Mapping[str, Any]) -> Traffic:
        """A copy with `options` (as a user writes them) applied and validated."""
        return replace(self, **_parse_options(options))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Traffic:
        """Validate a user's options: unknown keys, units and ranges each get a clear error."""
        return cls().with_options(options)


def _parse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, value in options.items():
        check_key(key, TRAFFIC_KEYS, "traffic")
        try:
            parsed[key] = _PARSERS[key](value)
        except InputError as error:
            raise InputError(error.message, key=key) from None
    return parsed


def _bare_number(value: Any) -> bool:
    """A number written without a unit (3, 3.0 or "3")."""
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _choice(key: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse_choice(value: Any) -> str:
        text = str(value).lower()
        if text not in choices:
            listing = " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
            raise InputError(f"{key} '{value}' is not {listing}{did_you_mean(text, choices)}")
        return text

    return parse_choice


def _bitrate(value: Any) -> float:
    rate = parse(value, Kind.RATE)
    # iperf3 reads -b into a 64-bit count, and '-b 0' means unlimited.
    if not MIN_BITRATE <= rate <= MAX_BITRATE:
        raise InputError(f"bitrate must be from 1 bit/s to 10 Tbit/s, got {value!r}")
    return rate


def _length(value: Any) -> int:
    size = parse(value, Kind.SIZE)
    if not 1 <= size <= 1024 * 1024 or not float(size).is_integer():
        raise InputError(f"length must be a whole number of bytes, 1 B to 1 MiB, got {value!r}")
    return int(size)


def _whole_seconds(key: str, lowest: int, highest: int, span: str) -> Callable[[Any], float]:
    def parse_seconds(value: Any) -> float:
        if _bare_number(value):
            # The generic hint would say '3 ms', which iperf3 cannot do: it counts seconds.
            raise InputError(f"'{str(value).strip()}' needs a unit, e.g. '{str(value).strip()} s'")
        seconds = parse(value, Kind.DURATION)
        if not float(seconds).is_integer():
            # iperf3 reads -t and -O with atoi(): 0.5 s would become 0, an endless test.
            choices = sorted({max(lowest, int(seconds)), max(lowest, int(seconds) + 1)})
            write = " or ".join(f"'{whole} s'" for whole in choices)
            raise InputError(f"iperf3 measures whole seconds; write {write} instead of {value!r}")
        if not lowest <= seconds <= highest:
            raise InputError(f"{key} must be from {span}, got {value!r}")
        return seconds

    return parse_seconds


def parse_congestion(value: Any) -> str:
    """A TCP congestion control's name ('cubic', 'bbr'); whether the kernel offers it is
    checked where the flow runs (check_congestion), which may be another host."""
    name = str(value).strip().lower()
    if not _CONGESTION_NAME.fullmatch(name):
        raise InputError(
            f"'{value}' is not the name of a TCP congestion control; Linux names them in "
            "lower case letters, digits and '_', e.g. cubic, bbr or reno"
        )
    return name


# One parser per traffic key: the keys a flow accepts are exactly this table's.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "protocol": _choice("protocol", PROTOCOLS),
    "streams": lambda value: whole_number(value, 1, 128, "streams"),
    "bitrate": _bitrate,
    "length": _length,
    "duration": _whole_seconds("duration", 1, 86400, "1 s to 1 day"),
    "omit": _whole_seconds("omit", 0, 3600, "0 s to 1 h"),
    "direction": _choice("direction", DIRECTIONS),
    "dscp": parse_dscp,
    "congestion": parse_congestion,
}
TRAFFIC_KEYS = tuple(_PARSERS)
