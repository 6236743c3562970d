"""The results document (--qos-json, baselines): every result in base units, written whole."""

from __future__ import annotations

import json
import math
import platform
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import QosError
from ..results import QosResult
from .output import write_output

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


def build_document(
    results: Iterable[QosResult], env: dict[str, Any], incomplete: str = ""
) -> dict[str, Any]:
    """`{"version": 1, "complete": true, "environment": {...}, "results": [...]}`.

    `incomplete` says why a run is not whole (interrupted, tests that never reported);
    such a document carries `"complete": false` and that reason, and is no baseline.
    """
    return {
        "version": SCHEMA_VERSION,
        "complete": not incomplete,
        **({"incomplete": incomplete} if incomplete else {}),
        "environment": env,
        "results": [result.to_json() for result in results],
    }


def to_json(document: dict[str, Any]) -> str:
    """Strict JSON: a NaN or infinity (which JSON cannot hold) is an error naming where."""
    try:
        return json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except ValueError:
        raise QosError(f"the results hold a number JSON cannot: {_non_finite(document)}") from None


def _non_finite(node: Any, where: str = "") -> str:
    if isinstance(node, float) and not math.isfinite(node):
        return f"{where or 'the document'} is {node}"
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in children:
        found = _non_finite(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return ""


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write a results document as indented, strict JSON (store.output: atomically over a
    regular file, straight into a FIFO or a device)."""
    write_output(path, to_json(document))
