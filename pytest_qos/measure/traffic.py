"""A traffic flow's options (protocol, rate, DSCP, ...), validated once from YAML or kwargs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError, check_key, did_you_mean
from ..units import DSCP_NAMES, Kind, parse, parse_dscp, whole_number

__all__ = ["DSCP_NAMES", "Traffic", "parse_dscp"]  # the DSCP names live in units.py

PROTOCOLS = ("tcp", "udp")
MIN_BITRATE = 1.0
MAX_BITRATE = 10e12
DIRECTIONS = ("upload", "download", "bidir")


def available_congestion_controls() -> list[str]:
    """TCP congestion controls this kernel offers (empty where unknown)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as file:
            return file.read().split()
    except OSError:
        return []


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


def _congestion(value: Any) -> str:
    name = str(value).lower()
    available = available_congestion_controls()
    if available and name not in available:
        raise InputError(
            f"TCP congestion control '{value}' is not available on this kernel"
            f"{did_you_mean(name, available)} (available: {', '.join(available)})"
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
    "congestion": _congestion,
}
TRAFFIC_KEYS = tuple(_PARSERS)
