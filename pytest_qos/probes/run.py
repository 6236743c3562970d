"""run_probe: spawn a responder when the target needs one, run the client there, compute metrics."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sys
from typing import Any

from ..errors import MeasurementError
from ..hosts.endpoints import Endpoint, Local, Netns
from ..hosts.target import Target
from ..measure.servers import SpawnedServer
from ..results import Measurement
from . import lateness
from .farend import directions, dscp_metrics
from .icmp import find_ping, parse_ping, ping_command
from .inprocess import socket_factory
from .spec import MIN_INTERVAL, STAMP_PORT, Probe
from .stats import Reply, record_metrics, replies_record
from .tcp import TcpProbeClient
from .udp import UdpProbeClient

# Keeps a spawned responder from outliving a run whose cleanup never happened.
_RESPONDER_LIFETIME_MARGIN = 60.0
# A spawned responder serves one test's probe: room for the fastest schedule (0.1 ms) twice over.
SPAWNED_RATE = 2 / MIN_INTERVAL


def python_command(*arguments: str, endpoint: Endpoint | None = None) -> list[str]:
    """`python -m pytest_qos ARGS` here; at a remote endpoint, its shipped stdlib-only script."""
    ship = getattr(endpoint, "python_argv", None)
    prefix: list[str] = ship() if ship is not None else [sys.executable, "-m", "pytest_qos"]
    return [*prefix, *arguments]


def client_command(
    probe: Probe, host: str, port: int, endpoint: Endpoint | None = None
) -> list[str]:
    """The argv of the udp or tcp probe client (`python -m pytest_qos probe ...`)."""
    argv = python_command(
        "probe",
        "--kind",
        probe.kind,
        "--host",
        host,
        "--port",
        str(port),
        "--interval",
        repr(probe.interval),
        "--count",
        str(probe.packets),
        "--timeout",
        repr(probe.timeout),
        endpoint=endpoint,
    )
    if probe.kind in ("udp", "stamp"):
        argv += ["--size", str(probe.size)]
    if probe.dscp is not None:
        argv += ["--dscp", str(probe.dscp)]
    return argv


def responder_command(
    bind: str,
    port: int,
    lifetime: float | None = None,
    rate: float = SPAWNED_RATE,
    endpoint: Endpoint | None = None,
) -> list[str]:
    """The argv of a responder on `bind`:`port`, admitting `rate` packets/s per source
    (at a remote endpoint, the shipped script)."""
    argv = python_command("responder", "--bind", bind, "--port", str(port), endpoint=endpoint)
    if lifetime is not None:
        argv += ["--lifetime", f"{lifetime:g}"]
    return [*argv, "--rate-limit", f"{rate:g}"]


class SpawnedResponder(SpawnedServer):
    """A responder started at the target's server endpoint, ready once its socket is bound."""

    what = "the responder"

    def __init__(self, endpoint: Endpoint, bind: str, lifetime: float, protocol: str) -> None:
        # It answers udp and tcp probes on one port: the port must be free for both.
        super().__init__(endpoint, bind, ready_protocol=protocol, port_protocols=("udp", "tcp"))
        self.lifetime = lifetime

    def command(self) -> list[str]:
        """The responder's argv."""
        return responder_command(self.bind, self.port, self.lifetime, endpoint=self.endpoint)


def run_probe(probe: Probe, target: Target) -> Measurement:
    """Run `probe` across `target`: latency.* metrics, mos, and the RTT series."""
    host = probe.host or target.host
    if probe.kind == "icmp":
        return _run_ping(probe, target, host)
    responder: SpawnedResponder | None = None
    try:
        if target.spawns_servers and not probe.explicit_target and probe.kind != "stamp":
            assert target.server is not None
            bind = target.bind or target.host
            responder = SpawnedResponder(
                target.server,
                bind,
                probe.timeout_total + _RESPONDER_LIFETIME_MARGIN,
                probe.kind,
            ).start()
            port = responder.port
        elif probe.kind == "stamp":
            port = probe.port or STAMP_PORT
        else:
            port = probe.port or target.responder_port
        command, record = _run_client(probe, target, host, port)
        extra: dict[str, Any] = {"host": host, "port": port}
        if responder is not None:
            extra["responder"] = responder.command()
        same_host = _same_clock(target, host, responder is not None)
        measurement = _measurement(probe, record, command, extra, same_host)
        if responder is not None:
            measurement.setup = [responder.reproduce_command()]
        return measurement
    finally:
        if responder is not None:
            responder.stop()


def _run_ping(probe: Probe, target: Target, host: str) -> Measurement:
    ping = find_ping()
    command = ping_command(
        ping,
        host,
        interval=probe.interval,
        count=probe.packets,
        size=probe.size,
        timeout=probe.timeout,
        dscp=probe.dscp,
    )
    completed = target.client.run(command, timeout=probe.timeout_total)
    # ping exits 1 when no reply came (a measurement: 100 % loss), 2 on errors.
    if completed.returncode not in (0, 1):
        problem = (completed.stderr or completed.stdout).strip().splitlines()
        raise MeasurementError(
            f"ping failed (exit {completed.returncode}): {problem[-1] if problem else 'no output'}",
            command,
        )
    parsed = parse_ping(completed.stdout, probe.interval, probe.timeout)
    replies = [Reply(int(seq), float(rtt)) for seq, rtt in parsed["replies"]]
    received, summary, reordered = replies_record(replies, [reply.seq for reply in replies])
    per_packet = sorted([[seq, rtt * 1e9] for seq, rtt in parsed["replies"]])
    record = {
        **parsed,
        "received": received,
        "rtt": summary,
        "reordered": reordered,
        "series": {
            "period": probe.interval,
            "points": [[seq, rtt, rtt, rtt, rtt, 0.0, 1] for seq, rtt in per_packet],
        },
    }
    return _measurement(probe, record, completed.argv, {"host": host}, True)


def _run_client(
    probe: Probe, target: Target, host: str, port: int
) -> tuple[list[str], dict[str, Any]]:
    """Run the udp/stamp/tcp client: in this process when the endpoint allows, else spawned."""
    command = client_command(probe, host, port, target.client)
    opener = socket_factory(target.client)
    if opener is None:
        completed = target.client.run(command, timeout=probe.timeout_total)
        return completed.argv, _client_record(completed.stdout, completed.stderr, command)
    command = target.client.command(command)  # what reproduces this run from a shell
    schedule: dict[str, Any] = {
        "interval": probe.interval,
        "count": probe.packets,
        "timeout": probe.timeout,
        "dscp": probe.dscp,
    }
    try:
        if probe.kind == "tcp":
            client = TcpProbeClient(host, port, **schedule)
            client.socket_factory = opener
            return command, client.run()
        udp = UdpProbeClient(
            host, port, size=probe.size, kind=probe.kind, socket_factory=opener, **schedule
        )
        return command, udp.run()
    except MeasurementError as error:
        raise MeasurementError(error.message, command) from None
    except OSError as error:
        raise MeasurementError(
            f"probe to {host} port {port}: {error.strerror or error}", command
        ) from None


def _same_clock(target: Target, host: str, spawned: bool) -> bool:
    """True when both ends read one clock: this host, or namespaces of it."""
    if type(target.client) not in (Local, Netns):
        return False
    if spawned:
        return type(target.server) in (Local, Netns)
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def _client_record(stdout: str, stderr: str, command: list[str]) -> dict[str, Any]:
    """The client's JSON, or its error as a MeasurementError."""
    record: Any = None
    with contextlib.suppress(ValueError):
        record = json.loads(stdout)
    if not isinstance(record, dict):
        detail = (stderr or stdout).strip().splitlines()
        raise MeasurementError(
            f"the probe client failed: {detail[-1] if detail else 'no output'}", command
        )
    if "error" in record:
        raise MeasurementError(str(record["error"]), command)
    return record


_DETAIL_KEYS = (
    "cpu_s",
    "send_priority",
    "send_late_basis",
    "refused",
    "timed_out",
    "skipped",
)


def _measurement(
    probe: Probe, record: dict[str, Any], command: list[str], extra: dict[str, Any], same: bool
) -> Measurement:
    sent = int(record["sent"])
    if sent <= 0:
        raise MeasurementError("the probe sent nothing", command)
    received = int(record["received"])
    metrics = record_metrics(sent, received, record["rtt"], int(record.get("reordered", 0)))
    metrics.update(lateness.metrics_of(record))
    lateness.check(metrics, probe.send_late_limits, sent, command)
    details: dict[str, Any] = {
        "kind": probe.kind,
        "interval": probe.interval,
        "sent": sent,
        "received": received,
        "timeout": probe.timeout,
        "percentiles": "exact" if record["rtt"].get("exact", True) else "histogram (≤ 0.05 %)",
        **({"dscp": probe.dscp} if probe.dscp is not None else {}),
        **({"size": probe.size} if probe.kind != "tcp" else {}),
        **extra,
        **{key: record[key] for key in _DETAIL_KEYS if key in record},
    }
    notes: list[str] = []
    if probe.speaks_stamp and "up" in record:
        where = f"{extra['host']}:{extra.get('port')}"
        metrics.update(directions(probe, record, sent, received, same, where, details, command))
        metrics.update(dscp_metrics(probe, record, where, notes, command))
    if notes:
        details["notes"] = notes
    measurement = Measurement(
        tool=f"probe:{probe.kind}",
        metrics=metrics,
        command=command,
        series=_series(record),
        details=details,
        raw={key: value for key, value in record.items() if key not in ("rtt", "up", "down")},
    )
    if "started" in record:
        measurement.started = float(record["started"])
    return measurement


def _series(record: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Per-period RTT figures (s): `rtt` is each period's median, one point per probe if short."""
    series = record.get("series") or {}
    period = float(series.get("period", record.get("interval", 0.0)))
    points = [p for p in series.get("points", []) if p[6]]
    return {
        "rtt": [(p[0] * period, p[2] / 1e9) for p in points],
        "rtt.p99": [(p[0] * period, p[3] / 1e9) for p in points],
        "rtt.max": [(p[0] * period, p[4] / 1e9) for p in points],
        "loss": [(p[0] * period, float(p[5])) for p in series.get("points", [])],
    }
