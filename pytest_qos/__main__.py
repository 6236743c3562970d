"""`python -m pytest_qos responder|probe ...`: the far end and the client of latency probes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import MeasurementError
from .target import RESPONDER_PORT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_qos", description="pytest-qos helpers (no pytest needed)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    responder = commands.add_parser(
        "responder", help="answer udp probes (UDP echo) and tcp probes (TCP accept) on one port"
    )
    responder.add_argument("--bind", default="0.0.0.0", help="address to listen on (default all)")
    responder.add_argument("--port", type=int, default=RESPONDER_PORT, help="UDP and TCP port")
    responder.add_argument("--no-tcp", action="store_true", help="answer UDP probes only")
    responder.add_argument(
        "--lifetime", type=float, default=None, help="exit after this many seconds"
    )
    probe = commands.add_parser("probe", help="run a udp or tcp probe client; prints JSON")
    probe.add_argument("--kind", choices=("udp", "tcp"), default="udp")
    probe.add_argument("--host", required=True)
    probe.add_argument("--port", type=int, default=RESPONDER_PORT)
    probe.add_argument("--interval", type=float, default=0.02, help="seconds between probes")
    probe.add_argument("--count", type=int, default=50)
    probe.add_argument("--size", type=int, default=64, help="UDP payload bytes")
    probe.add_argument("--timeout", type=float, default=1.0, help="seconds; later is lost")
    probe.add_argument("--dscp", type=int, default=None, help="DSCP 0-63 to mark probes with")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m pytest_qos` and the `pytest-qos` script."""
    options = _parser().parse_args(argv)
    if options.command == "responder":
        from .probes.responder import serve

        return serve(options.bind, options.port, tcp=not options.no_tcp, lifetime=options.lifetime)
    if options.interval <= 0 or options.count < 1 or options.timeout <= 0:
        print(json.dumps({"error": "interval and timeout must be above 0, count at least 1"}))
        return 2
    schedule = {
        "interval": options.interval,
        "count": options.count,
        "timeout": options.timeout,
        "dscp": options.dscp,
    }
    try:
        if options.kind == "udp":
            from .probes.udp import UdpProbeClient

            record = UdpProbeClient(options.host, options.port, size=options.size, **schedule).run()
        else:
            from .probes.tcp import TcpProbeClient

            record = TcpProbeClient(options.host, options.port, **schedule).run()
    except MeasurementError as error:
        print(json.dumps({"error": error.message}))
        return 3
    except OSError as error:
        print(json.dumps({"error": f"probe to {options.host} port {options.port}: {error}"}))
        return 3
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
