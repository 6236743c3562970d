"""A live terminal line while a long measurement runs: test, elapsed/total, latest value."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

Update = Callable[[str], None]
MIN_SECONDS = 2.0  # shorter measurements finish before a line would help
REDRAW_SECONDS = 0.5


def ignore_progress(latest: str) -> None:
    """Progress is off: drop updates."""


class Progress:
    """Draws one self-overwriting line below pytest's own; `write=None` turns it off."""

    def __init__(
        self,
        write: Callable[[str], None] | None,
        width: int = 80,
        column: Callable[[], int] = lambda: 0,
    ) -> None:
        self.write = write
        self.width = width
        self.column = column  # where pytest's current line ends, to return there afterwards

    @contextlib.contextmanager
    def measuring(self, label: str, total: float) -> Iterator[Update]:
        """Show progress of a `total`-second measurement; yields `update(latest_text)`."""
        write = self.write
        if write is None or total <= MIN_SECONDS:
            yield ignore_progress
            return
        latest = [""]
        started = time.monotonic()
        stop = threading.Event()

        def line() -> str:
            elapsed = min(time.monotonic() - started, total)
            text = f"{label}  {elapsed:4.0f}/{total:.0f} s  {latest[0]}"
            return "\r" + text[: self.width - 1].ljust(self.width - 1)

        def redraw() -> None:
            while not stop.wait(REDRAW_SECONDS):
                write(line())

        def update(text: str) -> None:
            latest[0] = text

        column = self.column()
        write("\n")
        thread = threading.Thread(target=redraw, name="qos-progress", daemon=True)
        thread.start()
        try:
            yield update
        finally:
            stop.set()
            thread.join(timeout=2 * REDRAW_SECONDS)
            # Erase the line, go back up to the end of pytest's line (ANSI: TTY only).
            write("\r\x1b[2K\x1b[1A\r" + (f"\x1b[{column}C" if column else ""))
