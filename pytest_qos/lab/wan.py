"""WAN emulation for the lab: `lab: {wan: ...}` parsed, and the hop between router and server.

The hop is its own namespace, outside the router under test. With netem in the kernel, a
bridge joins its two interfaces and netem delays each way. Without netem (this project's
kernel), `delayline.py` forwards between them in userspace; a rate is a tbf on the way out.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, QosError, did_you_mean
from ..hosts.endpoints import Endpoint, Process, wait_until
from ..results import QosResult
from ..units import Kind, format_value, parse

LINK_KEYS = ("delay", "jitter", "loss", "rate", "reorder")
WAN_KEYS = (*LINK_KEYS, "up", "down", "backend")
BACKENDS = ("auto", "netem", "userspace")
MAX_DELAY = 10.0  # s, one way
MAX_RATE = 10e9  # bit/s
QUEUE_TIME = 0.1  # s: a rate limit queues up to this much traffic, like an ISP's shaper
DELAY_LINE = Path(__file__).with_name("delayline.py")
DELAY_LINE_TIMEOUT = 5.0  # s: the delay line binds its sockets in ~30 ms
DELAY_LINE_PRIORITY = 10  # SCHED_FIFO: above every ordinary process, far below the kernel's own

# Interface names inside the hop namespace.
TOWARD_ROUTER = "torouter"
TOWARD_SERVER = "toserver"


@dataclass(frozen=True)
class WanLink:
    """One direction of the WAN: one-way delay and jitter (s), loss (0-1), rate (bit/s)."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    rate: float | None = None
    reorder: bool = False  # jittered frames may overtake each other (netem's way)

    @property
    def delays(self) -> bool:
        """True when frames need holding or dropping, not just a rate limit."""
        return bool(self.delay or self.jitter or self.loss)

    def describe(self) -> str:
        """E.g. '20 ms ± 2 ms, 0.5 % loss, 100 Mbit/s'."""
        parts = [format_value(self.delay, Kind.DURATION)]
        if self.jitter:
            parts[0] += f" ± {format_value(self.jitter, Kind.DURATION)}"
        if self.loss:
            parts.append(f"{format_value(self.loss * 100, Kind.PERCENT)} loss")
        if self.rate:
            parts.append(format_value(self.rate, Kind.RATE))
        return ", ".join(parts)


@dataclass(frozen=True)
class WanSpec:
    """Both directions; `up` is client → server (upload), `down` server → client."""

    up: WanLink = field(default_factory=WanLink)
    down: WanLink = field(default_factory=WanLink)
    backend: str = "auto"

    def describe(self) -> str:
        """Both directions in a few words."""
        if self.up == self.down:
            return f"{self.up.describe()} each way"
        return f"up {self.up.describe()}; down {self.down.describe()}"


def parse_wan(value: Any) -> WanSpec:
    """`{delay, jitter, loss, rate, reorder}` for both ways, `up:`/`down:` override per way."""
    if not isinstance(value, dict):
        raise InputError(
            "wan is a mapping such as {delay: 20 ms, loss: 0.5 %} or "
            "{up: {delay: 30 ms}, down: {delay: 10 ms}}"
        )
    _known(value, WAN_KEYS, "wan", "")
    backend = value.get("backend", "auto")
    if backend not in BACKENDS:
        raise InputError(f"backend '{backend}' is not one of {', '.join(BACKENDS)}", key="backend")
    common = {key: item for key, item in value.items() if key in LINK_KEYS}
    links = []
    for way in ("up", "down"):
        own = value.get(way, {})
        if not isinstance(own, dict):
            raise InputError(f"{way} is a mapping such as {{delay: 10 ms}}", key=way)
        _known(own, LINK_KEYS, f"wan {way}", f"{way}.")
        links.append(_link({**common, **own}, prefix=f"{way}." if way in value else ""))
    return WanSpec(up=links[0], down=links[1], backend=str(backend))


def _known(data: dict[str, Any], known: tuple[str, ...], where: str, prefix: str) -> None:
    for key in data:
        if key not in known:
            raise InputError(
                f"unknown key '{key}' in {where}{did_you_mean(str(key), known)} "
                f"(known: {', '.join(known)})",
                key=f"{prefix}{key}",
            )


def _link(data: dict[str, Any], prefix: str) -> WanLink:
    def quantity(key: str, kind: Kind) -> float:
        try:
            return parse(data[key], kind)
        except InputError as error:
            raise InputError(error.message, key=prefix + key) from None

    delay = quantity("delay", Kind.DURATION) if "delay" in data else 0.0
    if not 0 <= delay <= MAX_DELAY:
        raise InputError(f"delay must be from 0 ms to {MAX_DELAY:g} s", key=prefix + "delay")
    jitter = quantity("jitter", Kind.DURATION) if "jitter" in data else 0.0
    if not 0 <= jitter <= delay:
        raise InputError(
            "jitter must be from 0 ms up to the delay (a frame cannot leave before it came)",
            key=prefix + "jitter",
        )
    loss = quantity("loss", Kind.PERCENT) if "loss" in data else 0.0
    if not 0 <= loss < 100:
        raise InputError("loss must be from 0 % to below 100 %", key=prefix + "loss")
    rate = quantity("rate", Kind.RATE) if "rate" in data else None
    if rate is not None and not 8000 <= rate <= MAX_RATE:
        raise InputError("rate must be from 8 kbit/s to 10 Gbit/s", key=prefix + "rate")
    reorder = data.get("reorder", False)
    if not isinstance(reorder, bool):
        raise InputError("reorder is true or false", key=prefix + "reorder")
    return WanLink(delay, jitter, loss / 100.0, rate, reorder)


def choose_backend(wan: WanSpec, kernel_has_netem: bool) -> str:
    """'netem', 'userspace' (the delay line) or 'bridge' (a rate limit alone needs no line)."""
    if wan.backend == "netem" and not kernel_has_netem:
        raise InputError(
            "backend netem was asked for, but this kernel has no netem qdisc "
            "('modprobe sch_netem', or use backend: auto for the userspace delay line)",
            key="lab.wan.backend",
        )
    if wan.backend == "netem" or (wan.backend == "auto" and kernel_has_netem):
        return "netem"
    if wan.backend == "auto" and not (wan.up.delays or wan.down.delays):
        return "bridge"
    return "userspace"


BACKEND_NAMES = {
    "netem": "netem (kernel)",
    "userspace": "userspace delay line (Python, AF_PACKET)",
    "bridge": "bridge + tbf (rate only)",
}


def server_link(hop: str, server: str, server_device: str) -> str:
    """The `ip -batch` line (run in the router) making the hop's veth toward the server."""
    return (
        f"link add {TOWARD_SERVER} netns {hop} type veth peer name {server_device} netns {server}"
    )


def hop_links() -> list[str]:
    """`ip -n HOP -batch` lines: the hop's interfaces up (netem and rate-only hops)."""
    return ["link set lo up", f"link set {TOWARD_ROUTER} up", f"link set {TOWARD_SERVER} up"]


def bridge_lines() -> list[str]:
    """`ip -batch` lines joining the hop's interfaces in a bridge (netem and rate-only hops)."""
    return [
        "link add wanbr type bridge",
        f"link set {TOWARD_ROUTER} master wanbr",
        f"link set {TOWARD_SERVER} master wanbr",
        "link set wanbr up",
    ]


def _queue_bytes(rate: float) -> int:
    """QUEUE_TIME of traffic at `rate`, at least a few full-sized GSO frames."""
    return max(int(rate * QUEUE_TIME / 8), 3 * 65536)


def tc_lines(wan: WanSpec, backend: str) -> list[str]:
    """`tc -batch` lines for the hop: netem, or a tbf per direction that has a rate."""
    lines = []
    # Upload leaves the hop toward the server, download toward the router.
    for device, link in ((TOWARD_SERVER, wan.up), (TOWARD_ROUTER, wan.down)):
        if backend == "netem":
            if not (link.delays or link.rate):
                continue
            line = f"qdisc add dev {device} root netem delay {link.delay * 1e6:.0f}us"
            if link.jitter:
                line += f" {link.jitter * 1e6:.0f}us"
            if link.loss:
                line += f" loss {link.loss * 100:.6g}%"
            if link.rate:
                # netem's limit is in packets: enough for the delay's and the queue's traffic.
                line += f" rate {link.rate:.0f}bit"
            frames = 1000
            if link.rate:
                in_flight = link.rate * (link.delay + link.jitter + QUEUE_TIME) / 8 / 1514
                frames = max(1000, math.ceil(in_flight))
            lines.append(f"{line} limit {frames}")
        elif link.rate:
            burst = max(16384, int(link.rate * 0.004 / 8))
            lines.append(
                f"qdisc add dev {device} root tbf rate {link.rate:.0f}bit burst {burst} "
                f"limit {_queue_bytes(link.rate)}"
            )
    return lines


def delay_line_command(wan: WanSpec, ways: str = "both", seed: int | None = None) -> list[str]:
    """The argv of the userspace delay line (`ways`: up, down or both), run in the hop."""

    def way(link: WanLink) -> str:
        return f"{link.delay!r},{link.jitter!r},{link.loss!r},{int(link.reorder)}"

    argv = [
        sys.executable,
        "-I",  # isolated: no user site, no PYTHON* variables
        "-S",  # no site import: starts in ~20 ms
        str(DELAY_LINE),
        "--up-from",
        TOWARD_ROUTER,
        "--down-from",
        TOWARD_SERVER,
        "--up",
        way(wan.up),
        "--down",
        way(wan.down),
        "--rt-priority",
        str(DELAY_LINE_PRIORITY),
        "--ways",
        ways,
        "--bring-up",  # it sets its interfaces up itself: no `ip` process in the build
        "1",
    ]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv


def wan_emulations(results: Iterable[QosResult]) -> list[str]:
    """Each distinct WAN emulation the results ran across (backend and settings), in order."""
    seen: dict[str, None] = {}
    for result in results:
        for measurement in result.measurements:
            wan = measurement.details.get("wan")
            if isinstance(wan, str):
                seen.setdefault(wan, None)
    return list(seen)


class DelayLineError(QosError):
    """The userspace delay line did not start; `output` is what it printed."""

    def __init__(self, message: str, output: str, command: list[str]) -> None:
        super().__init__(message)
        self.output = output
        self.command = command


class DelayLines:
    """The userspace delay line's processes in the hop: one per direction, each with its log."""

    def __init__(self) -> None:
        self.running: list[tuple[Process, IO[str]]] = []

    def start(self, hop: Endpoint, wan: WanSpec) -> None:
        """Start both directions; on two cores neither waits while the other sends."""
        for ways in ("up", "down"):
            # Closed in close(): it outlives this method, so no `with`.
            log = tempfile.TemporaryFile("w+", prefix="qos-delayline-")  # noqa: SIM115
            self.running.append(
                (hop.spawn(delay_line_command(wan, ways), stdout=log, stderr=log), log)
            )

    @staticmethod
    def _output(log: IO[str]) -> str:
        log.seek(0)
        return log.read()

    def wait_ready(self) -> None:
        """Until each says 'ready'; DelayLineError with its output if one died or hung."""
        for line, log in self.running:
            ready = wait_until(
                lambda: not line.alive() or "ready" in self._output(log),  # noqa: B023
                DELAY_LINE_TIMEOUT,
                0.002,
            )
            if not ready or not line.alive():
                said = self._output(log).strip() or "no output"
                raise DelayLineError(f"the WAN delay line did not start: {said}", said, line.argv)

    def report(self) -> str:
        """What they printed (their counters and lateness, once stopped)."""
        return "\n".join(self._output(log).strip() for _line, log in self.running)

    def stop(self, grace: float) -> None:
        """Stop them (SIGTERM: each prints its counters)."""
        for line, _log in self.running:
            line.stop(grace=grace)

    def close(self) -> None:
        """Reap them (the lab's teardown has killed them with their namespace), drop the logs."""
        self.stop(grace=0.5)
        for _line, log in self.running:
            log.close()
