"""Storing and loading baselines: a run's results document under .qos/NAME.json."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, did_you_mean
from ..results import QosResult
from ..yamldoc import dotted
from .document import SCHEMA_VERSION, expand_texts, to_json, write_atomically
from .validate import MAX_PROBLEMS, depth_line, line_of, problems

DEFAULT_DIRECTORY = ".qos"
SUFFIX = ".json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
MAX_DEPTH = 100  # nesting reported for a document too deep to read


def check_name(name: str, key: str = "--qos-save") -> str:
    """A baseline name safe as a file name ('main', 'v1.2', 'pr-42'), or an InputError."""
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not _NAME.fullmatch(name):  # not match(): "$" lets "main\n" through
        raise InputError(
            f"baseline name {name!r} is not usable as a file name; use letters, digits, "
            "'.', '_', '+' or '-', starting with a letter or digit (e.g. 'main' or 'v1.2')",
            key=key,
        )
    return name


def baseline_path(name: str, directory: Path | str = DEFAULT_DIRECTORY) -> Path:
    """Where the baseline called `name` lives: DIRECTORY/NAME.json."""
    return Path(directory) / f"{check_name(name)}{SUFFIX}"


def save_baseline(
    document: Mapping[str, Any], name: str, directory: Path | str = DEFAULT_DIRECTORY
) -> Path:
    """Store a --qos-json document as baseline `name`, atomically; return its path."""
    if not isinstance(document.get("results"), list):
        raise InputError("a baseline is a results document with a 'results' list", key="--qos-save")
    path = baseline_path(name, directory)
    text = to_json(dict(document))
    try:
        # A temporary file renamed over the old one: a killed run leaves the old baseline whole.
        write_atomically(path, text)
    except OSError as error:
        raise InputError(
            f"cannot write baseline {path}: {error.strerror or error}; "
            "choose a writable directory with --qos-save-dir",
            key="--qos-save",
        ) from None
    return path


def list_baselines(directory: Path | str = DEFAULT_DIRECTORY) -> list[str]:
    """Names of the baselines stored in `directory` (temporary files of a killed save excluded)."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(
        path.name[: -len(SUFFIX)]
        for path in folder.iterdir()
        if path.name.endswith(SUFFIX) and not path.name.startswith(".") and path.is_file()
    )


class BaselineMissing(InputError):
    """The named baseline does not exist (yet): a first run, or a misspelt name."""


def resolve_baseline(name_or_path: str, directory: Path | str = DEFAULT_DIRECTORY) -> Path:
    """A --qos-compare value as a file: a path when it names one, else DIRECTORY/NAME.json."""
    text = name_or_path.strip()
    if not text:
        raise InputError(
            "--qos-compare needs a baseline name (e.g. 'main') or a path to a results JSON file",
            key="--qos-compare",
        )
    as_path = Path(text)
    if os.sep in text or "/" in text or text.endswith(SUFFIX):
        if not as_path.is_file():
            raise BaselineMissing(f"no baseline file at {text}", key="--qos-compare")
        return as_path
    path = Path(directory) / f"{text}{SUFFIX}"
    if not path.is_file():
        known = list_baselines(directory)
        listing = f"stored: {', '.join(known)}" if known else "none is stored there yet"
        raise BaselineMissing(
            f"no baseline '{text}' in {directory}{did_you_mean(text, known)} ({listing}); "
            f"save one with --qos-save={text}",
            key="--qos-compare",
        )
    return path


def load_baseline(
    name_or_path: str, directory: Path | str = DEFAULT_DIRECTORY
) -> dict[str, QosResult]:
    """A stored run's results by test id; clear errors for a missing, corrupt or newer file."""
    path = resolve_baseline(name_or_path, directory)
    return results_by_test(expand_texts(read_document(path)))


def read_document(path: Path) -> dict[str, Any]:
    """The results document at `path`, validated against its schema (results.schema.json):
    each problem one line with the file's line and the key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"cannot read baseline {path}: {error.strerror}", "--qos-compare"
        ) from None
    except UnicodeDecodeError as error:
        raise _bad(path, f"is not UTF-8 text ({error.reason} at byte {error.start})") from None
    document = _parse(path, text)
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise InputError(
            f"baseline {path} is not a pytest-qos results document "
            "(expected {'version': 1, 'results': [...]}, as --qos-json writes)",
            key="--qos-compare",
        )
    version = document.get("version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InputError(
            f"baseline {path} has schema version {version!r}; this pytest-qos reads "
            f"version {SCHEMA_VERSION}: save the baseline again with this version",
            key="--qos-compare",
        )
    if document.get("complete", True) is not True:
        why = document.get("incomplete") or "no reason given"
        raise InputError(
            f"baseline {path} is from an incomplete run ({why}); compare with a complete "
            "run's results (--qos-save stores only complete runs)",
            key="--qos-compare",
        )
    found = problems(document)
    if found:
        lines = [
            f"  {path}:{line_of(text, problem.path) or '?'}: {dotted(problem.path)}: "
            f"{problem.message}"
            for problem in found
        ]
        count = f"{len(found)}{'+' if len(found) >= MAX_PROBLEMS else ''}"
        plural = "" if len(found) == 1 else "s"
        raise InputError(
            f"baseline {path} is not a valid results document ({count} problem{plural}; see "
            "results.schema.json); save it again with --qos-save or fix it:\n" + "\n".join(lines),
            key="--qos-compare",
        )
    return document


def _parse(path: Path, text: str) -> Any:
    """JSON `text`, or one line saying what is wrong with it and where."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise _bad(path, f"is not valid JSON ({error})") from None
    except _NotANumber as error:  # NaN or Infinity: never a value to compare with
        raise InputError(
            f"baseline {path} holds {error}, which is no measurement; save it again with "
            "--qos-save",
            key="--qos-compare",
        ) from None
    except ValueError as error:  # an integer past Python's digit limit
        raise _bad(path, f"is not usable JSON ({error})") from None
    except RecursionError:
        line = depth_line(text, MAX_DEPTH)
        raise _bad(
            path,
            f"nests more than {MAX_DEPTH} levels deep (line {line}); a results document "
            "nests about 6",
        ) from None


def _bad(path: Path, what: str) -> InputError:
    return InputError(f"baseline {path} {what}; save it again with --qos-save", key="--qos-compare")


class _NotANumber(ValueError):
    """NaN or Infinity in a document."""


def _refuse_constant(name: str) -> float:
    raise _NotANumber(name)


def results_by_test(document: Mapping[str, Any]) -> dict[str, QosResult]:
    """Rebuild every result of a document, keyed by pytest node id."""
    results: dict[str, QosResult] = {}
    for index, entry in enumerate(document.get("results", [])):
        try:
            result = QosResult.from_json(entry)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InputError(
                f"baseline result #{index + 1} is malformed (missing or bad field {error})",
                key="--qos-compare",
            ) from None
        results[result.test] = result
    return results
