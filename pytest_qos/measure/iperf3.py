"""The real iperf3, driven with --json: server lifecycle, client runs, JSON → Measurement."""

from __future__ import annotations

import json
import math
import os
import re
import selectors
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, TypeGuard

from ..errors import MeasurementError, MeasurementTimeout, ToolMissingError
from ..hosts import endpoints
from ..hosts.endpoints import Completed, Endpoint, Local, Process
from ..results import Measurement
from .live import ByteCounter, FlowSampler, observer_for, process_bytes
from .loss import WindowLoss, window_loss
from .servers import SpawnedServer
from .traffic import Traffic
from .windows import Window, window_metrics
from .wire import add_wire_rate

IntervalCallback = Callable[[float, float], None]

INSTALL_HINT = (
    "iperf3 is not installed: install it with 'sudo apt-get install iperf3' (Debian/Ubuntu) "
    "or 'sudo dnf install iperf3' (Fedora), or point at one with --qos-iperf3=PATH"
)
SERVER_START_TIMEOUT = 5.0
VERSION_TIMEOUT = 5.0
BUSY_RETRY_TIMEOUT = 15.0  # how long a client keeps retrying "the server is busy"
_BUSY = "the server is busy"
_BETWEEN_TESTS = ("Connection refused", "Connection reset by peer")
_MAX_ATTEMPTS = 50
_RECEIVER_ONLY = ("jitter", "loss", "packets", "lost_packets")


def find_iperf3(path: str | None = None) -> str:
    """The iperf3 executable to use, or ToolMissingError with one line on how to get it."""
    found = shutil.which(path or "iperf3")
    if not found:
        if path:
            raise ToolMissingError(f"--qos-iperf3={path}: no executable there; {INSTALL_HINT}")
        raise ToolMissingError(INSTALL_HINT)
    return found


class Iperf3Server(SpawnedServer):
    """A persistent `iperf3 -s` at an endpoint, ready once its listening socket is seen."""

    what = "iperf3 server"

    def __init__(self, path: str, endpoint: Endpoint, bind: str, port: int | None = None) -> None:
        super().__init__(endpoint, bind, port)
        self.path = path

    def command(self) -> list[str]:
        """The server's argv."""
        # -J: the server's own intervals travel back to clients asking --get-server-output,
        # the receiver's side of a measured window.
        return [self.path, "-s", "-J", "-B", self.bind, "-p", str(self.port)]

    def reproduce_command(self) -> list[str]:
        """The server at the same place and port, ending after one test (`-1`)."""
        return self.endpoint.command([*self.command(), "-1"])


class Iperf3:
    """iperf3 as a tool: check it exists, build argv, run with a watchdog, parse its JSON."""

    def __init__(self, path: str | None = None) -> None:
        self.path = find_iperf3(path)
        self._version: str | None = None

    @property
    def version(self) -> str:
        """iperf3's own version line, e.g. 'iperf 3.12'."""
        if self._version is None:
            completed = Local().run([self.path, "--version"], timeout=VERSION_TIMEOUT)
            first = (completed.stdout or completed.stderr).splitlines()
            self._version = first[0].split(" (")[0].strip() if first else "unknown"
        return self._version

    @property
    def streams_json(self) -> bool:
        """True when this iperf3 prints intervals as they happen (--json-stream, 3.17+)."""
        match = re.search(r"(\d+)\.(\d+)", self.version)
        if match is None:
            return False
        return (int(match.group(1)), int(match.group(2))) >= (3, 17)

    def server(self, endpoint: Endpoint, bind: str, port: int | None = None) -> Iperf3Server:
        """An unstarted server; use as a context manager or call start()."""
        return Iperf3Server(self.path, endpoint, bind, port)

    def command(
        self, traffic: Traffic, host: str, port: int, *, server_output: bool = False
    ) -> list[str]:
        """The client argv that measures `traffic` against host:port.

        `server_output` asks for the server's JSON (its per-interval receiver figures).
        """
        argv = [
            self.path,
            "-c",
            host,
            "-p",
            str(port),
            "--json",
            "-t",
            str(int(traffic.duration)),
            "--connect-timeout",
            "3000",
        ]
        if traffic.omit:
            argv += ["-O", str(int(traffic.omit))]
        if traffic.protocol == "udp":
            argv.append("-u")
        if traffic.streams != 1:
            argv += ["-P", str(traffic.streams)]
        if traffic.bitrate is not None:
            argv += ["-b", f"{traffic.bitrate:.0f}"]
        if traffic.length is not None:
            argv += ["-l", str(traffic.length)]
        if traffic.direction == "download":
            argv.append("-R")
        elif traffic.direction == "bidir":
            argv.append("--bidir")
        if traffic.dscp is not None:
            argv += ["-S", str(traffic.dscp << 2)]  # -S takes the whole TOS byte
        if traffic.congestion:
            argv += ["-C", traffic.congestion]
        # A UDP upload's receiver is the server: its per-interval counts give the loss (loss.py).
        if server_output or (traffic.protocol == "udp" and traffic.direction == "upload"):
            argv.append("--get-server-output")
        return argv

    def start(
        self,
        traffic: Traffic,
        host: str,
        port: int,
        *,
        endpoint: Endpoint | None = None,
        server: Iperf3Server | None = None,
        busy_timeout: float = BUSY_RETRY_TIMEOUT,
        on_interval: IntervalCallback | None = None,
        window: Window | None = None,
        server_output: bool = False,
        live_name: str | None = None,
    ) -> RunningFlow:
        """Start a client measuring `traffic`; `.result()` waits for it (retrying a busy server).

        `on_interval(seconds, bits_per_second)` sees each interval live where iperf3 can
        stream them (>= 3.17); older versions report only at the end. With a `window`
        (seconds of the run) the result counts only that span; `server_output` fetches the
        server's intervals for a window given later, to `result(window=...)`. A `live_name`
        (the flow's name in its test, '' for its only flow) reports its throughput to the
        live observer (measure/live.py) while it runs.
        """
        wants_server = server_output or window is not None
        command = self.command(traffic, host, port, server_output=wants_server)
        streaming = on_interval if on_interval is not None and self.streams_json else None
        if streaming is not None:
            command.append("--json-stream")
        flow = RunningFlow(traffic, command, endpoint or Local(), server, busy_timeout, streaming)
        flow.window = window
        flow.spawn()
        observer = observer_for(traffic.duration + traffic.omit) if live_name is not None else None
        counter = live_counter(flow) if observer is not None else None
        if observer is not None and counter is not None:
            flow.sampler = FlowSampler(observer, live_name or "", counter, time.monotonic())
            flow.sampler.start()
        return flow

    def run(
        self,
        traffic: Traffic,
        host: str,
        port: int,
        endpoint: Endpoint | None = None,
        server: Iperf3Server | None = None,
        busy_timeout: float = BUSY_RETRY_TIMEOUT,
        on_interval: IntervalCallback | None = None,
        live_name: str | None = None,
    ) -> Measurement:
        """Measure `traffic` to its end: start() then result(); a busy server is retried."""
        flow = self.start(
            traffic,
            host,
            port,
            endpoint=endpoint,
            server=server,
            busy_timeout=busy_timeout,
            on_interval=on_interval,
            live_name=live_name,
        )
        try:
            return flow.result()
        finally:
            flow.stop()


class RunningFlow:
    """One iperf3 client run: spawned by Iperf3.start, parsed by result(), killed by stop().

    A client that a busy server (or our own server caught between tests) turned away is
    started again by result(), until `busy_timeout` seconds after the first start.
    """

    def __init__(
        self,
        traffic: Traffic,
        command: list[str],
        endpoint: Endpoint,
        server: Iperf3Server | None,
        busy_timeout: float,
        on_interval: IntervalCallback | None,
    ) -> None:
        self.traffic = traffic
        self.command = command
        self.endpoint = endpoint
        self.server = server
        self.busy_timeout = busy_timeout
        self.on_interval = on_interval
        self.started = 0.0  # wall-clock time of the latest spawn
        self.window: Window | None = None  # seconds of the run that count
        self.process: Process | None = None
        self._deadline = time.monotonic() + busy_timeout
        self._lock = threading.Lock()  # result() may run in a worker while stop() is called
        self._stopped = False
        self.sampler: FlowSampler | None = None  # live throughput, when asked for

    @property
    def host(self) -> str:
        """The server address the client connects to."""
        return self.command[self.command.index("-c") + 1]

    @property
    def port(self) -> int:
        """The server port the client connects to."""
        return int(self.command[self.command.index("-p") + 1])

    def spawn(self) -> None:
        """Start (or restart) the client once our server listens."""
        # A server that just finished a test re-opens its socket; a client arriving
        # before that is refused.
        server = self.server
        if server is not None and not server.wait_ready():
            raise MeasurementError(
                f"iperf3 server on {server.bind} port {server.port} stopped listening",
                server.command(),
            )
        with self._lock:
            if self._stopped:
                raise MeasurementError("iperf3 client stopped before it finished", self.command)
            self.started = time.time()
            # At a far host the client ends with its own bound, not a default 15 minutes.
            lifetime = self.traffic.timeout + BUSY_RETRY_TIMEOUT
            self.process = self.endpoint.spawn(self.command, lifetime=lifetime)

    def result(self, timeout: float | None = None, window: Window | None = None) -> Measurement:
        """Wait (each attempt up to `timeout`, default the traffic's) and parse the result."""
        return self.measure(self.document(timeout), window)

    @property
    def where(self) -> list[str]:
        """The client's argv where it runs (`ip netns exec NS ...`): what reproduces it."""
        return self.endpoint.command(self.command)

    def measure(self, document: dict[str, Any], window: Window | None = None) -> Measurement:
        """The measurement in a finished run's `document`, over `window` if one is set."""
        measurement = parse_result(document, self.where, window or self.window)
        measurement.started = self.started
        if self.server is not None:
            measurement.setup = [self.server.reproduce_command()]
        return measurement

    def document(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the client and return its JSON; a busy server is retried, errors raised."""
        for attempt in range(_MAX_ATTEMPTS):
            document = self._document(self.traffic.timeout if timeout is None else timeout)
            error = document_error(document)
            # Our own server, alive, refusing: caught between tests while it re-opened its
            # listening socket (seen behind shapers). Transient, so retried like "busy".
            refused = self.server is not None and error and any(t in error for t in _BETWEEN_TESTS)
            if error and (_BUSY in error or refused):
                if time.monotonic() < self._deadline:
                    time.sleep(min(0.2 * (attempt + 1), 1.0))
                    self.spawn()
                    continue
                raise MeasurementError(
                    f"iperf3 server at {self.host}:{self.port} stayed busy for "
                    f"{self.busy_timeout:g} s: {error}",
                    self.where,
                )
            if error:
                raise MeasurementError(f"iperf3 failed: {error}", self.where)
            return document
        raise MeasurementError(
            f"iperf3 server at {self.host}:{self.port} stayed busy for {self.busy_timeout:g} s",
            self.where,
        )

    def _document(self, timeout: float) -> dict[str, Any]:
        """The current attempt's JSON document, once the client has exited."""
        process = self.process
        assert process is not None, "spawn() first"
        if self.on_interval is not None:
            completed = read_stream(process, self.command, timeout, self.on_interval)
        else:
            try:
                out, err = process.communicate(timeout=timeout)
            finally:
                process.stop()
            completed = Completed(process.argv, process.returncode or 0, out, err)
        # The way there failed (a lost ssh connection), not iperf3: say which host and why.
        failure = self.endpoint.transport_failure(completed.returncode, completed.stderr)
        if failure is not None and not completed.stdout.lstrip().startswith("{"):
            raise MeasurementError(failure, self.where)
        return parse_json(completed.stdout, completed.stderr, completed.returncode, self.where)

    def stop(self) -> None:
        """Kill the client (if still running) and allow no restart; idempotent."""
        with self._lock:
            self._stopped = True
            process = self.process
        if self.sampler is not None:
            self.sampler.stop()
        if process is not None:
            process.stop()


def live_counter(flow: RunningFlow) -> ByteCounter | None:
    """The bytes behind a flow's live throughput: its receiver's reads (the server's for an
    upload, the client's for a download), else its sender's writes; None when neither
    process is on this host."""
    server = flow.server
    on_server = (
        {
            field: process_bytes(lambda: server.process, server.endpoint, field)
            for field in ("rchar", "wchar")
        }
        if server is not None
        else {"rchar": None, "wchar": None}
    )
    on_client = {
        field: process_bytes(lambda: flow.process, flow.endpoint, field)
        for field in ("rchar", "wchar")
    }
    forward = ("throughput", on_server["rchar"], on_client["wchar"])
    backward = ("throughput", on_client["rchar"], on_server["wchar"])
    ways = {
        "upload": [forward],
        "download": [backward],
        "bidir": [forward, ("throughput.reverse", *backward[1:])],
    }[flow.traffic.direction]
    readers: dict[str, Callable[[], int | None]] = {}
    for name, received, sent in ways:
        if received is not None:
            readers[name] = received
        elif sent is not None and name == "throughput":
            readers["throughput.sent"] = sent
    if not readers:
        return None

    def count() -> dict[str, int] | None:
        values = {name: read() for name, read in readers.items()}
        counted = {name: value for name, value in values.items() if value is not None}
        return counted or None

    return count


def run_streaming(
    endpoint: Endpoint, command: list[str], timeout: float, on_interval: IntervalCallback
) -> Completed:
    """Run iperf3 --json-stream, reporting intervals live; returns the assembled document."""
    return read_stream(endpoint.spawn(command), command, timeout, on_interval)


def read_stream(
    process: Process, command: list[str], timeout: float, on_interval: IntervalCallback
) -> Completed:
    """Read a running iperf3 --json-stream to its end, reporting intervals live; stop it.

    Reading ends at the "end" event: a descendant holding stdout open cannot turn a
    complete result into a timeout. At most endpoints.OUTPUT_LIMIT bytes are read.
    """
    document: dict[str, Any] = {"intervals": []}
    unparsed: list[str] = []
    deadline = time.monotonic() + timeout
    stdout = process.stdout
    assert stdout is not None
    pending = b""
    read = 0
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            # Raw reads, not readline(): a half-written line must not block past the deadline.
            while "end" not in document:
                if time.monotonic() >= deadline:
                    process.stop()
                    raise MeasurementTimeout(
                        f"iperf3 did not finish within {timeout:.1f} s and was killed", command
                    )
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    break
                read += len(chunk)
                if read > endpoints.OUTPUT_LIMIT:
                    raise MeasurementError(
                        f"iperf3 printed more than {endpoints.OUTPUT_LIMIT // 2**20} MiB and "
                        "was stopped (the limit is pytest_qos.hosts.endpoints.OUTPUT_LIMIT)",
                        command,
                    )
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    _stream_event(line.decode(errors="replace"), document, unparsed, on_interval)
        if pending.strip():
            _stream_event(pending.decode(errors="replace"), document, unparsed, on_interval)
        _, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        process.stop()
    complete = "end" in document or "error" in document
    text = json.dumps(document) if complete else "".join(unparsed)
    return Completed(process.argv, process.returncode or 0, text, err)


def _stream_event(
    line: str, document: dict[str, Any], unparsed: list[str], on_interval: IntervalCallback
) -> None:
    try:
        event = json.loads(line)
        name, data = event["event"], event["data"]
    except (json.JSONDecodeError, KeyError, TypeError):
        unparsed.append(line)
        return
    if name == "interval":
        document["intervals"].append(data)
        summary = data.get("sum") if isinstance(data, dict) else None
        if isinstance(summary, dict):
            end, rate = summary.get("end"), summary.get("bits_per_second")
            # Live progress only: an odd value is skipped here and reported by parse_result.
            if _finite(end) and _finite(rate):
                on_interval(float(end), float(rate))
    elif name in ("start", "end", "error"):
        document[name] = data


def parse_json(stdout: str, stderr: str, returncode: int, command: list[str]) -> dict[str, Any]:
    """iperf3's JSON document, or a MeasurementError quoting what it printed instead."""
    try:
        # NaN/Infinity are not JSON; iperf3 never means them as numbers to trust.
        document = json.loads(stdout, parse_constant=_non_finite)
    except (json.JSONDecodeError, RecursionError):
        printed = (stdout.strip() or stderr.strip() or "nothing")[:300]
        raise MeasurementError(
            f"iperf3 printed no complete JSON (exit {returncode}): {printed}", command
        ) from None
    if not isinstance(document, dict):
        raise MeasurementError("iperf3 printed JSON that is not an object", command)
    return document


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _non_finite(name: str) -> float:
    return float(name)  # kept as a float: _Fields.number() turns it into an error naming the field


def document_error(document: dict[str, Any]) -> str | None:
    """The document's `error` as text (a tool printing a non-string there is still an error)."""
    error = document.get("error")
    if error is None or error == "":
        return None
    return error if isinstance(error, str) else json.dumps(error)[:300]


class _Fields:
    """Reads fields of one iperf3 document; a missing or bad one is a MeasurementError."""

    def __init__(self, document: dict[str, Any], command: list[str]) -> None:
        self.document = document
        self.command = command

    def get(self, *path: str, default: Any = KeyError) -> Any:
        """The value at `path` (e.g. 'end', 'sum_sent'), or `default` when absent."""
        value: Any = self.document
        for depth, key in enumerate(path):
            if not isinstance(value, dict):
                raise self.bad(path[: depth + 1], "is not an object")
            if key not in value:
                if default is KeyError:
                    raise MeasurementError(
                        f"iperf3 JSON lacks the expected field '{'.'.join(path[: depth + 1])}'",
                        self.command,
                    )
                return default
            value = value[key]
        return value

    def number(self, *path: str) -> float:
        """A finite number at `path`; NaN, infinity or text is an error naming the field."""
        return self.finite(self.get(*path), path)

    def finite(self, value: Any, path: tuple[str, ...]) -> float:
        """`value` as a finite float, or an error naming `path`."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.bad(path, f"is {json.dumps(value)[:40]}, not a number")
        number = float(value)
        if not math.isfinite(number):
            raise self.bad(path, f"is {number}, not a finite number")
        return number

    def bad(self, path: tuple[str, ...], what: str) -> MeasurementError:
        """The error for a field present with a value that cannot be used."""
        return MeasurementError(
            f"iperf3 reported field '{'.'.join(path)}' that {what}", self.command
        )


def parse_result(
    document: dict[str, Any], command: list[str], window: Window | None = None
) -> Measurement:
    """Turn one iperf3 --json document into metrics in base units.

    With a `window` (seconds of the run), flow metrics count only that span (windows.py);
    CPU figures stay those of the whole run. A missing, odd, null or non-finite field is a
    MeasurementError naming it.
    """
    fields = _Fields(document, command)
    protocol = str(fields.get("start", "test_start", "protocol")).lower()
    metrics = _end_metrics(fields, protocol)
    counted = _counted_loss(document, protocol, metrics)
    series = _series(fields)
    extra: dict[str, Any] = {}
    if window is not None:
        try:
            figures = window_metrics(document, window, protocol)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise MeasurementError(
                f"iperf3 JSON lacks the expected field {error}", command
            ) from None
        except MeasurementError as error:
            raise MeasurementError(error.message, command) from None
        # CPU is per run; without the receiver's intervals UDP loss and jitter are too.
        whole_run = {k: v for k, v in metrics.items() if k.startswith("cpu.")}
        if figures.source == "sender":
            whole_run |= {k: v for k, v in metrics.items() if k in _RECEIVER_ONLY}
        metrics, series = {**whole_run, **figures.metrics}, figures.series
        extra = {"window": list(window), "window_source": figures.source}
    measurement = Measurement(
        tool="iperf3",
        metrics=metrics,
        command=list(command),
        series={"throughput": series},
        details={**_details(fields, protocol), **extra, **_loss_source(protocol, counted)},
        raw=document,
    )
    add_wire_rate(measurement)
    return measurement


def _counted_loss(
    document: dict[str, Any], protocol: str, metrics: dict[str, float]
) -> WindowLoss | None:
    """UDP loss over the counted window into `metrics`; end.sum mixes omitted seconds in."""
    try:
        counted = window_loss(document) if protocol == "udp" else None
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError):
        counted = None  # odd receiver intervals: iperf3's own summary stays
    if counted is not None:
        metrics["loss"] = counted.percent
        metrics["packets"] = float(counted.total)
        metrics["lost_packets"] = float(counted.lost)
    return counted


def _loss_source(protocol: str, counted: WindowLoss | None) -> dict[str, str]:
    """details['loss_from']: which receiver's intervals gave UDP loss (see loss.py)."""
    if protocol != "udp":
        return {}
    return {"loss_from": counted.source if counted else "iperf3 end.sum"}


def _end_metrics(fields: _Fields, protocol: str) -> dict[str, float]:
    """The whole run's metrics from iperf3's `end` section."""
    metrics: dict[str, float] = {
        "throughput.sent": fields.number("end", "sum_sent", "bits_per_second")
    }
    if protocol == "udp":
        # UDP loss and jitter live in end.sum; sum_sent shows them as 0.
        received = "sum_received" if fields.get("end", "sum_received", default=None) else "sum"
        metrics["throughput"] = fields.number("end", received, "bits_per_second")
        metrics["jitter"] = fields.number("end", "sum", "jitter_ms") / 1000.0
        metrics["loss"] = fields.number("end", "sum", "lost_percent")
        metrics["packets"] = fields.number("end", "sum", "packets")
        metrics["lost_packets"] = fields.number("end", "sum", "lost_packets")
    else:
        # end.sum_received says "sender": true in 3.12; it is still the receiver's count.
        metrics["throughput"] = fields.number("end", "sum_received", "bits_per_second")
        if fields.get("end", "sum_sent", "retransmits", default=None) is not None:
            metrics["retransmits"] = fields.number("end", "sum_sent", "retransmits")
    if fields.get("end", "sum_received_bidir_reverse", default=None) is not None:
        metrics["throughput.reverse"] = fields.number(
            "end", "sum_received_bidir_reverse", "bits_per_second"
        )
    if fields.get("end", "cpu_utilization_percent", default=None):
        metrics["cpu.local"] = fields.number("end", "cpu_utilization_percent", "host_total")
        metrics["cpu.remote"] = fields.number("end", "cpu_utilization_percent", "remote_total")
    return metrics


def _series(fields: _Fields) -> list[tuple[float, float]]:
    """Throughput per (not omitted) interval: (seconds since start, bit/s)."""
    intervals = fields.get("intervals", default=[])
    if not isinstance(intervals, list):
        raise fields.bad(("intervals",), "is not a list")
    series = []
    for index, interval in enumerate(intervals):
        summary = interval.get("sum") if isinstance(interval, dict) else None
        if not isinstance(summary, dict) or summary.get("omitted", False):
            continue
        where = ("intervals", str(index), "sum")
        series.append(
            (
                fields.finite(summary.get("end"), (*where, "end")),
                fields.finite(summary.get("bits_per_second"), (*where, "bits_per_second")),
            )
        )
    return series


def _details(fields: _Fields, protocol: str) -> dict[str, Any]:
    """Facts about the run for reports; a non-number where a number belongs is an error."""

    def whole(*path: str) -> int:
        value = fields.get(*path, default=0)
        if value is None and path[-1] == "tcp_mss_default":
            return 0
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fields.bad(path, f"is {json.dumps(value)[:40]}, not a number")
        return int(value) if math.isfinite(value) else 0

    start = fields.get("start")
    return {
        "protocol": protocol,
        "streams": whole("start", "test_start", "num_streams") or 1,
        "blksize": whole("start", "test_start", "blksize"),
        "reverse": bool(fields.get("start", "test_start", "reverse", default=0)),
        "tos": whole("start", "test_start", "tos"),
        # -b as iperf3 took it (bit/s of payload; 0: unlimited): what the sender was asked for.
        "bitrate": whole("start", "test_start", "target_bitrate"),
        "mss": whole("start", "tcp_mss_default"),
        "version": str(fields.get("start", "version", default="")),
        "duration": fields.finite(
            fields.get("start", "test_start", "duration", default=0), ("start", "duration")
        ),
        "ipv6": _is_ipv6(start),
    }


def _is_ipv6(start: dict[str, Any]) -> bool:
    """True when the flow ran over IPv6 (an IPv4-mapped address is IPv4 on the wire)."""
    connected = start.get("connected") or [{}]
    first = connected[0] if isinstance(connected, list) else {}
    host = str(first.get("remote_host", "")) if isinstance(first, dict) else ""
    return ":" in host and not host.startswith("::ffff:")
