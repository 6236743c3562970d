"""Which series a result's metrics belong to: its test and the settings that measured it.

A test's settings are read back from the commands its measurements ran (`iperf3 -t 2 -P 4
-C cubic`, `probe --kind udp --interval 0.02 --count 50`), with what changes from run to run
without changing what is measured taken out: namespaces and ssh in front of the tool, the
executable's path, ports, bind addresses, output formats. A router config and the bounds are
not part of it: they are what a history is kept to show the effect of.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Options whose values differ from run to run (ports, lifetimes) or that only change how the
# result is delivered (JSON, flushing): neither changes what is measured.
_RUN_SPECIFIC_VALUES = frozenset(
    {"-p", "--port", "--cport", "-B", "--bind", "--connect-timeout", "--lifetime", "--logfile"}
)
_PLUMBING_FLAGS = frozenset(
    {"-J", "--json", "--json-stream", "--get-server-output", "--forceflush"}
)
_PACKAGE = "pytest_qos"


def tool_arguments(command: Sequence[str]) -> list[str]:
    """The settings a command measured with: from the tool on, run-specific parts left out."""
    start = _tool_start(command)
    if start is None:
        return []
    kept: list[str] = [os.path.basename(command[start])]
    skip = False
    for token in command[start + 1 :]:
        if skip:
            skip = False
        elif token in _RUN_SPECIFIC_VALUES:
            skip = True
        elif token not in _PLUMBING_FLAGS:
            kept.append(token)
    return kept


def _tool_start(command: Sequence[str]) -> int | None:
    """Where the measuring tool's own argv starts (past `ip netns exec NS`, `ssh HOST`)."""
    for index, token in enumerate(command):
        if "iperf3" in token and os.path.basename(token).startswith("iperf3"):
            return index
        if token == _PACKAGE and index + 1 < len(command):
            return index + 1  # `python -m pytest_qos probe …`: from the subcommand on
    return None


def _commands(measurement: Mapping[str, Any]) -> list[list[str]]:
    """The commands a measurement ran: each named flow's (details.parts), else its own."""
    details = measurement.get("details")
    parts = details.get("parts") if isinstance(details, Mapping) else None
    commands = [p.get("command") for p in parts if isinstance(p, Mapping)] if parts else []
    found = [c for c in commands if isinstance(c, list)] or [measurement.get("command") or []]
    return [tool_arguments([str(token) for token in command]) for command in found]


def _name(measurement: Mapping[str, Any]) -> str:
    details = measurement.get("details")
    return str(details.get("name", "")) if isinstance(details, Mapping) else ""


def settings(result: Mapping[str, Any]) -> list[tuple[str, str, str, list[list[str]]]]:
    """What a result measured with: each measurement's and load's tool, label, name, argv."""
    return [
        (role, str(m.get("tool", "")), f"{m.get('label', '')}/{_name(m)}", _commands(m))
        for role in ("measurements", "loads")
        for m in _dicts(result.get(role))
    ]


def _dicts(items: Any) -> Iterable[Mapping[str, Any]]:
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def series_identity(result: Mapping[str, Any]) -> str:
    """A short hash of a result's test id and settings: equal exactly when they are equal."""
    words = [str(result.get("test"))]
    for role, tool, names, commands in settings(result):
        words += [role, tool, names, *("\x1f".join(argv) for argv in commands)]
    return hashlib.sha256("\x1e".join(words).encode()).hexdigest()[:12]


def describe_settings(result: Mapping[str, Any]) -> str:
    """The settings in words for the trend page: 'iperf3 -c 198.18.2.2 -t 2 -P 4; load: …'."""
    words = [
        f"{'load: ' if role == 'loads' else ''}{' '.join(argv)}"
        for role, _, _, commands in settings(result)
        for argv in commands
        if argv
    ]
    return "; ".join(words) or "(no command)"
