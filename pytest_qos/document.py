"""The results document (--qos-json, baselines): every result in base units, written whole."""

from __future__ import annotations

import json
import os
import platform
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .results import QosResult

SCHEMA_VERSION = 1


def environment(iperf3_version: str | None = None) -> dict[str, Any]:
    """Where and when the results were measured."""
    return {
        "host": socket.gethostname(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "iperf3": iperf3_version,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def build_document(results: Iterable[QosResult], env: dict[str, Any]) -> dict[str, Any]:
    """`{"version": 1, "environment": {...}, "results": [...]}`."""
    return {
        "version": SCHEMA_VERSION,
        "environment": env,
        "results": [result.to_json() for result in results],
    }


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write a results document as indented JSON, atomically."""
    write_atomically(path, json.dumps(document, indent=2, sort_keys=False) + "\n")
