"""WAN emulation for the lab: `lab: {wan: ...}` parsed, and the hop between router and server.

The hop is its own namespace, outside the router under test. With netem in the kernel, a
bridge joins its two interfaces and netem delays each way. Without netem (this project's
kernel), `delayline.py` forwards between them in userspace; a rate is a tbf on the way out.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, did_you_mean
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
# The delay line's queue bound (queue_bound): a link without a rate is taken to carry this much.
UNSHAPED_RATE = 2.5e9  # bit/s
QUEUE_FACTOR = 1.25
QUEUE_MARGIN = 4 * 1024 * 1024  # bytes: bursts, and a few 64 KiB GSO super-frames
MAX_BOUND = 256 * 1024 * 1024  # bytes held per direction, whatever the link

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
    "userspace": "userspace delay line (AF_PACKET)",
    "bridge": "bridge + tbf (rate only)",
}
ENGINE_NAMES = {"c": "C engine", "python": "Python engine"}


def backend_name(backend: str, engine: str = "") -> str:
    """E.g. 'userspace delay line (C engine, AF_PACKET)': which backend, which engine."""
    if backend == "userspace" and engine in ENGINE_NAMES:
        return f"userspace delay line ({ENGINE_NAMES[engine]}, AF_PACKET)"
    return BACKEND_NAMES[backend]


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


def queue_bound(link: WanLink) -> int:
    """Bytes the delay line may hold one way: what `link` can have in flight, plus a margin.

    A TCP window can sit in the line whole (sent at once, held for the delay), and a rate
    limit's queue (QUEUE_TIME) lies behind it: so twice the delay, plus QUEUE_TIME, of the
    link's rate (UNSHAPED_RATE without one), QUEUE_FACTOR over, plus QUEUE_MARGIN for bursts,
    at most MAX_BOUND.
    """
    rate = link.rate or UNSHAPED_RATE
    in_flight = rate / 8 * (2 * (link.delay + link.jitter) + QUEUE_TIME)
    return int(min(in_flight * QUEUE_FACTOR + QUEUE_MARGIN, MAX_BOUND))


def delay_line_command(
    wan: WanSpec,
    way: str,
    stats: Path,
    *,
    engine: str = "auto",
    parent: bool = True,
    seed: int | None = None,
) -> list[str]:
    """The argv of one direction of the userspace delay line ('up' or 'down'), run in the hop.

    `stats` is its statistics file; `parent=False` makes a line that outlives this process
    (a kept lab's), stopped only by SIGTERM.
    """
    link, source, sink = (
        (wan.up, TOWARD_ROUTER, TOWARD_SERVER)
        if way == "up"
        else (wan.down, TOWARD_SERVER, TOWARD_ROUTER)
    )
    argv = [
        sys.executable,
        "-I",  # isolated: no user site, no PYTHON* variables
        "-S",  # no site import: starts in ~20 ms
        str(DELAY_LINE),
        "--name",
        way,
        "--from",
        source,
        "--to",
        sink,
        "--link",
        f"{link.delay!r},{link.jitter!r},{link.loss!r},{int(link.reorder)}",
        "--bound",
        str(queue_bound(link)),
        "--stats",
        str(stats),
        "--engine",
        engine,
        "--rt-priority",
        str(DELAY_LINE_PRIORITY),
        "--bring-up",  # it sets its interfaces up itself: no `ip` process in the build
        "1",
        "--parent",
        "1" if parent else "0",
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
