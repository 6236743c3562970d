"""Reproduce lines: the shell lines that run a measurement again, where it ran."""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence

from ..results import Measurement

SERVER_WAIT = 1  # seconds for servers started in the background to listen before clients


def reproduce_lines(measurement: Measurement, loads: Sequence[Measurement] = ()) -> list[str]:
    """Servers in the background (each ends by itself), the load, then the measuring command.

    Each line names where it runs (`ip netns exec NS ...`, `ssh HOST ...`): pasted into a
    shell elsewhere it fails instead of sending traffic out of another interface.
    """
    if not measurement.command:
        return []
    loads = [load for load in loads if load.command]
    lines = [f"{shlex.join(argv)} >/dev/null &" for m in (*loads, measurement) for argv in m.setup]
    if lines:
        lines.append(f"sleep {SERVER_WAIT}")
    lines += [f"{shlex.join(load.command)} >/dev/null &" for load in loads]
    if loads:
        # As in the run: the load had this long to settle before the measurement began.
        settle = measurement.started - min(load.started for load in loads)
        lines.append(f"sleep {max(1, math.ceil(settle - 0.05))}")
    return [*lines, shlex.join(measurement.command)]


def reproduce_text(
    measurement: Measurement, loads: Sequence[Measurement] = (), indent: str = "  "
) -> str:
    """'reproduce (tool)[, requirement]:' and its lines, indented ('' without a command)."""
    lines = reproduce_lines(measurement, loads)
    if not lines:
        return ""
    needs = f", {measurement.requires}" if measurement.requires else ""
    body = "\n".join(indent + line for line in lines)
    return f"reproduce ({measurement.tool}){needs}:\n{body}"


def reproduce_together(measurements: Sequence[Measurement], indent: str = "  ") -> str:
    """Named concurrent flows (and probes) as one block: all servers, then all clients at once.

    Each client's output goes to NAME.json (or N.json); `wait` returns when the last ends.
    """
    measured = [m for m in measurements if m.command]
    if not measured:
        return ""
    lines = [f"{shlex.join(argv)} >/dev/null &" for m in measured for argv in m.setup]
    if lines:
        lines.append(f"sleep {SERVER_WAIT}")
    for index, measurement in enumerate(measured, 1):
        name = str(measurement.details.get("name") or index)
        lines.append(f"{shlex.join(measurement.command)} >{shlex.quote(name + '.json')} &")
    lines.append("wait")
    needs = f", {measured[0].requires}" if measured[0].requires else ""
    body = "\n".join(indent + line for line in lines)
    return f"reproduce ({len(measured)} at once, each into NAME.json){needs}:\n{body}"
