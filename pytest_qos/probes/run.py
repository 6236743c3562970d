"""run_probe: spawn a responder when the target needs one, run the client there, compute metrics."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

from ..endpoints import Endpoint
from ..errors import MeasurementError
from ..results import Measurement
from ..servers import SpawnedServer
from ..target import Target
from .icmp import find_ping, parse_ping, ping_command
from .spec import Probe
from .stats import Reply, latency_metrics

# Keeps a spawned responder from outliving a run whose cleanup never happened.
_RESPONDER_LIFETIME_MARGIN = 60.0


def python_command(*arguments: str) -> list[str]:
    """`python -m pytest_qos ARGS`, with the interpreter running this code."""
    return [sys.executable, "-m", "pytest_qos", *arguments]


def client_command(probe: Probe, host: str, port: int) -> list[str]:
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
    )
    if probe.kind == "udp":
        argv += ["--size", str(probe.size)]
    if probe.dscp is not None:
        argv += ["--dscp", str(probe.dscp)]
    return argv


def responder_command(bind: str, port: int, lifetime: float | None = None) -> list[str]:
    """The argv of a responder on `bind`:`port`."""
    argv = python_command("responder", "--bind", bind, "--port", str(port))
    if lifetime is not None:
        argv += ["--lifetime", f"{lifetime:g}"]
    return argv


class SpawnedResponder(SpawnedServer):
    """A responder started at the target's server endpoint, ready once its socket is bound."""

    what = "the responder"

    def __init__(self, endpoint: Endpoint, bind: str, lifetime: float, protocol: str) -> None:
        # It answers udp and tcp probes on one port: the port must be free for both.
        super().__init__(endpoint, bind, ready_protocol=protocol, port_protocols=("udp", "tcp"))
        self.lifetime = lifetime

    def command(self) -> list[str]:
        """The responder's argv."""
        return responder_command(self.bind, self.port, self.lifetime)


def run_probe(probe: Probe, target: Target) -> Measurement:
    """Run `probe` across `target`: latency.* metrics, mos, and the RTT series."""
    host = probe.host or target.host
    if probe.kind == "icmp":
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
                f"ping failed (exit {completed.returncode}): "
                f"{problem[-1] if problem else 'no output'}",
                command,
            )
        record = parse_ping(completed.stdout, probe.interval, probe.timeout)
        return _measurement(probe, record, completed.argv, {"host": host})
    responder: SpawnedResponder | None = None
    try:
        if target.spawns_servers and not probe.explicit_target:
            assert target.server is not None
            bind = target.bind or target.host
            responder = SpawnedResponder(
                target.server,
                bind,
                probe.timeout_total + _RESPONDER_LIFETIME_MARGIN,
                probe.kind,
            ).start()
            port = responder.port
        else:
            port = probe.port or target.responder_port
        command = client_command(probe, host, port)
        completed = target.client.run(command, timeout=probe.timeout_total)
        record = _client_record(completed.stdout, completed.stderr, command)
        extra: dict[str, Any] = {"host": host, "port": port}
        if responder is not None:
            extra["responder"] = responder.command()
        return _measurement(probe, record, completed.argv, extra)
    finally:
        if responder is not None:
            responder.stop()


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


def _measurement(
    probe: Probe, record: dict[str, Any], command: list[str], extra: dict[str, Any]
) -> Measurement:
    sent = int(record["sent"])
    if sent <= 0:
        raise MeasurementError("the probe sent nothing", command)
    replies = [Reply(int(seq), float(rtt)) for seq, rtt in record["replies"]]
    metrics = latency_metrics(sent, replies, [reply.seq for reply in replies])
    details: dict[str, Any] = {
        "kind": probe.kind,
        "interval": probe.interval,
        "sent": sent,
        "received": len(replies),
        "timeout": probe.timeout,
        **({"dscp": probe.dscp} if probe.dscp is not None else {}),
        **({"size": probe.size} if probe.kind != "tcp" else {}),
        **extra,
        **{
            key: record[key]
            for key in (
                "cpu_s",
                "send_late_p50",
                "send_late_p99",
                "send_late_max",
                "send_late_over_1ms",
                "refused",
            )
            if key in record
        },
    }
    series = sorted((reply.seq * probe.interval, reply.rtt) for reply in replies if reply.rtt)
    measurement = Measurement(
        tool=f"probe:{probe.kind}",
        metrics=metrics,
        command=command,
        series={"rtt": series},
        details=details,
        raw=record,
    )
    if "started" in record:
        measurement.started = float(record["started"])
    return measurement
