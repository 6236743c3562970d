"""`python -m pytest_qos responder|probe|hops ...`: the far end and the clients of probes.

This module is what `hosts/ship.py` sends to far hosts as one stdlib-only script: it and what
it imports must need nothing but the standard library.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InputError, MeasurementError
from ..hosts.names import check_host
from ..hosts.target import RESPONDER_PORT
from .clock import MIN_INTERVAL
from .hops import HopProbeClient
from .live import LineWriter, LiveWindows

# Bounds of the command-line numbers; each error names its valid range.
MAX_INTERVAL = 3600.0
MAX_COUNT = 1_000_000
MAX_TIMEOUT = 3600.0
MAX_LIFETIME = 366 * 86400.0
MAX_RATE = 1_000_000.0
MAX_HOPS = 64


def _integer(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number from {low} to {high}, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high}, got {value}")
        return value

    return parse


def _seconds(
    low: float, high: float, what: str, *, low_open: bool = False, unit: str = "seconds"
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or value > high:
            opening = "above" if low_open else "from"
            raise argparse.ArgumentTypeError(
                f"{what} must be a finite number of {unit} {opening} {low:g} up to {high:.10g}, "
                f"got {text!r}"
            )
        return value

    return parse


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--allow takes an address or network such as 198.18.1.0/24 or 2001:2::/48, "
            f"got {text!r}"
        ) from None


def _bind(text: str) -> str:
    """--bind: one address or host name; '' would listen on every address."""
    try:
        return check_host(text, "--bind")
    except InputError as error:
        raise argparse.ArgumentTypeError(
            f"{error.message} (0.0.0.0 or :: listen on every address, if that is meant)"
        ) from None


def _responder_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    responder = commands.add_parser(
        "responder",
        help="a STAMP session-reflector for udp probes, and a TCP listener for tcp probes",
    )
    responder.add_argument(
        "--bind",
        type=_bind,
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: loopback)",
    )
    responder.add_argument(
        "--port",
        type=_integer(1, 65535, "--port"),
        default=None,
        help=f"UDP and TCP port (default {RESPONDER_PORT}, and UDP 862 too when privileged)",
    )
    responder.add_argument("--no-tcp", action="store_true", help="answer UDP probes only")
    responder.add_argument(
        "--lifetime",
        type=_seconds(0.0, MAX_LIFETIME, "--lifetime", low_open=True),
        default=None,
        help="exit after this many seconds",
    )
    responder.add_argument(
        "--allow",
        type=_network,
        action="append",
        default=[],
        metavar="CIDR",
        help="answer only these sources (repeatable; default: any source that reaches --bind)",
    )
    responder.add_argument(
        "--rate-limit",
        type=_seconds(0.0, MAX_RATE, "--rate-limit", unit="packets per second"),
        default=None,
        metavar="PPS",
        help="packets per second answered per source address (default 2000; 0: no limit)",
    )
    responder.add_argument(
        "--stateless",
        action="store_true",
        help="STAMP stateless mode: replies copy the sender's sequence number (no per-"
        "direction loss)",
    )


def _hops_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hops = commands.add_parser(
        "hops",
        help="per-hop probe: UDP at increasing TTL, ICMP errors read unprivileged; prints JSON",
    )
    hops.add_argument("--host", required=True)
    hops.add_argument(
        "--port",
        type=_integer(1, 65535, "--port"),
        default=33434,
        help="first destination port (each probe its own; nothing may listen there)",
    )
    hops.add_argument(
        "--interval",
        type=_seconds(MIN_INTERVAL, MAX_INTERVAL, "--interval"),
        default=1.0,
        help="seconds between rounds (one probe per hop each); default 1 s, a default Linux "
        "router's ICMP rate limit",
    )
    hops.add_argument("--count", type=_integer(1, MAX_COUNT, "--count"), default=5, help="rounds")
    hops.add_argument(
        "--timeout",
        type=_seconds(0.0, MAX_TIMEOUT, "--timeout", low_open=True),
        default=1.0,
        help="seconds; a later answer is lost",
    )
    hops.add_argument("--size", type=_integer(12, 65000, "--size"), default=64)
    hops.add_argument("--max-hops", type=_integer(1, MAX_HOPS, "--max-hops"), default=30)
    hops.add_argument(
        "--dscp", type=_integer(0, 63, "--dscp"), default=None, help="DSCP 0-63 to mark probes"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_qos", description="pytest-qos helpers (no pytest needed)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _responder_parser(commands)
    _hops_parser(commands)
    probe = commands.add_parser("probe", help="run a udp, stamp or tcp probe client; prints JSON")
    probe.add_argument("--kind", choices=("udp", "stamp", "tcp"), default="udp")
    probe.add_argument("--host", required=True)
    probe.add_argument("--port", type=_integer(1, 65535, "--port"), default=RESPONDER_PORT)
    probe.add_argument(
        "--interval",
        type=_seconds(MIN_INTERVAL, MAX_INTERVAL, "--interval"),
        default=0.02,
        help="seconds between probes",
    )
    probe.add_argument("--count", type=_integer(1, MAX_COUNT, "--count"), default=50)
    probe.add_argument(
        "--size", type=_integer(44, 65000, "--size"), default=64, help="UDP payload bytes"
    )
    probe.add_argument(
        "--timeout",
        type=_seconds(0.0, MAX_TIMEOUT, "--timeout", low_open=True),
        default=1.0,
        help="seconds; later is lost",
    )
    probe.add_argument(
        "--dscp", type=_integer(0, 63, "--dscp"), default=None, help="DSCP 0-63 to mark probes"
    )
    probe.add_argument(
        "--live",
        type=_seconds(0.0, MAX_INTERVAL, "--live", low_open=True),
        default=None,
        metavar="SECONDS",
        help='also print each interval\'s figures as a JSON line {"live": ...} while probing',
    )
    return parser


def _hops(options: argparse.Namespace) -> dict[str, object]:
    return HopProbeClient(
        options.host,
        options.port,
        interval=options.interval,
        count=options.count,
        timeout=options.timeout,
        dscp=options.dscp,
        size=options.size,
        max_hops=options.max_hops,
    ).run()


def main(argv: Sequence[str] | None = None) -> int:
    """The probes' commands: `responder`, `probe` and `hops`."""
    options = _parser().parse_args(argv)
    if options.command == "responder":
        from .responder import DEFAULT_RATE, Policy, serve

        rate = DEFAULT_RATE if options.rate_limit is None else options.rate_limit
        policy = Policy(allow=options.allow, rate=rate, stateful=not options.stateless)
        return serve(
            options.bind,
            options.port,
            tcp=not options.no_tcp,
            lifetime=options.lifetime,
            policy=policy,
        )
    live = getattr(options, "live", None)  # the hops command reports at its end only
    writer = LineWriter() if live is not None else None
    try:
        record = _hops(options) if options.command == "hops" else _probe(options, writer)
    except MeasurementError as error:
        print(json.dumps({"error": error.message}))
        return 3
    except OSError as error:
        print(json.dumps({"error": f"probe to {options.host} port {options.port}: {error}"}))
        return 3
    finally:
        if writer is not None:
            writer.close()  # every interval's line before the record
    print(json.dumps(record))
    return 0


def _probe(options: argparse.Namespace, writer: LineWriter | None) -> dict[str, Any]:
    """Run the probe client the options ask for; its intervals to `writer` if given."""
    schedule = {
        "interval": options.interval,
        "count": options.count,
        "timeout": options.timeout,
        "dscp": options.dscp,
    }
    live = None
    if writer is not None:
        live = LiveWindows(writer.sink, "", options.live, options.interval, options.timeout)
    if options.kind in ("udp", "stamp"):
        from .udp import UdpProbeClient

        udp = UdpProbeClient(
            options.host, options.port, size=options.size, kind=options.kind, **schedule
        )
        udp.live = live
        return udp.run()
    from .tcp import TcpProbeClient

    tcp = TcpProbeClient(options.host, options.port, **schedule)
    tcp.live = live
    return tcp.run()
