"""The userspace delay line's processes in a lab's WAN hop: start, watch, stop, keep.

One process per direction (`delayline.py`), each with its log and its statistics file in
the lab's state directory, STATE_DIRECTORY/<lab id>/. They die with this process (PDEATHSIG,
and they watch their parent); a kept lab (`--qos-keep-lab`) gets detached ones instead,
which run until `python -m pytest_qos lab remove` stops them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import MeasurementError, QosError
from ..hosts.endpoints import TREE_VARIABLE, Endpoint, Process, wait_until
from ..results import Measurement
from ..units import Kind, format_value
from .wan import WanSpec, delay_line_command

WAYS = ("up", "down")
STATE_DIRECTORY = Path("/run/pytest-qos/wan")  # per lab: statistics, and a kept lab's logs
KEPT_MARK = "kept"  # a file in a lab's state directory: the lab outlives its owner on purpose
DELAY_LINE_TIMEOUT = 5.0  # s: the delay line binds its sockets in ~30 ms
ENGINE = "auto"  # 'auto' (c where it was built, else python), 'c' or 'python'
_LAB_ID = re.compile(r"^qos-(?P<pid>\d+)-\d+$")
# The most frames per second each engine carried in one direction without falling behind its
# tolerance (wanview.py records it per machine), and what it carried on the project's 2-core
# machine (benchmarks/bench_wan.py, 64-byte frames: p99 lateness under 1 ms, nothing dropped).
CARRIED = STATE_DIRECTORY / "carried.json"
CARRIED_HERE = {"c": 60_000.0, "python": 40_000.0}  # frames/s
FULL_FRAME = 1514  # bytes: a full-sized Ethernet frame, as a rate limit counts it


class DelayLineError(QosError):
    """The userspace delay line did not start; `output` is what it printed."""

    def __init__(self, message: str, output: str, command: list[str]) -> None:
        super().__init__(message)
        self.output = output
        self.command = command


class WanEmulationError(MeasurementError):
    """The WAN emulation failed during a test: it fell behind, or one of its processes died.

    The test's figures are then not the WAN's: an error, not a pass or a QoS failure.
    `measurements` holds what the delay line counted, for the test's result.
    """

    def __init__(self, message: str, measurements: Sequence[Measurement] = ()) -> None:
        super().__init__(message)
        self.measurements = list(measurements)


class WanRateWarning(UserWarning):
    """A `wan.rate` beyond what the userspace delay line has carried on this machine."""


def carried(engine: str) -> tuple[float, str]:
    """Frames/s `engine` has carried without falling behind, and where that figure is from:
    this machine's record when it beats the figure measured on the project's machine."""
    measured = CARRIED_HERE.get(engine, 0.0), "on the project's 2-core machine"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        record = json.loads(CARRIED.read_text())[engine]
        best = float(record["frames_per_second"])
        if best > measured[0]:
            return best, f"on this machine ({record['when']})"
    return measured


def record_carried(engine: str, frames_per_second: float) -> None:
    """Raise `engine`'s record to `frames_per_second` if that is more (atomic rewrite)."""
    with contextlib.suppress(OSError, ValueError):
        try:
            records = json.loads(CARRIED.read_text())
        except (OSError, ValueError):
            records = {}
        best = records.get(engine, {}).get("frames_per_second", 0.0)
        if frames_per_second <= best:
            return
        records[engine] = {
            "frames_per_second": round(frames_per_second),
            "when": time.strftime("%Y-%m-%d"),
        }
        CARRIED.parent.mkdir(parents=True, exist_ok=True)
        temporary = CARRIED.with_suffix(f".{os.getpid()}")
        temporary.write_text(json.dumps(records))
        temporary.replace(CARRIED)


def warn_beyond_carried(wan: WanSpec, engine: str) -> None:
    """Warn (WanRateWarning) when a link's rate asks for more frames/s than `engine` carried."""
    best, where = carried(engine)
    for way, link in (("up", wan.up), ("down", wan.down)):
        if not link.rate or not best:
            continue
        frames = link.rate / (FULL_FRAME * 8)
        if frames > best:
            warnings.warn(
                WanRateWarning(
                    f"wan.rate {format_value(link.rate, Kind.RATE)} ({way}) is "
                    f"{frames:,.0f} full-sized frames/s, beyond the {best:,.0f} frames/s the "
                    f"userspace delay line ({engine} engine) has carried {where}: a test it "
                    "cannot keep up with is an error (WAN delay line overloaded), not a figure"
                ),
                stacklevel=2,
            )


def sweep_stale_state(owner_alive: Callable[[int], bool]) -> None:
    """Remove the state directories of labs whose owner died, unless kept on purpose."""
    with contextlib.suppress(OSError):
        for entry in STATE_DIRECTORY.iterdir():
            match = _LAB_ID.match(entry.name)
            if match and not owner_alive(int(match["pid"])) and not (entry / KEPT_MARK).exists():
                shutil.rmtree(entry, ignore_errors=True)


def process_start(pid: int) -> int | None:
    """The start time of process `pid` (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])  # field 22 of stat(5), counted after the command's ')'


def end_recorded(processes: list[dict[str, Any]]) -> list[int]:
    """SIGTERM, then SIGKILL, each recorded process that is still the one recorded."""
    ended = []
    for record in processes:
        pid = int(record.get("pid", 0))
        if pid > 0 and process_start(pid) == record.get("start"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
                ended.append(pid)
    wait_until(lambda: not any(process_start(pid) for pid in ended), 2.0, 0.01)
    for pid in ended:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return ended


def kept_record(mark: Path) -> dict[str, Any]:
    """What a kept lab's mark records (namespaces, processes); {} for an empty (older) mark."""
    try:
        data = json.loads(mark.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def forget_kept(mark: Path) -> int:
    """End the processes a kept lab's mark records and remove the lab's state; how many ended."""
    processes = [item for item in kept_record(mark).get("processes", []) if isinstance(item, dict)]
    ended = end_recorded(processes)
    shutil.rmtree(STATE_DIRECTORY / mark.name, ignore_errors=True)
    return len(ended)


def _exit_words(returncode: int | None) -> str:
    if returncode is None:
        return "is running"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


class DelayLines:
    """One lab's delay-line processes, their logs and statistics files."""

    def __init__(self) -> None:
        self.state: Path | None = None  # STATE_DIRECTORY/<lab id>, once started
        self.wan: WanSpec | None = None
        self.running: list[tuple[str, Process, IO[str]]] = []  # (way, process, log)
        self.engine = ""  # 'c' or 'python', once they said ready
        self.kept = False

    def stats_path(self, way: str) -> Path:
        """Where direction `way` keeps its statistics block."""
        assert self.state is not None, "the delay lines have not been started"
        return self.state / f"{way}.stats"

    def start(self, hop: Endpoint, wan: WanSpec, engine: str | None = None) -> None:
        """Start both directions in `hop` (a lab's `qos-<pid>-<n>-wan` namespace); on two
        cores neither waits while the other sends."""
        self.state = STATE_DIRECTORY / hop.name.rsplit("-", 1)[0]  # the lab's id
        self.state.mkdir(parents=True, exist_ok=True)
        self.wan = wan
        for way in WAYS:
            # Closed in close(): it outlives this method, so no `with`.
            log = tempfile.TemporaryFile("w+", prefix="qos-delayline-")  # noqa: SIM115
            argv = delay_line_command(wan, way, self.stats_path(way), engine=engine or ENGINE)
            self.running.append((way, hop.spawn(argv, stdout=log, stderr=log), log))

    @staticmethod
    def _output(log: IO[str]) -> str:
        log.seek(0)
        return log.read()

    def wait_ready(self) -> None:
        """Until each says 'ready'; DelayLineError with its output if one died or hung."""
        for _way, line, log in self.running:
            ready = wait_until(
                lambda: not line.alive() or "ready" in self._output(log),  # noqa: B023
                DELAY_LINE_TIMEOUT,
                0.002,
            )
            said = self._output(log)
            if not ready or not line.alive():
                said = said.strip() or "no output"
                raise DelayLineError(f"the WAN delay line did not start: {said}", said, line.argv)
            engine = re.search(r"ready engine=(\w+)", said)
            self.engine = engine.group(1) if engine else "python"
        if self.wan is not None:
            warn_beyond_carried(self.wan, self.engine)

    def dead(self) -> list[str]:
        """'up (pid 123) was killed by SIGKILL' for each direction whose process ended."""
        found = []
        for way, line, log in self.running:
            if not line.alive():
                last = self._output(log).strip().splitlines()
                said = f": {last[-1]}" if last and last[-1].startswith("error") else ""
                found.append(f"{way} (pid {line.pid}) {_exit_words(line.returncode)}{said}")
        return found

    def explain(self, cause: QosError | None = None) -> QosError | None:
        """A WanEmulationError naming each direction that died (with `cause`, the test's own
        error, which followed from it); `cause` itself when none did."""
        dead = self.dead()
        if not dead or isinstance(cause, WanEmulationError):
            return cause  # nothing died, or the cause already says so
        said = f"; the test's own error followed from it: {cause}" if cause is not None else ""
        return WanEmulationError(
            f"WAN delay line died: {'; '.join(dead)} — the WAN hop forwards nothing in that "
            f"direction, so this test's figures are not the WAN's{said}"
        )

    def report(self) -> str:
        """What they printed (their counters and lateness, once stopped)."""
        return "\n".join(self._output(log).strip() for _way, _line, log in self.running)

    def stop(self, grace: float) -> None:
        """Stop them (SIGTERM: each prints its counters)."""
        for _way, line, _log in self.running:
            line.stop(grace=grace)

    def keep(self, hop: Endpoint) -> list[dict[str, Any]]:
        """Replace the lines, which die with this process, by detached ones; their records.

        The detached lines run until SIGTERM (`python -m pytest_qos lab remove`); each
        record says which process it is (pid and start time), its log and statistics.
        """
        if not self.running or self.wan is None or self.state is None:
            return []
        self.stop(grace=2.0)
        (self.state / KEPT_MARK).touch()
        self.kept = True
        environment = {k: v for k, v in os.environ.items() if k != TREE_VARIABLE}
        logs = []
        for way in WAYS:
            argv = delay_line_command(
                self.wan, way, self.stats_path(way), engine=self.engine or ENGINE, parent=False
            )
            log = self.state / f"{way}.log"
            with open(log, "w") as output:
                # setsid --fork: the line's parent is init at once, never this process.
                subprocess.run(
                    ["setsid", "--fork", *hop.command(argv)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    timeout=DELAY_LINE_TIMEOUT,
                    check=False,
                )
            logs.append((way, log))
        return [self._kept_record(way, log) for way, log in logs]

    def _kept_record(self, way: str, log: Path) -> dict[str, Any]:
        """Wait until a detached line is ready, then say which process it is."""
        wait_until(lambda: "ready" in log.read_text(errors="replace"), DELAY_LINE_TIMEOUT, 0.005)
        stats = self.stats_path(way)
        pid = 0
        with contextlib.suppress(OSError):
            pid = int.from_bytes(stats.read_bytes()[16:24], "little")  # the block's pid word
        return {
            "role": f"WAN delay line {way}",
            "pid": pid,
            "start": process_start(pid) if pid else None,
            "log": str(log),
            "stats": str(stats),
        }

    def close(self) -> None:
        """Reap them (the lab's teardown has killed them with their namespace), drop the logs."""
        self.stop(grace=0.5)
        for _way, _line, log in self.running:
            log.close()
        if self.state is not None and not self.kept:
            shutil.rmtree(self.state, ignore_errors=True)
