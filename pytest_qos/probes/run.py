"""run_probe: spawn a responder when the target needs one, run the client there, compute metrics."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sys
import time
from typing import Any

from ..errors import MeasurementError
from ..hosts import endpoints
from ..hosts.endpoints import Completed, Endpoint, Local, Netns, Process
from ..hosts.serverpool import POOL
from ..hosts.servers import SpawnedServer
from ..hosts.target import Target
from ..live import LiveObserver, observer_for
from ..results import Measurement
from . import lateness
from .clock import MIN_INTERVAL, Schedule
from .farend import directions, dscp_metrics
from .hops import BASE_PORT, HopProbeClient
from .icmp import find_ping, parse_ping, ping_command
from .inprocess import socket_factory
from .live import LIVE_KEY, LiveWindows, ProbeInterval
from .path import check_wanted, hop_details, hop_metrics
from .spec import STAMP_PORT, Probe
from .stats import Reply, record_metrics, replies_record
from .tcp import TcpProbeClient
from .udp import UdpProbeClient

# Keeps a spawned responder from outliving a run whose cleanup never happened.
_RESPONDER_LIFETIME_MARGIN = 60.0
# A spawned responder serves one test's probe: its rate limit is twice that probe's schedule
# (the fastest, MIN_INTERVAL, gives 2000/s), never the 20,000/s a forged loop could use.
RATE_HEADROOM = 2.0


def python_command(*arguments: str, endpoint: Endpoint | None = None) -> list[str]:
    """`python -m pytest_qos ARGS` here; at a remote endpoint, its shipped stdlib-only script."""
    ship = getattr(endpoint, "python_argv", None)
    prefix: list[str] = ship() if ship is not None else [sys.executable, "-m", "pytest_qos"]
    return [*prefix, *arguments]


def _schedule(probe: Probe, host: str, port: int) -> list[str]:
    """The arguments every probe client takes: where to, how often, how many, how long."""
    return [
        f"--host={host}",  # one word: a host is never read as an option
        "--port",
        str(port),
        "--interval",
        repr(probe.interval),
        "--count",
        str(probe.packets),
        "--timeout",
        repr(probe.timeout),
    ]


def _marking(probe: Probe) -> list[str]:
    return ["--dscp", str(probe.dscp)] if probe.dscp is not None else []


def client_command(
    probe: Probe, host: str, port: int, endpoint: Endpoint | None = None
) -> list[str]:
    """The argv of the udp or tcp probe client (`python -m pytest_qos probe ...`)."""
    argv = python_command(
        "probe", "--kind", probe.kind, *_schedule(probe, host, port), endpoint=endpoint
    )
    if probe.kind in ("udp", "stamp"):
        argv += ["--size", str(probe.size)]
    return argv + _marking(probe)


def responder_command(
    bind: str,
    port: int,
    lifetime: float | None = None,
    rate: float = RATE_HEADROOM / MIN_INTERVAL,
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
    announces = True  # "responder: listening on BIND port PORT"

    def __init__(self, endpoint: Endpoint, bind: str, probe: Probe) -> None:
        # It answers udp and tcp probes on one port: the port must be free for both.
        super().__init__(endpoint, bind, ready_protocol=probe.kind, port_protocols=("udp", "tcp"))
        self.lifetime = probe.timeout_total + _RESPONDER_LIFETIME_MARGIN
        self.rate = RATE_HEADROOM / probe.interval

    def reuse_key(self) -> tuple[str, ...]:
        """Any probe's responder at the same host and bind address admitting the same rate."""
        return ("responder", self.bind, f"{self.rate:g}")

    def command(self) -> list[str]:
        """The responder's argv."""
        return responder_command(
            self.bind, self.port, self.lifetime, self.rate, endpoint=self.endpoint
        )


def hops_command(probe: Probe, host: str, port: int, endpoint: Endpoint | None = None) -> list[str]:
    """The argv of the hops probe client (`python -m pytest_qos hops ...`)."""
    sizes = ["--size", str(probe.size), "--max-hops", str(probe.max_hops)]
    argv = python_command("hops", *_schedule(probe, host, port), *sizes, endpoint=endpoint)
    return argv + _marking(probe)


def run_probe(probe: Probe, target: Target, name: str = "") -> Measurement:
    """Run `probe` across `target`: latency.* metrics, mos, and the RTT series.

    `name` is the probe's name in its test: its live figures (live.py) carry it.
    """
    host = probe.host or target.host
    if probe.kind == "icmp":
        return _run_ping(probe, target, host)
    if probe.kind == "hops":
        return _run_hops(probe, target, host)
    responder: SpawnedResponder | None = None
    clean = False
    try:
        if target.spawns_servers and not probe.explicit_target and probe.kind != "stamp":
            assert target.server is not None
            bind = target.bind or target.host
            until = time.monotonic() + probe.timeout_total + _RESPONDER_LIFETIME_MARGIN
            responder = POOL.lend(SpawnedResponder(target.server, bind, probe), until)
            port = responder.port
        elif probe.kind == "stamp":
            port = probe.port or STAMP_PORT
        else:
            port = probe.port or target.responder_port
        try:
            command, record = _run_client(probe, target, (host, port), name)
        except MeasurementError as error:
            if responder is None or not error.message.startswith("no reply from"):
                raise
            raise MeasurementError(
                f"{error.message}. Checked at the server: {_responder_state(responder)}",
                error.command,
            ) from None
        extra: dict[str, Any] = {"host": host, "port": port}
        if responder is not None:
            extra["responder"] = responder.command()
        same_host = _same_clock(target, host, responder is not None)
        measurement = _measurement(probe, record, command, extra, same_host)
        if responder is not None:
            measurement.setup = [responder.reproduce_command()]
        clean = True
        return measurement
    finally:
        if responder is not None:
            POOL.give_back(responder, clean)  # kept for the next probe, or stopped


def _responder_state(responder: SpawnedResponder) -> str:
    """Is the responder we started alive, and is its port open? (after a probe got no reply)"""
    process = responder.process
    if process is None or not process.alive():
        said = responder.log().strip().splitlines()
        return f"the responder exited ({said[-1] if said else 'no output'})"
    endpoint, port = responder.endpoint, responder.port
    try:
        listening = endpoint.is_listening(port, "udp", process)
    except MeasurementError as error:
        return f"the responder is running; its port could not be read ({error})"
    if not listening:
        return f"the responder is running but udp port {port} is not open there"
    return (
        f"the responder is running and udp port {port} is open, so the hellos or their replies "
        "were lost on the path"
    )


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
    received, summary, reordered = replies_record(
        replies, [reply.seq for reply in replies], int(parsed["sent"])
    )
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


def _run_hops(probe: Probe, target: Target, host: str) -> Measurement:
    """The hops probe, in this process where the endpoint allows (a lab), else spawned there."""
    port = probe.port or BASE_PORT
    command = hops_command(probe, host, port, target.client)
    opener = socket_factory(target.client)
    if opener is None:
        completed = target.client.run(command, timeout=probe.timeout_total)
        record = _client_record(completed.stdout, completed.stderr, command)
        command = completed.argv
    else:
        command = target.client.command(command)
        client = HopProbeClient(
            host,
            port,
            Schedule(probe.interval, probe.packets, probe.timeout, probe.dscp),
            size=probe.size,
            max_hops=probe.max_hops,
            socket_factory=opener,
        )
        try:
            record = client.run()
        except OSError as error:
            raise MeasurementError(
                f"hops probe to {host}: {error.strerror or error}", command
            ) from None
    details = {"host": host, "port": port, **hop_details(probe, record, target.hop_names)}
    check_wanted(probe, details, command)
    measurement = Measurement(
        tool="probe:hops",
        metrics=hop_metrics(details["path"], details["destination_hop"]),
        command=command,
        details=details,
        raw=record,
    )
    measurement.started = float(record.get("started", measurement.started))
    return measurement


def _live_windows(probe: Probe, name: str) -> LiveWindows | None:
    """Per-interval figures for the live observer, when one is set and the probe outlasts
    its interval (an in-process client only: a spawned one reports at its end)."""
    observer = observer_for(probe.send_time + probe.timeout)
    if observer is None:
        return None
    return LiveWindows(observer.interval, name, observer.every, probe.interval, probe.timeout)


def _run_client(
    probe: Probe, target: Target, where: tuple[str, int], name: str
) -> tuple[list[str], dict[str, Any]]:
    """Run the udp/stamp/tcp client: in this process when the endpoint allows, else spawned."""
    host, port = where
    command = client_command(probe, host, port, target.client)
    opener = socket_factory(target.client)
    if opener is None:
        observer = observer_for(probe.send_time + probe.timeout)
        if observer is None:
            completed = target.client.run(command, timeout=probe.timeout_total)
        else:
            command += ["--live", repr(observer.every)]
            spawned = target.client.spawn(command)
            completed = read_live(spawned, probe.timeout_total, observer, name)
        return completed.argv, _client_record(completed.stdout, completed.stderr, command)
    command = target.client.command(command)  # what reproduces this run from a shell
    schedule = Schedule(probe.interval, probe.packets, probe.timeout, probe.dscp)
    try:
        if probe.kind == "tcp":
            client = TcpProbeClient(host, port, schedule)
            client.socket_factory = opener
            client.live = _live_windows(probe, name)
            return command, client.run()
        udp = UdpProbeClient(
            host, port, schedule, size=probe.size, kind=probe.kind, socket_factory=opener
        )
        udp.live = _live_windows(probe, name)
        return command, udp.run()
    except MeasurementError as error:
        raise MeasurementError(error.message, command) from None
    except OSError as error:
        raise MeasurementError(
            f"probe to {host} port {port}: {error.strerror or error}", command
        ) from None


def read_live(process: Process, timeout: float, observer: LiveObserver, name: str) -> Completed:
    """A spawned probe client's output, its {"live": ...} lines handed to `observer` as they
    come (the rest is its record); the client is stopped at the end or at `timeout`."""
    deadline = time.monotonic() + timeout
    kept: list[bytes] = []

    def keep(line: bytes) -> None:
        if not _handed_over(line, observer, name):
            kept.append(line)

    try:
        pending, _why = endpoints.read_lines(process, deadline, keep)
        _, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        process.stop()
    text = b"\n".join([*kept, pending]).decode(errors="replace")
    return Completed(process.argv, process.returncode or 0, text, err)


def _handed_over(line: bytes, observer: LiveObserver, name: str) -> bool:
    """True when `line` was an interval (given to the observer), False for anything else."""
    if not line.lstrip().startswith(b'{"' + LIVE_KEY.encode()):
        return False
    with contextlib.suppress(ValueError, KeyError, TypeError):
        observer.interval(ProbeInterval.from_json(json.loads(line)[LIVE_KEY], name))
    return True


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
        metrics.update(directions(probe, record, same, where, details, command))
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
    slipped = lateness.slipped(metrics, probe.send_late_limits(sent), sent)
    if slipped:
        raise lateness.ScheduleSlipped(slipped, command, [measurement])
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
