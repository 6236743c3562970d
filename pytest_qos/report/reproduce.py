"""Reproduce lines: the shell lines that run a measurement again, where it ran."""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence

from ..results import Measurement, QosResult

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
    return _block(_heading(measurement.tool, measurement), lines, indent)


def reproduce_together(measurements: Sequence[Measurement], indent: str = "  ") -> str:
    """Named concurrent flows (and probes) as one block: all servers, then all clients at once.

    Each client's output goes to NAME.json (or N.json); `wait` returns when the last ends.
    """
    blocks = _together(measurements)
    return _block(*blocks[0], indent) if blocks else ""


def reproduce_blocks(result: QosResult) -> list[tuple[str, list[str]]]:
    """(heading, shell lines) of each block that measures `result` again, as it ran.

    Named flows ran at once over one window: so do their lines (one block). Otherwise each
    measurement has its own block, its background load started first. Every report (terminal,
    HTML) renders these same blocks.
    """
    if result.window is not None:
        return _together(result.measurements)
    blocks = []
    for measurement in result.measurements:
        lines = reproduce_lines(measurement, result.loads)
        if lines:
            blocks.append((_heading(measurement.tool, measurement), lines))
    return blocks


def reproduce_result(result: QosResult, indent: str = "  ") -> str:
    """Every block of reproduce_blocks() as text, a blank line between blocks ('' if none)."""
    return "\n\n".join(
        _block(heading, lines, indent) for heading, lines in reproduce_blocks(result)
    )


def _together(measurements: Sequence[Measurement]) -> list[tuple[str, list[str]]]:
    measured = [m for m in measurements if m.command]
    if not measured:
        return []
    lines = [f"{shlex.join(argv)} >/dev/null &" for m in measured for argv in m.setup]
    if lines:
        lines.append(f"sleep {SERVER_WAIT}")
    for index, measurement in enumerate(measured, 1):
        name = str(measurement.details.get("name") or index)
        lines.append(f"{shlex.join(measurement.command)} >{shlex.quote(name + '.json')} &")
    lines.append("wait")
    return [(_heading(f"{len(measured)} at once, each into NAME.json", measured[0]), lines)]


def _heading(what: str, measurement: Measurement) -> str:
    needs = f", {measurement.requires}" if measurement.requires else ""
    return f"reproduce ({what}){needs}:"


def _block(heading: str, lines: Sequence[str], indent: str) -> str:
    return heading + "".join(f"\n{indent}{line}" for line in lines)
