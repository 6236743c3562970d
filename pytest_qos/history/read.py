"""Reading the history back: every run file checked, anything unreadable skipped with one note.

A missing or empty directory, files that are not runs, a truncated or hand-edited document, or
one written by a newer pytest-qos never stop a trend page: each is one note, and the runs
that are whole are read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.document import SCHEMA_VERSION
from .store import NAME, NAME_HELP, history_files


class BadDocument(ValueError):
    """A history file that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True)
class Run:
    """One stored run: where it sits in the history and who it was."""

    index: int  # 0 for the oldest run read
    name: str  # the file's name without .json: sorts by time, unique
    time: str
    commit: str = ""
    branch: str = ""
    run_id: str = ""
    host: str = ""
    router_config: str = ""  # the file name of the run's --qos-router-config, if it named one
    router_sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        """The run as the trend JSON lists it."""
        return {
            "index": self.index,
            "run": self.name,
            "time": self.time,
            **{k: v for k, v in (("commit", self.commit), ("branch", self.branch)) if v},
            **{k: v for k, v in (("run_id", self.run_id), ("host", self.host)) if v},
            **({"router_config": self.router_config} if self.router_config else {}),
            **({"router_sha256": self.router_sha256} if self.router_sha256 else {}),
        }

    @property
    def label(self) -> str:
        """'run 12 (2026-01-05T12:00:00Z, 1a2b3c4)': how the page names a run."""
        extra = ", ".join(v for v in (self.time, self.commit[:7], self.run_id) if v)
        return f"run {self.index} ({extra})" if extra else f"run {self.index}"


@dataclass
class History:
    """What reading a directory gave: notes on every file skipped."""

    directory: Path
    notes: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def _refuse_constant(name: str) -> float:
    raise BadDocument(f"holds {name}, which is no measurement")


def load_document(path: Path) -> dict[str, Any]:
    """A history file's document, checked; BadDocument says why it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BadDocument(f"cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise BadDocument("is not UTF-8 text") from None
    if not text.strip():
        raise BadDocument("is empty")
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise BadDocument(f"is not valid JSON (truncated?): {error}") from None
    check_document(document)
    return document  # type: ignore[no-any-return]


def check_document(document: Any) -> None:
    """Raise BadDocument unless `document` is a complete run this version can read."""
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise BadDocument("is not a pytest-qos results document (no 'results' list)")
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise BadDocument(
            f"was written by a newer pytest-qos (document version {version}; this one reads "
            f"{SCHEMA_VERSION}): upgrade pytest-qos to read it"
        )
    if version != SCHEMA_VERSION:
        raise BadDocument(f"has document version {version!r}, not {SCHEMA_VERSION}")
    if document.get("complete", True) is not True:
        raise BadDocument("is from an incomplete run")
    for index, result in enumerate(document["results"]):
        _check_result(result, f"results[{index}]")


def _check_result(result: Any, where: str) -> None:
    if not isinstance(result, dict):
        raise BadDocument(f"{where} is not an object")
    if not isinstance(result.get("test"), str) or not result["test"]:
        raise BadDocument(f"{where}.test is missing or not a string")
    metrics = result.get("metrics", {})
    if not isinstance(metrics, dict):
        raise BadDocument(f"{where}.metrics is not an object")
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadDocument(f"{where}.metrics.{name} is {json.dumps(value)[:40]}, not a number")
        if not math.isfinite(value):
            raise BadDocument(f"{where}.metrics.{name} is not a finite number")
    for key in ("bounds", "measurements", "loads"):
        items = result.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise BadDocument(f"{where}.{key} is not a list of objects")


def _run(index: int, path: Path, document: Mapping[str, Any]) -> Run:
    identity = document.get("run")
    identity = identity if isinstance(identity, dict) else {}
    environment = document.get("environment")
    environment = environment if isinstance(environment, dict) else {}

    def text(key: str, fallback: Any = "") -> str:
        value = identity.get(key, fallback)
        return value if isinstance(value, str) else ""

    config = identity.get("router_config")
    config = config if isinstance(config, dict) else {}
    router, digest = config.get("path"), config.get("sha256")
    return Run(
        index=index,
        name=path.name[: -len(".json")],
        time=text("time", environment.get("time", "")),
        commit=text("commit"),
        branch=text("branch"),
        run_id=text("run_id"),
        host=text("host", environment.get("host", "")),
        router_config=Path(router).name if isinstance(router, str) else "",
        router_sha256=digest if isinstance(digest, str) else "",
    )


def foreign_notes(directory: Path) -> list[str]:
    """One note per entry of the directory that is no run file (or why there is nothing)."""
    if not directory.exists():
        return [f"{directory}: no such directory; no runs to read"]
    if not directory.is_dir():
        return [f"{directory}: not a directory; no runs to read"]
    notes = [
        f"{path}: not a history run file (names are {NAME_HELP}); skipped"
        for path in sorted(directory.iterdir())
        if not (NAME.match(path.name) and path.is_file())
    ]
    if not history_files(directory):
        notes.append(f"{directory}: no runs stored yet (pytest --qos --qos-history={directory})")
    return notes


def read_runs(
    history: History, newest: int | None = None
) -> Iterator[tuple[Run, list[dict[str, Any]]]]:
    """Each readable run (oldest first) with its results, one document in memory at a time.

    `newest` reads only the newest N files. Runs are numbered in the order read; every file
    skipped adds one note to `history.notes`.
    """
    history.notes += foreign_notes(history.directory)
    files = history_files(history.directory)
    for path in files[-newest:] if newest else files:
        try:
            document = load_document(path)
        except BadDocument as error:
            history.notes.append(f"{path}: {error}; skipped")
            continue
        run = _run(len(history.runs), path, document)
        history.runs.append(run)
        yield run, document["results"]
