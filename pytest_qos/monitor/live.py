"""The live observer (measure/live.py's seam) of a monitored run: each interval to the pusher."""

from __future__ import annotations

from ..measure.live import LiveFigures
from .names import Labels
from .pusher import Pusher


class LivePusher:
    """Receives live figures on measuring threads and only queues them (pusher.py)."""

    def __init__(self, pusher: Pusher, every: float) -> None:
        self.pusher = pusher
        self.every = every
        self.identity: Labels | None = None  # the running test's grouping labels

    def interval(self, figures: LiveFigures) -> None:
        """Queue one interval's figures for the running test (dropped between tests)."""
        identity = self.identity
        if identity is not None:
            self.pusher.live(identity, figures)
