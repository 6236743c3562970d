"""The WAN delay line as it was before issue 21 (pure Python, one recv/send per frame), kept
unchanged so benchmarks/bench_wan.py measures it side by side with today's engines.

---

A userspace WAN delay line: forward Ethernet frames between two interfaces, late and lossy.

Runs as its own process inside the lab's WAN hop namespace (the kernel here has no netem):
`python -I -S delayline.py --up-from IF --down-from IF --up D,J,L,R --down D,J,L,R`. It uses
only the standard library, so it starts in ~20 ms without importing pytest_qos.

Each direction is a FIFO of (departure time, frame). A frame's departure is its kernel receive
timestamp (SO_TIMESTAMPNS) plus its delay plus a uniform jitter in [-jitter, +jitter]; unless
reordering is allowed, a departure never precedes the one before it, so order is kept. Loss
draws once per frame. The sockets use PACKET_VNET_HDR, so TSO/GSO super-frames and partial
checksums pass through unchanged (fewer, larger frames: 100 Mbit/s is ~1 k frames/s, not 8 k).
"""

from __future__ import annotations

# Only C modules and a few light ones: under load every imported .py file costs milliseconds
# of the lab's build (_socket.py alone pulls in selectors, enum and re).
import _random
import _socket
import fcntl
import gc
import os
import select
import struct
import sys
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~5-40 ms: re, ...)
if TYPE_CHECKING:
    import signal as _signal
    from collections import deque
else:
    import _signal
    from _collections import deque

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
PR_SET_TIMERSLACK = 29
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
BUFFER = 16 * 1024 * 1024  # socket buffers: ~1.3 s at 100 Mbit/s, so a slow wake-up drops nothing
FRAME_MAX = 65536 + 64  # a GSO super-frame plus the 10-byte virtio header
BATCH = 256  # frames read per socket per wake-up; bounds one pass of the loop
MAX_QUEUE = 200_000  # frames held per direction; beyond this a frame is dropped (tail drop)
NS = 1_000_000_000
VNET_HEADER = 10  # struct virtio_net_hdr before each frame (PACKET_VNET_HDR)
EARLY = 50_000  # ns: the first guess of a timed wake-up's overshoot (measured 40-70 µs)
MAX_EARLY = 300_000  # ns: never send a frame more than this before its time
LATE_SAMPLES = 100_000  # the most recent send latenesses kept for the exit report


class _Stop(Exception):
    """SIGTERM or SIGINT: print the counters and exit."""


class Direction:
    """One way through the line: its settings, its queue and its counters."""

    def __init__(self, name: str, delay: float, jitter: float, loss: float, reorder: bool) -> None:
        self.name = name
        self.delay = int(delay * NS)
        self.jitter = int(jitter * NS)
        self.loss = loss
        self.reorder = reorder
        self.queue: deque[tuple[int, bytes]] = deque()
        self.last = 0  # the latest departure queued, for keeping order
        self.received = self.sent = self.lost = self.dropped = 0
        self.late: deque[int] = deque(maxlen=LATE_SAMPLES)

    def hold(self, frame: bytes, arrived: int, rng: _random.Random) -> None:
        """Queue `frame` for its departure, or lose it."""
        self.received += 1
        if self.loss and rng.random() < self.loss and not _neighbour_discovery(frame):
            self.lost += 1
            return
        if len(self.queue) >= MAX_QUEUE:
            self.dropped += 1
            return
        departure = arrived + self.delay
        if self.jitter:
            departure += int(rng.random() * (2 * self.jitter + 1)) - self.jitter
            if self.reorder:
                # Held frames are sent in departure order; a sorted insert keeps the deque so.
                self._insert(departure, frame)
                return
            departure = max(departure, self.last)
        self.last = departure
        self.queue.append((departure, frame))

    def _insert(self, departure: int, frame: bytes) -> None:
        queue = self.queue
        index = len(queue)
        while index > 0 and queue[index - 1][0] > departure:
            index -= 1
        queue.insert(index, (departure, frame))


def _neighbour_discovery(frame: bytes) -> bool:
    """ARP, or IPv6 neighbour solicitation/advertisement: never lost.

    On a real WAN they never cross it (the lossy link is routed); losing one here would stall
    every packet to that host for a second, not just the one frame.
    """
    ethertype = frame[VNET_HEADER + 12 : VNET_HEADER + 14]
    if ethertype == b"\x08\x06":
        return True
    ip6 = VNET_HEADER + 14
    return (
        ethertype == b"\x86\xdd"
        and len(frame) > ip6 + 40
        and frame[ip6 + 6] == 58  # next header: ICMPv6
        and frame[ip6 + 40] in (135, 136)
    )


def bring_up(interface: str) -> None:
    """No IPv6 of its own (the hop is no host), then the interface up: what `ip link set up`
    would do, without another process in the lab's build."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{interface}/disable_ipv6", "w") as setting:
            setting.write("1")
    except OSError:
        pass  # a kernel without IPv6: nothing to disable
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, 0)
    try:
        name = interface.encode()
        request = struct.pack("16sH14x", name, 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        if not flags & IFF_UP:
            up = struct.pack("16sH14x", name, flags | IFF_UP)
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, up)
    finally:
        sock.close()


def _packet_socket(interface: str, receive: bool = True) -> _socket.socket:
    """A raw packet socket on `interface`: promiscuous, own frames ignored, virtio headers.

    A send-only socket (receive=False) is bound to protocol 0, so no frame is queued on it.
    """
    sock = _socket.socket(_socket.AF_PACKET, _socket.SOCK_RAW, 0)
    sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    sock.setsockopt(_socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    for option in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        sock.setsockopt(_socket.SOL_SOCKET, option, BUFFER)
    sock.bind((interface, ETH_P_ALL if receive else 0))
    if not receive:
        sock.setblocking(False)
        return sock
    index = _socket.if_nametoindex(interface)
    sock.setsockopt(
        SOL_PACKET, PACKET_ADD_MEMBERSHIP, struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
    )
    sock.setblocking(False)
    return sock


def _read(sock: _socket.socket, direction: Direction, rng: _random.Random) -> None:
    """Take every frame waiting on `sock` (at most BATCH) into `direction`'s queue."""
    space = _socket.CMSG_SPACE(16)
    for _ in range(BATCH):
        try:
            frame, ancillary, _flags, _address = sock.recvmsg(FRAME_MAX, space)
        except BlockingIOError:
            return
        arrived = 0
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                arrived = seconds * NS + nanoseconds
        direction.hold(frame, arrived or time.time_ns(), rng)


def _send_due(sock: _socket.socket, direction: Direction, now: int) -> None:
    """Send every held frame whose departure has come."""
    queue = direction.queue
    while queue and queue[0][0] <= now:
        departure, frame = queue.popleft()
        try:
            sock.send(frame)
            direction.sent += 1
            direction.late.append(time.time_ns() - departure)
        except BlockingIOError:
            # The interface's queue (e.g. the rate limit's tbf) is full: the frame is lost there.
            direction.dropped += 1
        except OSError:
            direction.dropped += 1


def _parse(text: str, name: str) -> Direction:
    """'delay,jitter,loss,reorder' (s, s, probability, 0|1) as a Direction."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"--{name} takes 'delay,jitter,loss,reorder', got '{text}'")
    delay, jitter, loss, reorder = parts
    return Direction(name, float(delay), float(jitter), float(loss), reorder == "1")


def _prompt_wake_ups(priority: int) -> None:
    """Wake on time on a busy machine: real-time priority (no timer slack then), no GC pauses."""
    realtime = False
    if priority > 0:
        # SCHED_FIFO: woken ahead of every ordinary process. The loop sleeps between frames
        # (a few % of a core at 100 Mbit/s), and the kernel's RT throttling caps it anyway.
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            realtime = True
        except (OSError, AttributeError):
            realtime = False
    if not realtime:
        # An ordinary thread's wake-ups are up to 50 µs late (timer slack): ask for 1 µs.
        import ctypes  # only here: it costs ~10 ms of start-up

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
        except (OSError, AttributeError):
            realtime = False
    gc.disable()  # the loop makes no reference cycles; a collection would stall frames


def heads_or_parent(
    pairs: tuple[tuple[_socket.socket, _socket.socket, Direction], ...], parent: int
) -> bool:
    """Keep going while frames are held or the process that started this one lives."""
    return any(d.queue for _s, _k, d in pairs) or os.getppid() == parent


def _forward(
    pairs: tuple[tuple[_socket.socket, _socket.socket, Direction], ...], rng: _random.Random
) -> None:
    """Until SIGTERM: send what is due, sleep until the next is due or a frame arrives, read."""
    try:
        _forward_until_stopped(pairs, rng)
    except _Stop:
        return


def _forward_until_stopped(
    pairs: tuple[tuple[_socket.socket, _socket.socket, Direction], ...], rng: _random.Random
) -> None:
    """The loop of _forward."""
    readable = [source for source, _sink, _direction in pairs]
    early = EARLY  # how long a timed wake-up overshoots, learnt as it runs
    parent = os.getppid()
    # Ends on SIGTERM (the lab's teardown), or when its parent is gone (checked when idle).
    while heads_or_parent(pairs, parent):
        # Frames due within `early` go now: waking again for them would make them late.
        now = time.time_ns() + early
        for _source, sink, direction in pairs:
            _send_due(sink, direction, now)
        heads = [d.queue[0][0] for _s, _k, d in pairs if d.queue]
        wake = min(heads) - early if heads else 0
        timeout = max(0.0, (wake - time.time_ns()) / NS) if heads else 0.5
        try:
            ready, _w, _x = select.select(readable, [], [], timeout)
        except InterruptedError:
            continue
        if not ready and heads and timeout > 0:
            overshoot = time.time_ns() - wake
            early += (min(max(overshoot, 0), MAX_EARLY) - early) // 8
        for source, _sink, direction in pairs:
            if source in ready:
                _read(source, direction, rng)


def run(
    up_from: str,
    down_from: str,
    up: Direction,
    down: Direction,
    seed: int | None = None,
    priority: int = 0,
    ways: str = "both",
) -> None:
    """Forward until SIGTERM; frames from `up_from` go out on `down_from` delayed as `up`.

    `ways` 'up' or 'down' forwards one direction only: the lab runs one process per direction,
    so on two cores neither waits while the other sends.
    """

    def finish(_signum: int, _frame: object) -> None:
        raise _Stop  # out of select() at once: PEP 475 would otherwise resume the wait

    _signal.signal(_signal.SIGTERM, finish)
    _signal.signal(_signal.SIGINT, finish)
    _prompt_wake_ups(priority)
    rng = _random.Random(seed)
    pairs: tuple[tuple[_socket.socket, _socket.socket, Direction], ...]  # (from, to, settings)
    if ways == "up":
        pairs = ((_packet_socket(up_from), _packet_socket(down_from, receive=False), up),)
    elif ways == "down":
        pairs = ((_packet_socket(down_from), _packet_socket(up_from, receive=False), down),)
    else:
        a, b = _packet_socket(up_from), _packet_socket(down_from)
        pairs = ((a, b, up), (b, a, down))
    print("ready", flush=True)
    _forward(pairs, rng)
    for _source, _sink, d in pairs:
        late = sorted(d.late) or [0]
        p50, p99 = late[len(late) // 2], late[min(len(late) - 1, len(late) * 99 // 100)]
        print(
            f"{d.name}: received {d.received} sent {d.sent} lost {d.lost} dropped {d.dropped} "
            f"late_p50_us {p50 / 1e3:.1f} late_p99_us {p99 / 1e3:.1f} "
            f"late_max_us {late[-1] / 1e3:.1f}",
            flush=True,
        )


USAGE = (
    "usage: delayline.py --up-from IF --down-from IF [--up D,J,L,R] [--down D,J,L,R] "
    "[--seed N] [--rt-priority N] [--ways both|up|down] [--bring-up 0|1]"
)
OPTIONS = {
    "--up-from": "",
    "--down-from": "",
    "--up": "0,0,0,0",
    "--down": "0,0,0,0",
    "--seed": "",
    "--rt-priority": "0",
    "--ways": "both",
    "--bring-up": "0",
}


def _options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs (argparse would add ~10 ms of imports to every lab build)."""
    if len(argv) % 2 or any(name not in OPTIONS for name in argv[::2]):
        raise ValueError(USAGE)
    options = {**OPTIONS, **dict(zip(argv[::2], argv[1::2], strict=True))}
    if not options["--up-from"] or not options["--down-from"]:
        raise ValueError(USAGE)
    if options["--ways"] not in ("both", "up", "down"):
        raise ValueError(USAGE)
    return options


def main(argv: list[str] | None = None) -> int:
    """Command line: interfaces and per-direction 'delay,jitter,loss,reorder' (s, s, p, 0|1)."""
    try:
        options = _options(sys.argv[1:] if argv is None else argv)
        up, down = _parse(options["--up"], "up"), _parse(options["--down"], "down")
        seed = int(options["--seed"]) if options["--seed"] else None
        priority = int(options["--rt-priority"])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if options["--bring-up"] == "1":
            bring_up(options["--up-from"])
            bring_up(options["--down-from"])
        run(
            options["--up-from"],
            options["--down-from"],
            up,
            down,
            seed,
            priority,
            options["--ways"],
        )
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.pop("PYTHONSTARTUP", None)
    sys.exit(main())
