"""Pushing to a Pushgateway from one background thread: never on the measuring thread.

Callers only queue (a bounded queue: when the gateway falls behind, further pushes are
dropped and counted, never waited for). A push that fails is counted; nothing is raised to
the caller, so a slow or dead Pushgateway never delays a probe, never fails a test. At the end
`close()` waits a bounded time for what is queued, and `problem()` is the run's one line.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..measure.live import LiveFigures
from . import client
from .names import Labels
from .series import Sample, live_samples

PUSH_TIMEOUT = 5.0  # s per HTTP request to the gateway
QUEUE_LIMIT = 1000  # pushes waiting at most; more are dropped (and counted)
# At the run's end queued pushes are waited for while the gateway keeps answering, at most
# this long: a Pushgateway checking each push's consistency answers in 50-300 ms on a busy
# 2-core machine (docs/monitoring.md), slower than a suite of trivial tests.
DRAIN_TIMEOUT = 30.0

Build = Callable[[], Sequence[Sample]]


@dataclass(frozen=True)
class Gateway:
    """Where pushes go: the URL and the grouping labels every push carries."""

    url: str
    job: str = "pytest-qos"
    instance: str = ""


@dataclass
class _Push:
    grouping: Labels
    build: Build  # the samples, built on the pushing thread
    replace: bool  # PUT (the group holds these alone) or POST


@dataclass
class Tally:
    """What became of the pushes of a run (summed over xdist workers)."""

    attempted: int = 0
    failed: int = 0
    dropped: int = 0
    first_error: str = ""

    def add(self, other: Tally) -> None:
        """Add another process's tally."""
        self.attempted += other.attempted
        self.failed += other.failed
        self.dropped += other.dropped
        self.first_error = self.first_error or other.first_error


@dataclass
class _Live:
    """The latest interval of each running flow and probe of one test (pushed together)."""

    figures: dict[tuple[str, str], LiveFigures] = field(default_factory=dict)


class Pusher:
    """One background thread pushing queued groups to a Pushgateway."""

    def __init__(self, gateway: Gateway, timeout: float = PUSH_TIMEOUT) -> None:
        self.gateway = gateway
        self.timeout = timeout
        self.tally = Tally()
        self._handler = client.handler_for(gateway.url)
        self._counting = threading.Lock()
        self._queue: queue.Queue[_Push | None] = queue.Queue(QUEUE_LIMIT)
        self._live: dict[Labels, _Live] = {}
        self._last_failed = False
        self._thread = threading.Thread(target=self._run, name="qos-pusher", daemon=True)
        self._thread.start()

    def grouping(self, identity: Labels = ()) -> Labels:
        """The grouping key of a push: job is separate; instance, then the identity."""
        return (("instance", self.gateway.instance), *identity)

    def replace(self, identity: Labels, build: Build) -> None:
        """Queue a push replacing the group `identity` with `build()`'s samples (PUT)."""
        self._put(_Push(self.grouping(identity), build, True))

    def live(self, identity: Labels, figures: LiveFigures) -> None:
        """Queue the latest live figures of one flow or probe of the test `identity`."""
        grouping = self.grouping(identity)

        def build() -> Sequence[Sample]:
            latest = self._live.setdefault(grouping, _Live()).figures
            latest[(figures.kind, figures.name)] = figures
            return live_samples(latest.values())

        self._put(_Push(grouping, build, False))

    def _put(self, push: _Push) -> None:
        try:
            self._queue.put_nowait(push)
        except queue.Full:
            with self._counting:  # measuring threads and the main thread both get here
                self.tally.dropped += 1

    def _run(self) -> None:
        while True:
            push = self._queue.get()
            try:
                if push is None:
                    return
                self._send(push)
            finally:
                self._queue.task_done()

    def _send(self, push: _Push) -> None:
        self.tally.attempted += 1
        try:
            samples = push.build()
            if push.replace:
                self._live.pop(push.grouping, None)  # the test ended: its live series go
            client.push(
                self.gateway.url,
                self.gateway.job,
                push.grouping,
                samples,
                replace=push.replace,
                timeout=self.timeout,
                handler=self._handler,
            )
        except Exception as error:
            self.tally.failed += 1
            self._last_failed = True
            self.tally.first_error = self.tally.first_error or _one_line(error)
        else:
            self._last_failed = False

    def close(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait for queued pushes while they arrive, at most `timeout` s; once the gateway
        fails (or answers nothing for a push's timeout), what is queued is dropped.

        A push still hanging at the end is counted as failed; the thread (a daemon) is left
        to its own timeout.
        """
        deadline = time.monotonic() + timeout
        sent, progressed = self.tally.attempted, time.monotonic()
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            if self.tally.attempted != sent:
                sent, progressed = self.tally.attempted, time.monotonic()
            if self._last_failed or time.monotonic() - progressed > self.timeout + 1.0:
                self._drop_queued()
            time.sleep(0.005)
        self._drop_queued()
        if self._queue.unfinished_tasks:
            self.tally.failed += 1
            self.tally.first_error = self.tally.first_error or (
                f"no answer within {self.timeout:g} s at the end of the run"
            )
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def _drop_queued(self) -> None:
        """Drop what waits in the queue (not the push being sent), counting it."""
        with self._queue.mutex:
            left = len(self._queue.queue)
            self._queue.queue.clear()
            self._queue.unfinished_tasks -= left
        with self._counting:
            self.tally.dropped += left

    def problem(self) -> str:
        """The run's one line about pushes that did not arrive ('' when all did)."""
        return problem_line(self.tally, self.gateway.url)


def problem_line(tally: Tally, url: str) -> str:
    """'' when every push arrived, else one line saying how many did not, and why."""
    lost = tally.failed + tally.dropped
    if not lost:
        return ""
    total = tally.attempted + tally.dropped
    why = f": {tally.first_error}" if tally.first_error else " (queue full)"
    return (
        f"pytest-qos: --qos-prometheus: {lost} of {total} pushes to {url} did not arrive{why}; "
        "test verdicts are unchanged"
    )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]
