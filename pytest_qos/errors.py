"""Errors the measuring library raises; each carries one line a user can act on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' — did you mean 'x'?' for the closest choice (case ignored), or ''."""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.5)
    return f" — did you mean '{by_lower[close[0]]}'?" if close else ""


def check_key(key: str, known: Sequence[str], what: str) -> None:
    """An InputError naming an unknown `what` key, the closest known one, and all of them."""
    if key not in known:
        raise InputError(
            f"unknown {what} key '{key}'{did_you_mean(key, known)} (known: {', '.join(known)})",
            key=key,
        )


class QosError(Exception):
    """Base of every error pytest-qos raises on purpose."""


class InputError(QosError, ValueError):
    """A value a user wrote is wrong; `key` names where, the message says what is right."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ScenarioError(QosError):
    """A scenario file is wrong at a given file, line and key path."""

    def __init__(self, path: str, line: int | None, key: str | None, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ToolMissingError(QosError):
    """A program the measurement needs is not installed."""


class MeasurementError(QosError):
    """A measurement ran but failed; `command` reproduces it."""

    def __init__(self, message: str, command: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.command = list(command)

    def __str__(self) -> str:
        return self.message


class MeasurementTimeout(MeasurementError):
    """A tool did not finish within its hard timeout and was killed."""
