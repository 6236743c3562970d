"""Foreign probes of an `rpm:` test: each interval, new TCP connections (their handshake time)
and UDP (STAMP) round trips, spread over the interval beside the load.

Probes run in batches, one per interval and kind, through the project's probe clients
(probes/run.py: in this process where the endpoint allows, else spawned there) against one
responder kept for the whole test; a batch's replies belong to the interval it was sent in.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import MeasurementError
from ..measure.runner import Runner
from ..probes import Probe, run_probe
from ..probes.run import SpawnedResponder
from ..results import Measurement
from .responsiveness import Interval
from .rpm import Idle, Rpm

KINDS = ("tcp", "udp")
# A reply later than this is a lost probe. A SYN lost in a full queue is sent again after the
# kernel's initial RTO (1 s): such a handshake still counts, as the draft's would.
PROBE_TIMEOUT = 2.0
RESPONDER_MARGIN = 60.0  # s the responder may outlive the test it serves (a crash's bound)
COLLECT_ALLOWANCE = 15.0  # s beyond a batch's own time: client start-up on a busy machine
WORKERS = 12


@dataclass
class Batch:
    """One kind's probes of one interval, running or done."""

    index: int
    kind: str
    count: int
    future: concurrent.futures.Future[Measurement]
    probe: Probe


def replies(measurement: Measurement) -> list[tuple[int, float]]:
    """(sequence number, RTT in s) of a probe run's answered probes."""
    raw = measurement.raw if isinstance(measurement.raw, dict) else {}
    return [(int(seq), float(rtt)) for seq, rtt in raw.get("replies", []) if rtt is not None]


def _interval_of(steps: Sequence[Interval], sent: float, launched: int) -> Interval | None:
    """The interval a probe sent `sent` s into the phase belongs to: by its send time; one
    sent after the last interval ended counts in the last (the load is still on); a time
    before the phase (clocks of two hosts apart) falls back to the interval it was asked in."""
    if not steps:
        return None
    if sent < 0:
        return steps[launched] if launched < len(steps) else steps[-1]
    for step in steps:
        if step.start <= sent < step.start + step.seconds:
            return step
    return steps[-1]


class Prober:
    """A responder for the test and the probe batches running against it."""

    def __init__(self, runner: Runner, spec: Rpm) -> None:
        self.runner = runner
        self.spec = spec
        self.responder: SpawnedResponder | None = None
        self.port = runner.target.responder_port
        self.pending: list[Batch] = []
        self.pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="qos-rpm")

    def __enter__(self) -> Prober:
        target = self.runner.target
        if target.server is not None:
            phases = len(self.spec.phases)
            lifetime = self.spec.idle + phases * (self.spec.duration + PROBE_TIMEOUT)
            # The whole method's probing as one probe: the responder lives that long and
            # admits the probe rate (with the responder's headroom) from each source.
            probing = Probe(
                kind="tcp",
                interval=1.0 / self.spec.probe_rate,
                duration=lifetime + RESPONDER_MARGIN,
                timeout=PROBE_TIMEOUT,
            )
            self.responder = SpawnedResponder(
                target.server, target.bind or target.host, probing
            ).start()
            self.port = self.responder.port
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for batch in self.pending:
                batch.future.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if self.responder is not None:
                self.responder.stop()

    def launch(self, index: int, rate: float, seconds: float) -> dict[str, int]:
        """Start both kinds' probes for interval `index`: `rate` per second over `seconds`."""
        count = max(1, round(rate * seconds))
        sent = {}
        for kind in KINDS:
            probe = Probe(
                kind=kind,
                interval=1.0 / rate,
                count=count,
                timeout=PROBE_TIMEOUT,
                dscp=self.spec.dscp,
                host=self.runner.target.host,
                port=self.port,
            )
            future = self.pool.submit(run_probe, probe, self.runner.target)
            self.pending.append(Batch(index, kind, count, future, probe))
            sent[kind] = count
        return sent

    def collect(self, steps: Sequence[Interval], started: float, wait: bool = False) -> None:
        """Put finished batches' RTTs into the intervals they were sent in (`started`: the
        phase's wall-clock start); with `wait`, every batch, bounded. An interval is probed once
        no batch launched by then is still out: a batch that started late (a probe client
        spawned over ssh on a busy host) may have sent into it."""
        for batch in list(self.pending):
            if not wait and not batch.future.done():
                continue
            allowed = batch.probe.timeout_total + COLLECT_ALLOWANCE
            try:
                measured = batch.future.result(timeout=allowed)
            except concurrent.futures.TimeoutError:
                raise MeasurementError(
                    f"rpm: the {batch.kind} probes of interval {batch.index} did not finish "
                    f"within {allowed:.0f} s"
                ) from None
            self.pending.remove(batch)
            for seq, rtt in replies(measured):
                sent = measured.started + seq * batch.probe.interval - started
                step = _interval_of(steps, sent, batch.index)
                if step is not None:
                    getattr(step, batch.kind).append(rtt)
        oldest = min((batch.index for batch in self.pending), default=None)
        for step in steps:
            step.probed = oldest is None or step.index < oldest

    def idle(self) -> Idle:
        """Both kinds of probes on the idle path for `idle` seconds, at the most rate."""
        began = time.time()
        sent = self.launch(0, self.spec.probe_rate, self.spec.idle)
        step = Interval(0, 0.0, math.inf, 0, {})  # every reply of the idle probes
        self.collect([step], began, wait=True)
        return Idle(tcp=step.tcp, udp=step.udp, sent=sent)
