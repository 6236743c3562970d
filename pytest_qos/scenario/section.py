"""What every reader of a scenario section shares: the file's line map and its error helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import InputError, ScenarioError, did_you_mean
from ..yamldoc import KeyPath, LocatedYaml

T = TypeVar("T")


class Section:
    """Reads one part of a scenario file; each error at the line yamldoc found for its key."""

    def __init__(self, document: LocatedYaml) -> None:
        self.document = document
        self.lines = document.lines

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        """A ScenarioError at the line of `path` (or of its nearest ancestor)."""
        return self.document.error(path, message)

    def guard(self, path: KeyPath, action: Callable[[], T]) -> T:
        """Run `action`, turning an InputError into a ScenarioError at `path` (+ its key)."""
        try:
            return action()
        except InputError as error:
            where = (*path, *error.key.split(".")) if error.key else path
            if error.key and (*path, error.key) in self.lines:
                where = (*path, error.key)  # a key with dots in it: a metric name
            raise self.error(where, error.message) from None

    def mapping(self, value: Any, path: KeyPath, what: str) -> dict[str, Any]:
        """`value` as a mapping with string keys, or an error saying what was expected."""
        if not isinstance(value, dict):
            raise self.error(
                path, f"{what} must be a mapping (key: value lines), got {describe(value)}"
            )
        return {str(key): item for key, item in value.items()}

    def known_keys(
        self, data: dict[str, Any], known: tuple[str, ...], path: KeyPath, where: str
    ) -> None:
        """Reject unknown keys with a did-you-mean."""
        for key in data:
            if key not in known:
                raise self.error(
                    (*path, key),
                    f"unknown key '{key}' in {where}"
                    f"{did_you_mean(key, known)} (known: {', '.join(known)})",
                )

    def line(self, path: KeyPath) -> int:
        """The line `path` is written at (1 when unknown)."""
        return self.lines.get(path, 1)


def describe(value: Any) -> str:
    """What a user wrote, in words: 'nothing', 'a list', "the text 'x'", 'int 3'."""
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"{type(value).__name__} {value!r}"
