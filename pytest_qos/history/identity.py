"""Which series a result's metrics belong to: its test and the settings that measured it.

A test's settings are read back from the commands its measurements ran (`iperf3 -t 2 -P 4
-C cubic`, `probe --kind udp --interval 0.02 --count 50`), with what changes from run to run
without changing what is measured taken out: namespaces and ssh in front of the tool, the
executable's path, ports, bind addresses, output formats. A router config and the bounds are
not part of it: they are what a history is kept to show the effect of.
"""

from __future__ import annotations

import hashlib
import json
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
        if os.path.basename(token).startswith("iperf3"):
            return index
        if token == _PACKAGE and index + 1 < len(command):
            return index + 1  # `python -m pytest_qos probe …`: from the subcommand on
    return None


def _part_settings(measurement: Mapping[str, Any]) -> list[Any]:
    details = measurement.get("details")
    details = details if isinstance(details, Mapping) else {}
    parts = details.get("parts")
    commands = [part.get("command") for part in parts] if isinstance(parts, list) else []
    commands = [c for c in commands if isinstance(c, list)] or [measurement.get("command") or []]
    return [
        str(measurement.get("tool", "")),
        str(measurement.get("label", "")),
        str(details.get("name", "")),
        [tool_arguments([str(token) for token in command]) for command in commands],
    ]


def settings(result: Mapping[str, Any]) -> list[Any]:
    """What a result measured with: each measurement's and each load's tool and arguments."""
    return [
        [_part_settings(m) for m in _dicts(result.get("measurements"))],
        [_part_settings(m) for m in _dicts(result.get("loads"))],
    ]


def _dicts(items: Any) -> Iterable[Mapping[str, Any]]:
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def series_identity(result: Mapping[str, Any]) -> str:
    """A short hash of a result's test id and settings: equal exactly when they are equal."""
    text = json.dumps([result.get("test"), settings(result)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def describe_settings(result: Mapping[str, Any]) -> str:
    """The settings in words for the trend page: 'iperf3 -c 198.18.2.2 -t 2 -P 4; load: …'."""
    measured, loads = settings(result)
    words = [" ".join(args) for part in measured for args in part[3] if args]
    words += [f"load: {' '.join(args)}" for part in loads for args in part[3] if args]
    return "; ".join(words) or "(no command)"
