"""A userspace WAN delay line: forward Ethernet frames between two interfaces, late and lossy.

Runs as its own process inside the lab's WAN hop namespace (the kernel here has no netem), one
process per direction: `python -I -S delayline.py --name up --from IF --to IF --link D,J,L,R
--bound BYTES --stats FILE`. It uses only the standard library (and its own optional C
module), so it starts in ~20 ms without importing pytest_qos.

A frame's departure is its kernel receive timestamp plus its delay plus a uniform jitter in
[-jitter, +jitter]; unless reordering is allowed, a departure never precedes the one before
it, so order is kept. Loss draws once per frame. Held frames never exceed `--bound` bytes:
beyond it a frame is dropped and counted. The sockets use PACKET_VNET_HDR, so TSO/GSO
super-frames and partial checksums pass through unchanged.

Two engines do the per-frame work: `c` (the `_delayline` extension, built by the package's
install where a compiler exists: a TPACKET_V3 receive ring and batched sends) and `python`
(this file: one recvmsg and one send per frame). Both count into one statistics block, a
file the lab reads while the line runs: frames received, sent, lost on purpose, dropped by
the rate limit, dropped at the bound, dropped by the kernel (PACKET_STATISTICS: the socket
had no room), and a histogram of each frame's lateness (send time minus departure).
"""

from __future__ import annotations

# Only C modules and a few light ones: under load every imported .py file costs milliseconds
# of the lab's build (_socket.py alone pulls in selectors, enum and re).
import _random
import _socket
import errno
import fcntl
import gc
import mmap
import os
import select
import struct
import sys
import time
from array import array

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~5-40 ms: re, ...)
if TYPE_CHECKING:
    import signal as _signal
    from collections import deque
    from collections.abc import Callable
    from functools import partial
    from heapq import heappop, heappush
    from types import ModuleType
else:
    import _signal
    from _collections import deque
    from _functools import partial  # the C one: functools.py costs ~10 ms of imports
    from _heapq import heappop, heappush

SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_USER = 1
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
BATCH = 256  # frames read per wake-up; bounds one pass of the loop
NS = 1_000_000_000
VNET_HEADER = 10  # struct virtio_net_hdr before each frame (PACKET_VNET_HDR)
EARLY = 50_000  # ns: the first guess of a timed wake-up's overshoot (measured 40-70 µs)
MAX_EARLY = 300_000  # ns: never send a frame more than this before its time
RING_MIN_DELAY = 2_000_000  # ns: below this the engines read without a receive ring
RING_BLOCK = 1 << 20  # the receive ring: 16 blocks of 1 MiB, each holding ~690 full-sized
RING_BLOCKS = 16  # frames or 15 GSO super-frames (as _delayline.c's)
RING_PASS = 4  # blocks read before due frames are sent again
REFRESH = 5_000_000  # ns: the statistics block (and the parent) are looked at this often
DEFAULT_BOUND = 64 * 1024 * 1024  # bytes held per direction when --bound is not given

# The statistics block: STATS_WORDS little-endian uint64 words; _delayline.c uses the same.
STATS_FIELDS = (
    "magic",
    "version",
    "pid",
    "updated",  # ns since the epoch (CLOCK_REALTIME) of the last refresh
    "received",  # frames read from the socket
    "received_bytes",  # their bytes (Ethernet header on, virtio header off)
    "sent",
    "sent_bytes",
    "lost",  # lost on purpose (`loss`)
    "rate_drops",  # refused by the rate limit's queue (tbf full: ENOBUFS)
    "bound_drops",  # dropped because the held bytes reached the bound
    "kernel_drops",  # PACKET_STATISTICS tp_drops: the socket or ring had no room
    "send_drops",  # the send buffer was full (EAGAIN): the line could not keep up
    "send_errors",  # any other send error
    "truncated",  # frames larger than the line's buffers
    "queued",  # frames held now (a level)
    "queued_bytes",  # bytes held now (a level)
    "peak_bytes",  # the most bytes ever held
    "bound",  # the bound in bytes
    "late_max",  # ns: the latest any frame was sent
    "early",  # ns: how early it sends, to cover its own wake-up time
    "engine",  # ENGINES index
)
FIELD = {name: index for index, name in enumerate(STATS_FIELDS)}
COUNTERS = STATS_FIELDS[4:15]  # those that only grow: received ... truncated
STATS_HISTOGRAM = 32  # first word of the lateness histogram
HISTOGRAM_BUCKETS = 512  # log-linear: exact below 16 ns, then 16 buckets per power of two
STATS_WORDS = STATS_HISTOGRAM + HISTOGRAM_BUCKETS
STATS_SIZE = 8 * STATS_WORDS
STATS_VERSION = 1
MAGIC = int.from_bytes(b"QOSDLINE", "little")
ENGINES = ("none", "python", "c")


def bucket(late: int) -> int:
    """The histogram bucket of a lateness in ns (negative counts as on time)."""
    if late < 16:
        return late if late > 0 else 0
    bits = late.bit_length()
    index = ((bits - 4) << 4) | ((late >> (bits - 5)) & 15)
    return index if index < HISTOGRAM_BUCKETS else HISTOGRAM_BUCKETS - 1


def bucket_top(index: int) -> int:
    """The largest lateness (ns) that falls in bucket `index`."""
    if index < 16:
        return index
    bits, step = (index >> 4) + 4, index & 15
    return ((16 + step + 1) << (bits - 5)) - 1


def percentile(histogram: list[int], share: float) -> int:
    """The lateness (ns, the bucket's top: ~6 % resolution) below which `share` of frames fell."""
    total = sum(histogram)
    if total == 0:
        return 0
    rank = max(1, -(-int(total * share * 1_000_000) // 1_000_000))  # ceil, without floats' drift
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return bucket_top(index)
    return bucket_top(HISTOGRAM_BUCKETS - 1)


def read_stats(data: bytes) -> tuple[dict[str, int], list[int]] | None:
    """A statistics block's counters by name and its histogram; None if it is not one yet."""
    if len(data) < STATS_SIZE:
        return None
    words = struct.unpack_from(f"<{STATS_WORDS}Q", data)
    if words[0] != MAGIC or words[1] != STATS_VERSION:
        return None
    return dict(zip(STATS_FIELDS, words, strict=False)), list(words[STATS_HISTOGRAM:])


class Stats:
    """The statistics block, a shared file mapping: written here, read by the lab."""

    def __init__(self, path: str, engine: str, bound: int) -> None:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(descriptor, STATS_SIZE)
            self.block = mmap.mmap(descriptor, STATS_SIZE)
        finally:
            os.close(descriptor)
        self.words = memoryview(self.block).cast("Q")
        self.words[FIELD["pid"]] = os.getpid()
        self.words[FIELD["engine"]] = ENGINES.index(engine)
        self.words[FIELD["bound"]] = bound
        self.words[FIELD["version"]] = STATS_VERSION
        self.words[FIELD["magic"]] = MAGIC  # last: a reader sees a block only once it is whole


class _Stop(Exception):
    """SIGTERM or SIGINT: print the counters and exit."""


class Direction:
    """One way through the line: its settings, its held frames and its counters."""

    def __init__(
        self,
        name: str,
        delay: float,
        jitter: float,
        loss: float,
        reorder: bool,
        bound: int = DEFAULT_BOUND,
    ) -> None:
        self.name = name
        self.delay = int(delay * NS)
        self.jitter = int(jitter * NS)
        self.loss = loss
        self.reorder = reorder
        self.bound = bound
        # Held frames as (departure, arrival number, frame): in order, a FIFO; reordering
        # allowed, a heap, so each insert costs O(log n), not a scan. `pop` takes the next.
        self.queue: deque[tuple[int, int, bytes]] | list[tuple[int, int, bytes]]
        if reorder:
            self.queue = []
            self.pop: Callable[[], tuple[int, int, bytes]] = partial(heappop, self.queue)
        else:
            self.queue = deque()
            self.pop = self.queue.popleft
        self.last = 0  # the latest departure queued, for keeping order
        self.received = self.received_bytes = self.sent = self.sent_bytes = self.lost = 0
        self.bound_drops = self.queued_bytes = self.peak_bytes = self.late_max = 0
        self.rate_drops = self.send_drops = self.send_errors = self.kernel_drops = 0
        self.truncated = 0
        self.histogram = array("Q", bytes(8 * HISTOGRAM_BUCKETS))

    def hold(self, frame: bytes, arrived: int, rng: _random.Random) -> None:
        """Hold `frame` until its departure, or lose it, or drop it at the bound."""
        self.received += 1
        size = len(frame)
        self.received_bytes += size - VNET_HEADER
        if self.loss and rng.random() < self.loss and not _neighbour_discovery(frame):
            self.lost += 1
            return
        if self.queued_bytes + size > self.bound:
            self.bound_drops += 1
            return
        queued = self.queued_bytes = self.queued_bytes + size
        if queued > self.peak_bytes:
            self.peak_bytes = queued
        departure = arrived + self.delay
        if self.jitter:
            departure += int(rng.random() * (2 * self.jitter + 1)) - self.jitter
        if self.reorder:
            heappush(self.queue, (departure, self.received, frame))  # type: ignore[arg-type]
            return
        if departure < self.last:
            departure = self.last
        self.last = departure
        self.queue.append((departure, self.received, frame))

    def head(self) -> int | None:
        """The next departure, or None when nothing is held."""
        return self.queue[0][0] if self.queue else None

    def take(self) -> tuple[int, bytes]:
        """The next frame to leave, with its departure."""
        departure, _number, frame = self.pop()
        self.queued_bytes -= len(frame)
        return departure, frame

    def held(self) -> list[tuple[int, bytes]]:
        """Every held frame with its departure, in the order they will leave."""
        return [(departure, frame) for departure, _n, frame in sorted(self.queue)]

    def count_sent(self, frame: bytes, late: int) -> None:
        """A frame went out `late` ns after its departure."""
        self.sent += 1
        self.sent_bytes += len(frame) - VNET_HEADER
        self.histogram[bucket(late)] += 1
        if late > self.late_max:
            self.late_max = late

    def publish(self, stats: Stats, early: int) -> None:
        """Copy the counters into the statistics block, then mark it updated."""
        words = stats.words
        for name in (*COUNTERS, "peak_bytes", "queued_bytes", "late_max"):
            words[FIELD[name]] = getattr(self, name)
        words[FIELD["queued"]] = len(self.queue)
        words[FIELD["early"]] = early
        words[STATS_HISTOGRAM:] = memoryview(self.histogram)
        words[FIELD["updated"]] = time.time_ns()


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
    if receive:
        index = _socket.if_nametoindex(interface)
        membership = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
    sock.setblocking(False)
    return sock


def kernel_drops(sock: _socket.socket) -> int:
    """Frames the kernel dropped for want of room since the last call (PACKET_STATISTICS)."""
    _packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return int(drops)


def _read(sock: _socket.socket, direction: Direction, rng: _random.Random) -> None:
    """Take every frame waiting on `sock` (at most BATCH) into `direction`."""
    space = _socket.CMSG_SPACE(16)
    for _ in range(BATCH):
        try:
            frame, ancillary, flags, _address = sock.recvmsg(FRAME_MAX, space)
        except BlockingIOError:
            return
        if flags & _socket.MSG_TRUNC:
            direction.truncated += 1
            continue
        arrived = 0
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                arrived = seconds * NS + nanoseconds
        direction.hold(frame, arrived or time.time_ns(), rng)


class Ring:
    """A TPACKET_V3 receive ring on a packet socket: frames without a system call each.

    The kernel hands a block over when it is full or 1 ms after its first frame, so a frame
    can wait that long before it is read: used when the delay is longer (RING_MIN_DELAY).
    """

    def __init__(self, sock: _socket.socket) -> None:
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        frames = RING_BLOCK // 2048 * RING_BLOCKS  # (frame size 2048: only counted in V3)
        request = struct.pack("7I", RING_BLOCK, RING_BLOCKS, 2048, frames, 1, 0, 0)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
        self.map = mmap.mmap(sock.fileno(), RING_BLOCK * RING_BLOCKS)
        self.next = 0  # the block to read next

    def read(self, direction: Direction, rng: _random.Random) -> None:
        """Take the filled blocks' frames (at most RING_PASS blocks) into `direction`."""
        view, unpack, hold = self.map, struct.unpack_from, direction.hold
        for _ in range(RING_PASS):
            block = self.next * RING_BLOCK
            # struct tpacket_block_desc: version, offset_to_priv, then block_status, num_pkts,
            # offset_to_first_pkt (struct tpacket_hdr_v1).
            status, count, first = unpack("3I", view, block + 8)
            if not status & TP_STATUS_USER:
                return
            cursor = block + first
            for _ in range(count):
                # struct tpacket3_hdr: next offset, sec, nsec, snaplen, len, status, mac.
                step, seconds, nanoseconds, snaplen, length, _s, mac = unpack("6IH", view, cursor)
                if snaplen < length or mac < VNET_HEADER:
                    direction.truncated += 1
                else:
                    start = cursor + mac - VNET_HEADER
                    hold(
                        view[start : start + VNET_HEADER + snaplen], seconds * NS + nanoseconds, rng
                    )
                cursor += step
            struct.pack_into("I", view, block + 8, 0)  # TP_STATUS_KERNEL: the kernel's again
            self.next = (self.next + 1) % RING_BLOCKS


def _send_due(sock: _socket.socket, direction: Direction, horizon: int) -> None:
    """Send every held frame whose departure is at or before `horizon`.

    The per-frame path of the python engine: locals only, its counters added at the end.
    """
    held, pop, send, now = direction.queue, direction.pop, sock.send, time.time_ns
    histogram, late_max, sent, sent_bytes, freed = direction.histogram, direction.late_max, 0, 0, 0
    while held and held[0][0] <= horizon:
        departure, _number, frame = pop()
        size = len(frame)
        freed += size
        try:
            send(frame)
        except BlockingIOError:
            direction.send_drops += 1  # the socket's buffer is full: the line is behind
            continue
        except OSError as error:
            if error.errno == errno.ENOBUFS:
                direction.rate_drops += 1  # the rate limit's queue (tbf) is full
            else:
                direction.send_errors += 1
            continue
        late = now() - departure
        histogram[bucket(late)] += 1
        sent += 1
        sent_bytes += size - VNET_HEADER
        if late > late_max:
            late_max = late
    direction.queued_bytes -= freed
    direction.sent += sent
    direction.sent_bytes += sent_bytes
    direction.late_max = late_max


def _prompt_wake_ups(priority: int) -> None:
    """Wake on time on a busy machine: real-time priority (no timer slack then), no GC pauses."""
    realtime = False
    if priority > 0:
        # SCHED_FIFO: woken ahead of every ordinary process. The loop sleeps between frames,
        # and the kernel's RT throttling caps it anyway.
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


class Line:
    """One direction's sockets, settings and statistics block, and how to stop."""

    def __init__(
        self, source: _socket.socket, sink: _socket.socket, direction: Direction, stats: Stats
    ) -> None:
        self.source, self.sink, self.direction, self.stats = source, sink, direction, stats
        self.parent = 0  # the process to outlive no longer than it holds frames (0: none)

    def orphaned(self) -> bool:
        """True once the watched parent is gone (the lab's owner died) and nothing is held."""
        return bool(self.parent) and os.getppid() != self.parent and self.direction.head() is None

    def refresh(self, early: int) -> None:
        """The kernel's drop count into the direction, then everything into the block."""
        self.direction.kernel_drops += kernel_drops(self.source)
        self.direction.publish(self.stats, early)


def _reader(
    source: _socket.socket, direction: Direction
) -> Callable[[Direction, _random.Random], None]:
    """The receive ring's reader when the delay allows it and the kernel gives one, else one
    recvmsg per frame."""
    if direction.delay - direction.jitter < RING_MIN_DELAY:
        return partial(_read, source)
    try:
        return Ring(source).read
    except OSError:  # a kernel without TPACKET_V3 rings (or without the memory for one)
        return partial(_read, source)


def forward_python(line: Line, rng: _random.Random) -> None:
    """The `python` engine, until SIGTERM: send what is due, sleep until the next departure
    or a frame's arrival, read."""
    direction, source, sink = line.direction, line.source, line.sink
    read = _reader(source, direction)
    early = EARLY  # how long a timed wake-up overshoots, learnt as it runs
    next_refresh = 0
    try:
        while True:
            now = time.time_ns()
            if now >= next_refresh:
                line.refresh(early)
                next_refresh = now + REFRESH
                if line.orphaned():
                    return
            # Frames due within `early` go now: waking again for them would make them late.
            _send_due(sink, direction, now + early)
            head = direction.head()
            wake = next_refresh if head is None else min(head - early, next_refresh)
            timeout = max(0.0, (wake - time.time_ns()) / NS)
            try:
                ready, _w, _x = select.select([source], [], [], timeout)
            except InterruptedError:
                continue
            if not ready and head is not None and wake < next_refresh and timeout > 0:
                overshoot = time.time_ns() - wake
                early += (min(max(overshoot, 0), MAX_EARLY) - early) // 8
            if ready:
                read(direction, rng)
    except _Stop:
        return
    finally:
        line.refresh(early)


def c_engine() -> ModuleType | None:
    """The compiled `_delayline` module beside this file, or None (no compiler at install)."""
    import importlib.machinery  # frozen: costs nothing when the C engine is not wanted

    here = os.path.dirname(os.path.abspath(__file__))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(here, "_delayline" + suffix)
        if os.path.exists(path):
            loader = importlib.machinery.ExtensionFileLoader("_delayline", path)
            spec = importlib.machinery.ModuleSpec("_delayline", loader, origin=path)
            module = loader.create_module(spec)
            if module is not None:
                loader.exec_module(module)
                if module.STATS_WORDS == STATS_WORDS and module.STATS_VERSION == STATS_VERSION:
                    return module
    return None


def forward_c(module: ModuleType, line: Line, seed: int | None) -> None:
    """The `c` engine: the same loop compiled, until SIGTERM."""
    direction = line.direction
    try:
        module.forward(
            rx=line.source.fileno(),
            tx=line.sink.fileno(),
            stats=line.stats.block,
            delay=direction.delay,
            jitter=direction.jitter,
            loss=direction.loss,
            reorder=direction.reorder,
            bound=direction.bound,
            seed=seed if seed is not None else int.from_bytes(os.urandom(8), "little"),
            parent=line.parent,
            # The ring hands frames over a block at a time, up to 1 ms after they came: fine
            # while they wait longer than that anyway, else one recvmmsg per wake-up.
            ring=direction.delay - direction.jitter >= RING_MIN_DELAY,
        )
    except _Stop:
        return


def report(stats: Stats, name: str) -> str:
    """The exit line: counters and lateness percentiles from the statistics block."""
    block = read_stats(bytes(stats.block))
    if block is None:
        return f"{name}: no statistics"
    counters, histogram = block
    late = {share: percentile(histogram, share) / 1e3 for share in (0.5, 0.99)}
    return (
        f"{name}: engine {ENGINES[counters['engine']]} received {counters['received']} "
        f"sent {counters['sent']} lost {counters['lost']} "
        f"kernel_drops {counters['kernel_drops']} bound_drops {counters['bound_drops']} "
        f"rate_drops {counters['rate_drops']} send_drops {counters['send_drops']} "
        f"send_errors {counters['send_errors']} peak_bytes {counters['peak_bytes']} "
        f"late_p50_us {late[0.5]:.1f} late_p99_us {late[0.99]:.1f} "
        f"late_max_us {counters['late_max'] / 1e3:.1f}"
    )


def run(settings: dict[str, str]) -> None:
    """Forward one direction until SIGTERM (or until orphaned, when watching a parent)."""

    def finish(_signum: int, _frame: object) -> None:
        raise _Stop  # out of select() at once: PEP 475 would otherwise resume the wait

    _signal.signal(_signal.SIGTERM, finish)
    _signal.signal(_signal.SIGINT, finish)
    _prompt_wake_ups(int(settings["--rt-priority"]))
    name = settings["--name"]
    direction = _parse(settings["--link"], name, int(settings["--bound"]))
    module = c_engine() if settings["--engine"] in ("auto", "c") else None
    if module is None and settings["--engine"] == "c":
        raise OSError("the c engine was asked for, but _delayline is not built")
    engine = "c" if module is not None else "python"
    stats = Stats(settings["--stats"], engine, direction.bound)
    line = Line(
        _packet_socket(settings["--from"]),
        _packet_socket(settings["--to"], receive=False),
        direction,
        stats,
    )
    line.parent = os.getppid() if settings["--parent"] == "1" else 0
    seed = int(settings["--seed"]) if settings["--seed"] else None
    print(f"ready engine={engine}", flush=True)
    if module is not None:
        forward_c(module, line, seed)
    else:
        forward_python(line, _random.Random(seed))
    print(report(stats, name), flush=True)


def _parse(text: str, name: str, bound: int) -> Direction:
    """'delay,jitter,loss,reorder' (s, s, probability, 0|1) as a Direction."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"--link takes 'delay,jitter,loss,reorder', got '{text}'")
    delay, jitter, loss, reorder = parts
    return Direction(name, float(delay), float(jitter), float(loss), reorder == "1", bound)


USAGE = (
    "usage: delayline.py --name NAME --from IF --to IF --stats FILE [--link D,J,L,R] "
    "[--bound BYTES] [--engine auto|c|python] [--seed N] [--rt-priority N] [--bring-up 0|1] "
    "[--parent 1|0]"
)
OPTIONS = {
    "--name": "line",
    "--from": "",
    "--to": "",
    "--stats": "",
    "--link": "0,0,0,0",
    "--bound": str(DEFAULT_BOUND),
    "--engine": "auto",
    "--seed": "",
    "--rt-priority": "0",
    "--bring-up": "0",
    "--parent": "1",  # 1: end once the starting process is gone; 0: run until SIGTERM (kept)
}


def _options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs (argparse would add ~10 ms of imports to every lab build)."""
    if len(argv) % 2 or any(name not in OPTIONS for name in argv[::2]):
        raise ValueError(USAGE)
    options = {**OPTIONS, **dict(zip(argv[::2], argv[1::2], strict=True))}
    if not (options["--from"] and options["--to"] and options["--stats"]):
        raise ValueError(USAGE)
    if options["--engine"] not in ("auto", "c", "python") or not options["--bound"].isdigit():
        raise ValueError(USAGE)
    return options


def main(argv: list[str] | None = None) -> int:
    """Command line: see USAGE; exit 2 on bad arguments, 1 when the sockets cannot open."""
    try:
        options = _options(sys.argv[1:] if argv is None else argv)
        _parse(options["--link"], options["--name"], int(options["--bound"]))
        int(options["--rt-priority"])
        if options["--seed"]:
            int(options["--seed"])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if options["--bring-up"] == "1":
            bring_up(options["--from"])
            bring_up(options["--to"])
        run(options)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.pop("PYTHONSTARTUP", None)
    sys.exit(main())
