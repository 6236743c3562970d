"""The isochronous udp probe: a STAMP (RFC 8762) session-sender, in constant memory."""

from __future__ import annotations

import random
import resource
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import MeasurementError
from ..units import Kind, format_value
from . import stamp
from .clock import (
    ANCILLARY_SIZE,
    Lateness,
    Schedule,
    ScheduledClient,
    enable_kernel_timestamps,
    enable_receive_tos,
    host_port,
    kernel_timestamp,
    received_tos,
    restore_timer_slack,
    send_priority,
    set_dscp,
    tighten_timer_slack,
    wait_readable,
)
from .hdr import Recorder, Series, series_period
from .live import LiveWindows
from .timesync import SyncUnreadable, read_sync_state

# Sequence numbers of the handshake and of the closing count query: never measured probes.
HELLO_BASE = 0xFFFFFF00
TAIL_BASE = 0xFFFFFF80
# The start-up check must survive the loss the probe exists to measure: a hello every 20 ms
# over the timeout (1 s at least), stopping at the first answer. 50 hellos at 50 % loss each
# way (75 % round trip) all go unanswered once in 1.7 million runs.
HELLO_SPACING_NS = 20_000_000
HELLO_MIN_WINDOW_NS = 1_000_000_000
HELLO_MAX_ATTEMPTS = 120  # below 0x80: hello sequence numbers never reach TAIL_BASE
REFUSALS_ENOUGH = 3  # ICMP port unreachable this often: nothing listens there
TAIL_ATTEMPTS = 3
_DRAIN_LIMIT = 10_000  # datagrams read per wake-up, so one loop pass is bounded
_FIRST_SEND_DELAY_NS = 5_000_000  # start the schedule just after the handshake
_TAIL_WAIT_NS = 300_000_000  # at most this long per closing count query

SocketFactory = Callable[[int, int], socket.socket]


def hello_plan(timeout_ns: int) -> tuple[int, int]:
    """(hellos, window ns) of the start-up check for a probe whose timeout is `timeout_ns`."""
    window = max(timeout_ns, HELLO_MIN_WINDOW_NS)
    return min(HELLO_MAX_ATTEMPTS, max(3, window // HELLO_SPACING_NS)), window


@dataclass(frozen=True)
class Exchange:
    """How a round of control packets went: answered, and what was sent and refused."""

    answered: bool
    sent: int
    refused: int
    spacing_ns: int

    def checked(self) -> str:
        """What the start-up check did and saw, for the message when nothing answered."""
        every = format_value(self.spacing_ns / 1e9, Kind.DURATION)
        if self.refused:
            seen = f"port unreachable: {self.refused} ICMP errors came back"
        else:
            seen = "no reply and no ICMP error came back"
        return f"{self.sent} hello packets sent, one every {every}; {seen}"


def no_reply_message(host: str, port: int, timeout: float, why: str = "", kind: str = "udp") -> str:
    """The one line a user sees when nothing answers."""
    detail = f" ({why})" if why else ""
    if kind == "stamp":
        return (
            f"no reply from {host_port(host, port)} within {format_value(timeout, Kind.DURATION)}"
            f"{detail} — is a STAMP session-reflector listening there? (check the address, the "
            "port, and that the reflector accepts this sender)"
        )
    return (
        f"no reply from {host_port(host, port)} within {format_value(timeout, Kind.DURATION)}"
        f"{detail} — is the responder running? (start it with "
        f"'python -m pytest_qos responder --bind ADDR --port {port}')"
    )


class _Replies:
    """Everything learnt from reflected packets, in constant memory (a bitmap per probe)."""

    def __init__(self, count: int, interval: float, timeout_ns: int) -> None:
        self.count = count
        self.seen = bytearray((count + 7) // 8)
        self.rtt = Recorder(keep_seqs=True)
        self.up = Recorder()
        self.down = Recorder()
        per_point = series_period(interval, count)
        lag = int(timeout_ns / (per_point * interval * 1e9)) + 2
        self.series = Series(count, per_point, lag)
        self.series_period = per_point * interval
        self.received = 0
        self.highest = -1
        self.reordered = 0
        self.negative_one_way = 0
        self.far_dscp: Counter[int] = Counter()
        self.far_ecn: Counter[int] = Counter()
        self.return_dscp: Counter[int] = Counter()
        self.cos_unsupported = 0
        self.hello_seq: int | None = None  # the reflector's count at the handshake
        self.tail_seq: int | None = None  # ... and at the closing query
        self.stateless: bool | None = None
        self.reflector_error: int | None = None  # the raw Error Estimate field
        self.ttl: int | None = None
        self.live: LiveWindows | None = None  # per live interval figures, if asked for

    def take(self, reply: stamp.Reflected, t4: int, tos: int | None, timeout_ns: int) -> bool:
        """Record one reflected packet; False when it is not a new measured probe."""
        sent_seq = reply.sent_seq
        if sent_seq >= HELLO_BASE:
            self._control(reply)
            return False
        if sent_seq >= self.count or self.seen[sent_seq >> 3] & (1 << (sent_seq & 7)):
            return False  # not ours, or a duplicate
        held = reply.t3 - reply.t2
        rtt = t4 - reply.t1 - max(0, held)
        if rtt > timeout_ns:
            return False  # later than the timeout: lost, by definition
        rtt = max(0, rtt)
        self.seen[sent_seq >> 3] |= 1 << (sent_seq & 7)
        self.received += 1
        if sent_seq < self.highest:
            self.reordered += 1
        else:
            self.highest = sent_seq
        self.rtt.add(sent_seq, rtt)
        self.series.add(sent_seq, rtt)
        if self.live is not None:
            self.live.reply(sent_seq, rtt)
        up, down = reply.t2 - reply.t1, t4 - reply.t3
        if up < 0 or down < 0:
            self.negative_one_way += 1
        self.up.add(sent_seq, max(0, up))
        self.down.add(sent_seq, max(0, down))
        self.reflector_error = reply.error
        self.ttl = reply.ttl
        if reply.cos is not None and not reply.cos[0] & stamp.FLAG_UNRECOGNIZED:
            self.far_dscp[reply.cos[2]] += 1
            self.far_ecn[reply.cos[3]] += 1
        else:
            self.cos_unsupported += 1
        if tos is not None:
            self.return_dscp[tos >> 2] += 1
        return True

    def _control(self, reply: stamp.Reflected) -> None:
        if reply.sent_seq < TAIL_BASE:
            self.stateless = reply.seq == reply.sent_seq
            self.reflector_error = reply.error
            self.hello_seq = max(reply.seq, self.hello_seq or 0)
        elif self.tail_seq is None or reply.seq < self.tail_seq:
            self.tail_seq = reply.seq

    def populations(self, sent: int) -> tuple[int, int]:
        """How many probes each direction's delays rank among: the measured ones plus those lost
        that way (lost ones are infinitely late). Without the reflector's count, a lost probe
        is counted against both directions."""
        reached = self.reflector_received(sent)
        lost_up = sent - (self.received if reached is None else reached)
        lost_down = (sent if reached is None else reached) - self.received
        return self.up.histogram.count + lost_up, self.down.histogram.count + lost_down

    def reflector_received(self, sent: int) -> int | None:
        """How many measured probes reached the reflector (stateful reflectors only)."""
        if self.stateless or self.hello_seq is None or self.tail_seq is None:
            return None
        return min(sent, max(self.received, self.tail_seq - self.hello_seq - 1))


# Its phases (handshake, schedule, closing count query, record) share the socket settings and
# state; split apart they would pass it all around.
class UdpProbeClient(ScheduledClient):
    """Sends `count` STAMP test packets every `interval` s and reads what the reflector returns.

    `size` is the UDP payload in bytes; `kind` 'stamp' speaks to any STAMP reflector.
    """

    def __init__(
        self,
        host: str,
        port: int,
        schedule: Schedule,
        *,
        size: int = 64,
        kind: str = "udp",
        socket_factory: SocketFactory | None = None,
    ) -> None:
        super().__init__(host, port, schedule)
        self.size = max(size, stamp.PACKET_SIZE)
        self.timeout_ns = round(schedule.timeout * 1e9)
        self.kind = kind
        self.socket_factory: SocketFactory = socket_factory or socket.socket
        self.ssid = random.randint(1, 0xFFFF)
        self.with_cos = self.size >= stamp.PACKET_SIZE + stamp.COS_TLV_SIZE
        self.error_field = stamp.ErrorEstimate(False, 1.0).encode()
        self.sync: dict[str, Any] = {}
        self.live: LiveWindows | None = None  # set to see figures per interval while it runs

    def run(self) -> dict[str, Any]:
        """Probe and return the JSON-ready record (summaries, not a list per packet)."""
        slack = tighten_timer_slack()
        try:
            family, _, _, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_DGRAM
            )[0]
            self._read_sync()
            with self.socket_factory(family, socket.SOCK_DGRAM) as sock:
                set_dscp(sock, family, self.dscp)
                enable_kernel_timestamps(sock)
                enable_receive_tos(sock, family)
                # Room for a burst of echoes while this process is descheduled.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                sock.connect(address)
                replies = _Replies(self.count, self.interval_ns / 1e9, self.timeout_ns)
                self._handshake(sock, replies)
                return self._measure(sock, replies)
        finally:
            restore_timer_slack(slack)

    def _read_sync(self) -> None:
        try:
            state = read_sync_state()
        except SyncUnreadable as error:
            self.sync = {"unreadable": str(error)}
            return
        self.sync = state.to_json()
        self.error_field = stamp.ErrorEstimate(state.synced, state.error).encode()

    def _packet(self, seq: int) -> bytearray:
        return stamp.sender_packet(
            seq,
            time.time_ns(),
            self.error_field,
            self.size,
            self.ssid,
            (self.dscp or 0) if self.with_cos else None,
        )

    def _exchange(
        self, sock: socket.socket, replies: _Replies, base: int, attempts: int, wait_ns: int
    ) -> Exchange:
        """Send control packets, evenly over `wait_ns`, until one comes back."""
        started = time.monotonic_ns()
        step = wait_ns // attempts
        sent = refused = 0
        for attempt in range(attempts):
            try:
                sock.send(self._packet(base + attempt))
                sent += 1
            except ConnectionRefusedError:
                refused += 1
            until = started + step * (attempt + 1)
            for _ in range(_DRAIN_LIMIT):
                if not wait_readable(sock, until):
                    break
                errors, answered = self._drain(sock, replies, control=base)
                refused += errors
                if answered:
                    return Exchange(True, sent, refused, step)
            if refused >= REFUSALS_ENOUGH:
                break
        return Exchange(False, sent, refused, step)

    def _handshake(self, sock: socket.socket, replies: _Replies) -> None:
        """Fail, with a clear message, when nothing answers at the far end.

        Loss on the path is what the probe measures, so the check tries many times over its
        window; it gives up early only when the far host says nothing listens (ICMP).
        """
        attempts, window = hello_plan(self.timeout_ns)
        exchange = self._exchange(sock, replies, HELLO_BASE, attempts, window)
        if not exchange.answered:
            raise MeasurementError(
                no_reply_message(self.host, self.port, window / 1e9, exchange.checked(), self.kind)
            )

    def _measure(self, sock: socket.socket, replies: _Replies) -> dict[str, Any]:
        lateness = Lateness()
        cpu_before = _cpu_seconds()
        started_wall = time.time()
        with send_priority(self.realtime) as priority:
            lateness.priority = priority
            sent, refused = self._send_all(sock, replies, lateness)
            if replies.stateless is False:
                self._exchange(
                    sock, replies, TAIL_BASE, TAIL_ATTEMPTS, min(self.timeout_ns, _TAIL_WAIT_NS)
                )
        return self._record(replies, sent, started_wall, refused, lateness, cpu_before)

    def _send_all(
        self, sock: socket.socket, replies: _Replies, lateness: Lateness
    ) -> tuple[int, int]:
        """Send every probe at its time and read replies until the last is due; (sent, refused)."""
        refused = 0
        start = time.monotonic_ns() + _FIRST_SEND_DELAY_NS
        next_seq = 0
        datagram = self._packet(0)
        live = replies.live = self.live
        if live is not None:
            live.begin(start)
        end = start + (self.count - 1) * self.interval_ns + self.timeout_ns
        # Each pass sends one probe or sleeps until the next event; bounded by count + replies.
        for _ in range(self.count * 4 + _DRAIN_LIMIT):
            now = time.monotonic_ns()
            if next_seq < self.count:
                scheduled = start + next_seq * self.interval_ns
                if now >= scheduled:
                    # Stamp as late as possible: the gap to the wire is then only the syscall.
                    stamp.restamp_sender(
                        datagram, next_seq, time.time_ns(), self.error_field, self.ssid
                    )
                    try:
                        sock.send(datagram)
                    except ConnectionRefusedError:
                        refused += 1
                    lateness.add(time.monotonic_ns() - scheduled)
                    if live is not None:
                        live.sent(next_seq)
                    next_seq += 1
                    continue
                wake = scheduled
            else:
                if replies.received >= self.count or now >= end:
                    break
                wake = end
            if live is not None:
                live.tick(now)  # between sends: a hand-off never delays one
            if wait_readable(sock, wake):
                refused += self._drain(sock, replies)[0]
        if live is not None:
            live.finish()
        return next_seq, refused

    def _record(
        self,
        replies: _Replies,
        sent: int,
        started_wall: float,
        refused: int,
        lateness: Lateness,
        cpu_before: float,
    ) -> dict[str, Any]:
        error = None
        if replies.reflector_error is not None:
            error = stamp.ErrorEstimate.decode(replies.reflector_error)
        up, down = replies.populations(sent)
        return {
            "kind": self.kind,
            "host": self.host,
            "port": self.port,
            "sent": sent,
            "received": replies.received,
            "interval": self.interval_ns / 1e9,
            "started": started_wall,
            "rtt": replies.rtt.summary(sent),
            # Per reply while they are few (EXACT_LIMIT): [seq, RTT s] in arrival order.
            "replies": replies.rtt.replies(),
            "up": replies.up.summary(up),
            "down": replies.down.summary(down),
            "reordered": replies.reordered,
            "negative_one_way": replies.negative_one_way,
            "series": {"period": replies.series_period, "points": replies.series.finish()},
            "reflector": {
                "stateful": None if replies.stateless is None else not replies.stateless,
                "received": replies.reflector_received(sent),
                "synced": None if error is None else error.synced,
                "error": None if error is None else error.seconds,
                "ttl": replies.ttl,
            },
            "dscp": {
                "sent": self.dscp or 0,
                "cos": self.with_cos and replies.cos_unsupported < replies.received,
                "far": sorted(replies.far_dscp.items()),
                "far_ecn": sorted(replies.far_ecn.items()),
                "return": sorted(replies.return_dscp.items()),
            },
            "sync": self.sync,
            "refused": refused,
            "cpu_s": _cpu_seconds() - cpu_before,
            **lateness.summary(),
        }

    def _drain(
        self, sock: socket.socket, replies: _Replies, control: int | None = None
    ) -> tuple[int, bool]:
        """Read every queued reply: (port-unreachable errors seen, a `control` reply came)."""
        refused = 0
        answered = False
        for _ in range(_DRAIN_LIMIT):
            try:
                datagram, ancillary, _, _ = sock.recvmsg(65535, ANCILLARY_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                refused += 1
                continue
            received_ns = kernel_timestamp(ancillary) or time.time_ns()
            reply = stamp.parse_reflected(datagram)
            if reply is None:
                continue
            replies.take(reply, received_ns, received_tos(ancillary), self.timeout_ns)
            if control is not None and control <= reply.sent_seq < control + 0x80:
                answered = True
        return refused, answered


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime
