"""A latency probe's options (kind, interval, count or duration, ...), validated once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError, check_key, did_you_mean
from ..hosts.names import check_host
from ..hosts.target import RESPONDER_PORT
from ..units import Kind, format_value, parse, parse_dscp, whole_number
from .clock import MIN_INTERVAL
from .lateness import Limits, default_limits, parse_limits

KINDS = ("udp", "icmp", "tcp", "stamp", "hops")
PROBE_KEYS = (
    "kind",
    "interval",
    "count",
    "duration",
    "size",
    "dscp",
    "timeout",
    "target",
    "clock",
    "max_hops",
    "send_late",
)
TARGET_KEYS = ("host", "port")
CLOCKS = ("auto", "synced", "none")
STAMP_KINDS = ("udp", "stamp")  # the kinds that speak STAMP: one-way delay and the DSCP report
STAMP_PORT = 862
MAX_COUNT = 1_000_000
UDP_HEADER_BYTES = 44  # a STAMP test packet (see stamp.py); 52 with the Class-of-Service TLV
MAX_SIZE = 65_000
DEFAULT_DURATION = 1.0
# Startup of the client and responder processes, handshake and reporting, on a busy machine.
OVERHEAD_S = 10.0
# The hops probe: a round (one probe per hop) a second, under a default Linux router's ICMP
# rate limit (net.ipv4.icmp_ratelimit: 1000 ms per destination, after a burst of 6).
HOPS_INTERVAL = 1.0
HOPS_ROUNDS = 5
DEFAULT_MAX_HOPS = 30
MAX_HOPS = 64
_HOP_METRIC = re.compile(r"^hop\.(\d+)\.")


@dataclass(frozen=True)
class Probe:
    """One latency probe in base units: times in seconds, sizes in bytes."""

    kind: str = "udp"
    interval: float = 0.020
    count: int | None = None  # exactly one of count / duration decides how many probes
    duration: float | None = None
    size: int = 64  # UDP payload or ICMP payload (ping -s); ignored by tcp
    dscp: int | None = None
    timeout: float = 1.0  # a reply later than this counts as lost
    host: str | None = None  # None: the target's host
    port: int | None = None  # None: the target's responder port (or a spawned one)
    clock: str = "auto"  # one-way delay: "auto" (same host only), "synced" (declared), "none"
    needs_one_way: bool = False  # a bound reads latency.up.* / latency.down.*
    needs_dscp: bool = False  # a bound reads dscp.*
    max_hops: int = DEFAULT_MAX_HOPS  # hops probe: the longest path it follows
    needs_hop: int = 0  # hops probe: the highest hop a bound reads (hop.N.*)
    needs_hops: bool = False  # hops probe: a bound reads `hops`
    needs_hop_dscp: bool = False  # hops probe: a bound reads hop.N.dscp
    send_late: Limits | None = None  # upper limits on send lateness; None: the default

    def send_late_limits(self, sent: int) -> Limits:
        """The send-lateness limits beyond which a run of `sent` sends is an error.

        ping keeps its own schedule, which we cannot tighten: its (estimated) lateness is
        judged only against limits the probe states.
        """
        if self.send_late is not None:
            return self.send_late
        return () if self.kind == "icmp" else default_limits(self.interval, sent)

    @property
    def packets(self) -> int:
        """How many probes are sent."""
        if self.count is not None:
            return self.count
        duration = DEFAULT_DURATION if self.duration is None else self.duration
        return max(1, round(duration / self.interval))

    @property
    def send_time(self) -> float:
        """Seconds from the first probe to the last."""
        return (self.packets - 1) * self.interval

    @property
    def timeout_total(self) -> float:
        """Worst-case seconds one run takes; the hard timeout of the client process."""
        if self.kind == "hops":  # finding the path waits up to `timeout` at each silent hop
            return self.send_time + (self.max_hops + 1) * self.timeout + OVERHEAD_S
        return self.send_time + self.timeout + OVERHEAD_S

    @property
    def explicit_target(self) -> bool:
        """True when the options name the host or port to probe."""
        return self.host is not None or self.port is not None

    @property
    def speaks_stamp(self) -> bool:
        """True for the kinds that report one-way delay and the far end's DSCP."""
        return self.kind in STAMP_KINDS

    def unmeasurable(self, metric: str) -> str | None:
        """Why this probe cannot report `metric`, or None when it can."""
        per_hop = metric == "hops" or metric.startswith("hop.")
        if per_hop != (self.kind == "hops"):
            if per_hop:
                return (
                    f"'{metric}' is measured hop by hop by a hops probe; use 'kind: hops' "
                    f"(this probe is {_a(self.kind)} probe)"
                )
            return (
                f"'{metric}' is measured by udp, icmp, tcp and stamp probes; a hops probe "
                "reports hops and hop.N.latency.p50|p99, hop.N.loss, hop.N.dscp"
            )
        if per_hop:
            hop = _HOP_METRIC.match(metric)
            if hop and not 1 <= int(hop.group(1)) <= self.max_hops:
                return f"'{metric}': hops are numbered 1 to max_hops ({self.max_hops})"
            return None
        one_way = metric.startswith(("latency.up.", "latency.down."))
        if (one_way or metric.startswith("dscp.")) and not self.speaks_stamp:
            what = "one-way delay" if one_way else "the DSCP seen at the far end"
            return (
                f"'{metric}' needs {what}, which {_a(self.kind)} probe cannot report; "
                "use 'kind: udp' (or 'kind: stamp' to a STAMP reflector)"
            )
        if one_way and self.clock == "none":
            return f"'{metric}' is a one-way figure, but this probe says 'clock: none'"
        return None

    def for_metrics(self, metrics: Iterable[str]) -> Probe:
        """This probe, told which figures its test's bounds read (so missing ones are errors)."""
        names = list(metrics)
        hops = [int(m.group(1)) for m in map(_HOP_METRIC.match, names) if m]
        return replace(
            self,
            needs_one_way=any(n.startswith(("latency.up.", "latency.down.")) for n in names),
            needs_dscp=any(n.startswith("dscp.") for n in names),
            needs_hop=max(hops, default=0),
            needs_hops="hops" in names,
            needs_hop_dscp=any(n.startswith("hop.") and n.endswith(".dscp") for n in names),
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Probe:
        """Validate a user's options: unknown keys, units and ranges each get a clear error."""
        if not isinstance(options, Mapping):
            raise InputError(
                f"probe options must be a mapping such as {{kind: udp}}, got {options!r}"
            )
        parsed: dict[str, Any] = {}
        for key, value in options.items():
            check_key(key, PROBE_KEYS, "probe")
            try:
                if key == "target":
                    parsed.update(_parse_target(value))
                else:
                    parsed[key] = _parse_option(key, value)
            except InputError as error:
                raise InputError(error.message, key=error.key or key) from None
        if "count" in parsed and "duration" in parsed:
            raise InputError(
                "give either 'count' (how many probes) or 'duration' (how long), not both",
                key="duration",
            )
        if parsed.get("kind") == "hops":
            parsed.setdefault("interval", HOPS_INTERVAL)
            if "duration" not in parsed:
                parsed.setdefault("count", HOPS_ROUNDS)
        elif "max_hops" in parsed:
            raise InputError(
                f"'max_hops' has no meaning for {_a(parsed.get('kind', 'udp'))} probe; it "
                "bounds the path a 'kind: hops' probe follows",
                key="max_hops",
            )
        probe = cls(**parsed)
        if probe.packets > MAX_COUNT:
            raise InputError(
                f"{probe.packets} probes is too many; at most {MAX_COUNT} "
                "(raise 'interval' or shorten 'duration')",
                key="count" if probe.count is not None else "duration",
            )
        if probe.kind == "tcp" and "size" in parsed:
            raise InputError("'size' has no meaning for a tcp probe (it only connects)", key="size")
        if "clock" in parsed and not probe.speaks_stamp:
            raise InputError(
                f"'clock' has no meaning for {_a(probe.kind)} probe (it reports round trips only); "
                "one-way delay needs 'kind: udp' or 'kind: stamp'",
                key="clock",
            )
        return probe


def _a(kind: str) -> str:
    """'a tcp', 'an icmp'."""
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _parse_target(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(
            f"target must be a mapping such as {{host: 198.18.1.2, port: 7000}}, got {value!r}"
        )
    parsed: dict[str, Any] = {}
    for key, item in value.items():
        if key not in TARGET_KEYS:
            raise InputError(
                f"unknown target key '{key}'{did_you_mean(key, TARGET_KEYS)} (known: host, port)",
                key=f"target.{key}",
            )
        if key == "host":
            try:
                parsed["host"] = check_host(item.strip() if isinstance(item, str) else item)
            except InputError as error:
                raise InputError(error.message, key="target.host") from None
        else:
            try:
                parsed["port"] = whole_number(item, 1, 65535, "port")
            except InputError as error:
                raise InputError(
                    f"{error.message} (default {RESPONDER_PORT})", key="target.port"
                ) from None
    return parsed


def _one_of(value: Any, choices: tuple[str, ...], complaint: Callable[[str], str]) -> str:
    """`value` (any case) as one of `choices`, or an InputError: complaint(did-you-mean)."""
    text = str(value).strip().lower()
    if text not in choices:
        raise InputError(complaint(did_you_mean(text, choices)))
    return text


def _parse_option(key: str, value: Any) -> Any:
    if key == "kind":
        return _one_of(
            value,
            KINDS,
            lambda hint: f"unknown probe kind '{value}'{hint} (known: {', '.join(KINDS)})",
        )
    if key in ("interval", "duration", "timeout"):
        seconds = parse(value, Kind.DURATION)
        if not seconds > 0:
            raise InputError(f"{key} must be above 0, e.g. '20 ms', got {value!r}")
        # A little tolerance: '1000 us' is 1 ms, however the float rounds.
        if key == "interval" and seconds < MIN_INTERVAL * (1 - 1e-9):
            smallest = format_value(MIN_INTERVAL, Kind.DURATION)
            raise InputError(
                f"interval {value!r} is below the smallest a probe keeps, {smallest} "
                f"({1 / MIN_INTERVAL:,.0f} probes/s); faster, its own sends run late and it "
                "measures itself"
            )
        return seconds
    if key == "count":
        return whole_number(value, 1, MAX_COUNT, "count")
    if key == "max_hops":
        return whole_number(value, 1, MAX_HOPS, "max_hops")
    if key == "size":
        size = parse(value, Kind.SIZE)
        if not float(size).is_integer() or not UDP_HEADER_BYTES <= size <= MAX_SIZE:
            raise InputError(
                f"size must be a whole number of bytes from {UDP_HEADER_BYTES} B to "
                f"{MAX_SIZE} B, got {value!r}"
            )
        return int(size)
    if key == "dscp":
        return parse_dscp(value)
    if key == "send_late":
        return parse_limits(value)
    if key == "clock":
        return _one_of(
            value,
            CLOCKS,
            lambda hint: (
                f"clock must be one of {', '.join(CLOCKS)} (synced: both ends' clocks "
                f"are synchronised, e.g. by chrony), got {value!r}{hint}"
            ),
        )
    raise AssertionError(key)  # pragma: no cover - PROBE_KEYS lists every key handled above
